package tokenize

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzEncodePair feeds arbitrary strings to the BERT and RoBERTa pair encoders with small
// windows. It must never panic; every error must be one of the documented ones; offsets must
// lie inside the original strings, agree between characters and bytes, and never go backwards
// within a sequence of a window.
//
//	go test ./data/tokenize -run '^$' -fuzz FuzzEncodePair -fuzztime 60s
func FuzzEncodePair(f *testing.F) {
	seeds := [][2]string{
		{"What is the capital of France?", "Paris is the capital of France."},
		{"", ""},
		{" ", "\t\n"},
		{"  leading spaces?", "a\n\nb x \u00a0y Wow!!!!! LVIII"},
		{"İstanbul Ⱥ ß ﬁ", "cafe\u0301 Nội \u1112\u1161\u11ab ﾊﾟ"},
		{"[CLS] <s>", "In BERT, [CLS] starts [SEP] <mask> </s> <unk> [MASK]"},
		{"emoji", "👩‍👩‍👧 🇫🇷 1️⃣ 🏴󠁧󠁢󠁳󠁣󠁴󠁿"},
		{"ctl", "\x00\x07\x1b\u200b\ufeff\u00ad\u2028\u2029\u0085\ue000\U000f0000\r\n"},
		{"rtl", "\u202eabc\u202c مرحبا שלום"},
		{"bad utf8", "\xff\xfe"},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1])
	}
	bert := fixtureTokenizer(f, "bert-base-uncased")
	rob := fixtureTokenizer(f, "roberta-base")
	opt := PairOptions{MaxLength: 48, Stride: 8}
	f.Fuzz(func(t *testing.T, q, c string) {
		// Besides the raw input (often invalid UTF-8, which must be rejected), encode its
		// repaired form and a string of arbitrary code points spelled by its bytes, so that the
		// whole of Unicode is exercised and not only what byte mutations happen to produce.
		inputs := [][2]string{{q, c},
			{strings.ToValidUTF8(q, "\uFFFD"), strings.ToValidUTF8(c, "\uFFFD")},
			{codePoints(q), codePoints(c)}}
		for _, in := range inputs {
			for _, tok := range []*Tokenizer{bert, rob} {
				encs, err := tok.EncodePair(in[0], in[1], opt)
				if err != nil {
					if errors.Is(err, ErrQuestionTooLong) || errors.Is(err, ErrInvalidUTF8) {
						continue
					}
					t.Fatalf("%v: unexpected error %v", tok.Kind(), err)
				}
				if !utf8.ValidString(in[0]) || !utf8.ValidString(in[1]) {
					t.Fatalf("%v: invalid UTF-8 accepted", tok.Kind())
				}
				for k, e := range encs {
					checkOffsets(t, e, in, k)
				}
			}
		}
	})
}

// codePoints reads s as little-endian 3-byte numbers and turns each into a valid code point
// (surrogates are shifted out of their range), biased towards spaces so words stay short.
func codePoints(s string) string {
	var b strings.Builder
	for i := 0; i+2 < len(s); i += 3 {
		r := (rune(s[i]) | rune(s[i+1])<<8 | rune(s[i+2])<<16) % (unicode.MaxRune + 1)
		if r >= 0xD800 && r <= 0xDFFF {
			r -= 0x800
		}
		if s[i]%7 == 0 {
			r = ' '
		}
		b.WriteRune(r)
	}
	return b.String()
}

func checkOffsets(t *testing.T, e Encoding, texts [2]string, window int) {
	t.Helper()
	n := len(e.IDs)
	if len(e.Offsets) != n || len(e.ByteOffsets) != n || len(e.SequenceIDs) != n || len(e.Tokens) != n || len(e.Mask) != n {
		t.Fatalf("window %d: field lengths differ", window)
	}
	var last [2][2]int
	seen := [2]bool{}
	for i, s := range e.SequenceIDs {
		o, b := e.Offsets[i], e.ByteOffsets[i]
		if s < 0 {
			if o != ([2]int{}) || b != ([2]int{}) {
				t.Fatalf("window %d token %d: special token with offsets %v", window, i, o)
			}
			continue
		}
		text := texts[s]
		if b[0] < 0 || b[0] > b[1] || b[1] > len(text) || !utf8.RuneStart(byteAt(text, b[0])) || !utf8.RuneStart(byteAt(text, b[1])) {
			t.Fatalf("window %d token %d %q: byte offsets %v outside %d bytes", window, i, e.Tokens[i], b, len(text))
		}
		if o[0] != utf8.RuneCountInString(text[:b[0]]) || o[1] != utf8.RuneCountInString(text[:b[1]]) {
			t.Fatalf("window %d token %d %q: char offsets %v disagree with byte offsets %v", window, i, e.Tokens[i], o, b)
		}
		if seen[s] && (o[0] < last[s][0] || o[1] < last[s][1]) {
			t.Fatalf("window %d token %d %q: offsets %v go back from %v", window, i, e.Tokens[i], o, last[s])
		}
		last[s], seen[s] = o, true
	}
}

// byteAt returns s[i], or a rune-start byte at the end of s.
func byteAt(s string, i int) byte {
	if i >= len(s) {
		return 0
	}
	return s[i]
}
