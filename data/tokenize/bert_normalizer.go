package tokenize

import (
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// span is a [start,end) byte range of the original text.
type span struct{ start, end int32 }

// normalized is a normalised text together with, for every normalised byte, the span of the
// original character it came from. This is how HF's NormalizedString keeps its alignments, and
// it is what lets token offsets point into the original text: a token's offsets run from the
// start of its first byte's original character to the end of its last byte's.
type normalized struct {
	text   []byte
	origin []span
}

func (n *normalized) reset() {
	n.text = n.text[:0]
	n.origin = n.origin[:0]
}

func (n *normalized) appendRune(r rune, sp span) {
	if r < utf8.RuneSelf {
		n.text = append(n.text, byte(r))
		n.origin = append(n.origin, sp)
		return
	}
	k := len(n.text)
	n.text = utf8.AppendRune(n.text, r)
	for ; k < len(n.text); k++ {
		n.origin = append(n.origin, sp)
	}
}

// originOf maps the normalised byte range [a,b) (b > a) to the original span it came from.
func (n *normalized) originOf(a, b int) (int, int) {
	return int(n.origin[a].start), int(n.origin[b-1].end)
}

// bertNormalizer is HF's BertNormalizer. Its steps run in HF's order, each on the output of the
// previous one: clean_text, handle_chinese_chars, strip_accents, lowercase.
type bertNormalizer struct {
	cleanText     bool // drop NUL, U+FFFD and control characters; map whitespace to ' '
	handleChinese bool // surround CJK ideographs with spaces so each becomes its own word
	stripAccents  bool // NFD, then drop nonspacing marks (HF: null means "same as lowercase")
	lowercase     bool
}

// normalize writes the normalised form of seg, with alignments, into out.
func (bn *bertNormalizer) normalize(seg string, out *normalized) {
	out.reset()
	for i := 0; i < len(seg); {
		c := seg[i]
		if c < utf8.RuneSelf {
			// ASCII fast path: only control removal, whitespace mapping and case change apply.
			sp := span{int32(i), int32(i + 1)}
			i++
			if bn.cleanText {
				if c == 0 || isBertControl(rune(c)) {
					continue
				}
				if isSpace(rune(c)) {
					c = ' '
				}
			}
			if bn.lowercase && c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			out.text = append(out.text, c)
			out.origin = append(out.origin, sp)
			continue
		}
		r, size := utf8.DecodeRuneInString(seg[i:])
		sp := span{int32(i), int32(i + size)}
		i += size
		bn.normalizeRune(r, sp, out)
	}
}

// normalizeRune applies the normaliser to one non-ASCII original character. Every output
// character is aligned to that original character, as HF aligns characters a transformation
// inserts with the character they replace.
func (bn *bertNormalizer) normalizeRune(r rune, sp span, out *normalized) {
	if bn.cleanText {
		if r == utf8.RuneError || isBertControl(r) {
			return
		}
		if isSpace(r) {
			r = ' '
		}
	}
	cjk := bn.handleChinese && isCJK(r)
	if cjk {
		out.appendRune(' ', sp)
	}
	if bn.stripAccents {
		var enc [utf8.UTFMax]byte
		n := utf8.EncodeRune(enc[:], r)
		if norm.NFD.IsNormal(enc[:n]) {
			if !isNonspacingMark(r) {
				bn.appendLower(r, sp, out)
			}
		} else {
			var dec [4 * utf8.UTFMax * 4]byte
			d := norm.NFD.Append(dec[:0], enc[:n]...)
			for len(d) > 0 {
				dr, ds := utf8.DecodeRune(d)
				d = d[ds:]
				if !isNonspacingMark(dr) {
					bn.appendLower(dr, sp, out)
				}
			}
		}
	} else {
		bn.appendLower(r, sp, out)
	}
	if cjk {
		out.appendRune(' ', sp)
	}
}

// appendLower appends r, lower-cased when configured. Rust's char::to_lowercase uses the full
// case mapping, which differs from Go's simple mapping only for U+0130 (İ → i + U+0307).
func (bn *bertNormalizer) appendLower(r rune, sp span, out *normalized) {
	if !bn.lowercase {
		out.appendRune(r, sp)
		return
	}
	if r == 'İ' {
		out.appendRune('i', sp)
		out.appendRune('\u0307', sp)
		return
	}
	out.appendRune(unicode.ToLower(r), sp)
}

// bertPreTokenize splits normalised text the way BertPreTokenizer does: whitespace separates
// words and is dropped, and every punctuation character is a word of its own. It calls word
// with the normalised byte range of each word, in order.
func bertPreTokenize(text []byte, word func(a, b int)) {
	start := -1
	for i := 0; i < len(text); {
		c := text[i]
		var r rune
		size := 1
		if c < utf8.RuneSelf {
			r = rune(c)
		} else {
			r, size = utf8.DecodeRune(text[i:])
		}
		switch {
		case isSpace(r):
			if start >= 0 {
				word(start, i)
				start = -1
			}
		case isBertPunct(r):
			if start >= 0 {
				word(start, i)
				start = -1
			}
			word(i, i+size)
		default:
			if start < 0 {
				start = i
			}
		}
		i += size
	}
	if start >= 0 {
		word(start, len(text))
	}
}
