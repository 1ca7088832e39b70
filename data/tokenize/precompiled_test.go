package tokenize

import (
	"path/filepath"
	"testing"
	"unicode/utf8"

	"github.com/spanqa/spanqa/internal/fixtures"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// normalizeReference is the Precompiled normaliser written as HF writes it: build the whole list
// of (char, change) transformations, then replay it. The streaming normalize must equal it.
func (cm *precompiledCharsmap) normalizeReference(t *ugText, sc *ugScratch) {
	var ts []ugTransform
	// appendReplace is HF's replace helper: extra characters are inserted, and a removal is
	// charged to the last transformation recorded (if any).
	appendReplace := func(oldChars int, repl string) {
		newChars := 0
		for _, r := range repl {
			ts = append(ts, ugTransform{r: r})
			newChars++
		}
		switch diff := newChars - oldChars; {
		case diff > 0:
			for i := len(ts) - diff; i < len(ts); i++ {
				ts[i].change = 1
			}
		case diff < 0:
			if len(ts) > 0 {
				ts[len(ts)-1].change += diff
			}
		}
	}
	s := t.b
	modified := false
	for i := 0; i < len(s); {
		end := graphemeEnd(s, i)
		if end-i < 6 {
			if repl, ok := cm.lookup(string(s[i:end])); ok {
				modified = true
				appendReplace(utf8.RuneCount(s[i:end]), repl)
				i = end
				continue
			}
		}
		for i < end {
			r, size := utf8.DecodeRune(s[i:])
			if repl, ok := cm.lookup(string(s[i : i+size])); ok {
				modified = true
				appendReplace(1, repl)
			} else {
				ts = append(ts, ugTransform{r: r})
			}
			i += size
		}
	}
	if modified {
		t.transform(ts, sc)
	}
}

func debertaCharsmap(t testing.TB) *precompiledCharsmap {
	t.Helper()
	enc, _ := loadDebertaEncoders(t)
	for _, st := range enc.norm {
		if p, ok := st.(ugPrecompiled); ok {
			return p.cm
		}
	}
	t.Fatal("the DeBERTa encoder has no Precompiled normaliser")
	return nil
}

// normalizeBoth runs both implementations of the Precompiled normaliser on s.
func normalizeBoth(cm *precompiledCharsmap, s string) (stream, ref ugText) {
	var sc1, sc2 ugScratch
	sc1.text.reset(s)
	cm.normalize(&sc1.text, &sc1)
	sc2.text.reset(s)
	cm.normalizeReference(&sc2.text, &sc2)
	return sc1.text, sc2.text
}

func TestPrecompiledRules(t *testing.T) {
	cm := debertaCharsmap(t)
	for _, c := range []struct{ in, want string }{
		{"abc", "abc"},
		{"ﬁ", "fi"},
		{"™", "TM"},
		{"Ｈｅｌｌｏ", "Hello"},
		{"\u3000", " "},
		{"e\u0301", "é"},     // one grapheme, composed
		{"ﾊﾟ", "ハ\u309a"},    // 6-byte grapheme: per character, not composed
		{"a\x00b", "a\x00b"}, // the trie search stops at NUL
	} {
		got, ref := normalizeBoth(cm, c.in)
		assert.Equal(t, c.want, string(got.b), "normalize(%q)", c.in)
		assert.Equal(t, ref, got, "streaming and reference differ on %q", c.in)
	}
}

// TestPrecompiledStreamingMatchesReference compares the two implementations on every golden
// input and on inputs built to hit HF's alignment quirks.
func TestPrecompiledStreamingMatchesReference(t *testing.T) {
	cm := debertaCharsmap(t)
	inputs := []string{"\x07™\x1eg", "\x07\x07ab", "™\x1e\x1e\x1eg", "…\u200b", "\r\n", "a\r\nb", "ﬁ\u0301x", "\x07"}
	pairs := fixtures.ReadJSONL[qaPair](t, filepath.Join(fixtures.Tokenizers(t), "pairs.jsonl"))
	for _, p := range pairs {
		inputs = append(inputs, p.Question, p.Context)
	}
	for _, in := range inputs {
		got, ref := normalizeBoth(cm, in)
		require.Equal(t, string(ref.b), string(got.b), "text of %q", in)
		require.Equal(t, ref.align, got.align, "alignments of %q", in)
	}
}

func FuzzPrecompiledStreaming(f *testing.F) {
	for _, s := range []string{"\x07™\x1eg", "e\u0301\r\n", "ﾊﾟ", "👩‍👩‍👧🇫🇷", "\u0600a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cm := debertaCharsmap(t)
		got, ref := normalizeBoth(cm, s)
		if string(got.b) != string(ref.b) {
			t.Fatalf("%q: streaming %q, reference %q", s, got.b, ref.b)
		}
		for i := range got.align {
			if got.align[i] != ref.align[i] {
				t.Fatalf("%q: alignment %d: streaming %v, reference %v", s, i, got.align[i], ref.align[i])
			}
		}
	})
}

// TestGraphemeClusters checks cluster boundaries on the cases UAX #29 singles out. (The class
// table was also compared, code point by code point, with Perl's Unicode 14 GCB data.)
func TestGraphemeClusters(t *testing.T) {
	split := func(s string) []string {
		var out []string
		for i := 0; i < len(s); {
			e := graphemeEnd([]byte(s), i)
			out = append(out, s[i:e])
			i = e
		}
		return out
	}
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"ab", []string{"a", "b"}},
		{"\r\n\n\r", []string{"\r\n", "\n", "\r"}},
		{"e\u0301\u0308x", []string{"e\u0301\u0308", "x"}},
		{"\x07\u0301", []string{"\x07", "\u0301"}},                                         // nothing extends a control
		{"\u1100\u1161\u11a8\uac00\u11a8", []string{"\u1100\u1161\u11a8", "\uac00\u11a8"}}, // jamo, LV+T
		{"👩\u200d👩\u200d👧x", []string{"👩\u200d👩\u200d👧", "x"}},                             // ZWJ sequence (GB11)
		{"a\u200d👧", []string{"a\u200d", "👧"}},                                             // ZWJ joins only after a pictograph
		{"🇫🇷🇩🇪🇮", []string{"🇫🇷", "🇩🇪", "🇮"}},                                               // regional indicator pairs
		{"\u0600\u0661", []string{"\u0600\u0661"}},                                         // prepend
		{"क\u093f", []string{"क\u093f"}},                                                   // spacing mark
		{"ﾊﾟ", []string{"ﾊﾟ"}},                                                             // U+FF9F is Extend
		{"1\ufe0f\u20e3", []string{"1\ufe0f\u20e3"}},
	} {
		assert.Equal(t, c.want, split(c.in), "%q", c.in)
	}
}
