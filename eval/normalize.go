package eval

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// This file reproduces, character for character, the text normalisation of the official SQuAD
// evaluation scripts (normalize_answer in evaluate-v1.1.py and evaluate-v2.0.py), which run on
// Python 3 str objects:
//
//	white_space_fix(remove_articles(remove_punc(lower(s))))
//
// Each Python building block has its own Go function below, because the Go standard library
// differs from Python in every one of them:
//
//   - str.lower() applies the full Unicode lowercase mapping (U+0130 becomes two code points) and
//     the Final_Sigma rule; Go's strings.ToLower uses the simple mapping only.
//   - string.punctuation is the 32 ASCII punctuation characters; nothing else is removed.
//   - re.sub(r'\b(a|an|the)\b', ' ', text) uses Unicode word boundaries on str patterns (a word
//     character is a Unicode letter or number, or '_'); Go's regexp \b is ASCII-only, so a
//     combining mark or a non-ASCII letter next to "the" would change the result.
//   - str.split() splits on Python's whitespace set, which includes U+001C..U+001F; Go's
//     unicode.IsSpace does not.
//
// Unicode tables: the golden outputs come from Python 3.11, which uses Unicode 14.0; Go's unicode
// package is at 15.0. The 4,489 code points that 15.0 assigned are unassigned for Python 3.11
// (neither word characters nor cased nor case-ignorable), so they are excluded here by
// unicode15Additions; none of them has a case mapping. With that, pyLower, isPySpace and isPyWord
// agree with Python 3.11 on every code point (checked exhaustively when this was written).

// NormalizeAnswer returns the official SQuAD normalisation of s: lower case, ASCII punctuation
// removed, the words a/an/the removed, whitespace runs collapsed to one space and trimmed.
func NormalizeAnswer(s string) string {
	return strings.Join(pySplit(removeArticles(removePunctuation(pyLower(s)))), " ")
}

// answerTokens returns normalize_answer(s).split(), the token list both F1 scores count.
func answerTokens(s string) []string {
	return pySplit(removeArticles(removePunctuation(pyLower(s))))
}

// isPyPunctuation reports whether r is in Python's string.punctuation
// (!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~).
func isPyPunctuation(r rune) bool {
	return r < utf8.RuneSelf && (r >= '!' && r <= '/' || r >= ':' && r <= '@' || r >= '[' && r <= '`' || r >= '{' && r <= '~')
}

// removePunctuation drops every character of string.punctuation.
func removePunctuation(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if !isPyPunctuation(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// isPySpace reports whether Python's str.isspace() holds for r (the set str.split() splits on):
// bidirectional class WS, B or S, or general category Zs.
func isPySpace(r rune) bool {
	switch {
	case r >= 0x09 && r <= 0x0D, r >= 0x1C && r <= 0x20:
		return true
	case r < 0x80:
		return false
	}
	switch r {
	case 0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
		return true
	}
	return r >= 0x2000 && r <= 0x200A
}

// pySplit is Python's str.split() without arguments: the non-empty runs between whitespace.
func pySplit(s string) []string {
	var out []string
	start := -1
	for i, r := range s {
		if isPySpace(r) {
			if start >= 0 {
				out = append(out, s[start:i])
				start = -1
			}
		} else if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		out = append(out, s[start:])
	}
	return out
}

// isPyWord reports whether r is a word character for Python's re module on str patterns
// (str.isalnum() or '_'): Unicode letters (Lu, Ll, Lt, Lm, Lo), numbers (Nd, Nl, No) and '_'.
// Combining marks are not word characters.
func isPyWord(r rune) bool {
	if r < utf8.RuneSelf {
		return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_'
	}
	return (unicode.IsLetter(r) || unicode.IsNumber(r)) && !unicode.Is(unicode15Additions, r)
}

// removeArticles is re.sub(r'\b(a|an|the)\b', ' ', s) with Python 3's Unicode word boundaries.
// Every alternative consists of word characters only, so a match is exactly a maximal run of word
// characters that equals "a", "an" or "the"; each such run is replaced by one space.
func removeArticles(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	i := 0
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		if !isPyWord(r) {
			b.WriteString(s[i : i+size])
			i += size
			continue
		}
		j := i + size
		for j < len(s) {
			r2, size2 := utf8.DecodeRuneInString(s[j:])
			if !isPyWord(r2) {
				break
			}
			j += size2
		}
		switch s[i:j] {
		case "a", "an", "the":
			b.WriteByte(' ')
		default:
			b.WriteString(s[i:j])
		}
		i = j
	}
	return b.String()
}

// pyLower is Python 3's str.lower(): the full Unicode lowercase mapping (SpecialCasing's only
// unconditional entry maps U+0130 to "i\u0307") plus the Final_Sigma rule for U+03A3, and the
// simple mapping for everything else.
func pyLower(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToLower(s)
	}
	rs := []rune(s)
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i, r := range rs {
		switch r {
		case 0x130:
			b.WriteString("i\u0307")
		case 0x3A3:
			if finalSigma(rs, i) {
				b.WriteRune(0x3C2)
			} else {
				b.WriteRune(0x3C3)
			}
		default:
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// finalSigma evaluates Unicode's Final_Sigma condition for the capital sigma at rs[i] as CPython
// does: a cased letter before it (skipping case-ignorable characters) and no cased letter after it
// (skipping case-ignorable characters).
func finalSigma(rs []rune, i int) bool {
	j := i - 1
	for j >= 0 && isCaseIgnorable(rs[j]) {
		j--
	}
	if j < 0 || !isCased(rs[j]) {
		return false
	}
	j = i + 1
	for j < len(rs) && isCaseIgnorable(rs[j]) {
		j++
	}
	return j == len(rs) || !isCased(rs[j])
}

// isCased is Unicode's Cased property: Lowercase, Uppercase or Lt.
func isCased(r rune) bool {
	return unicode.In(r, unicode.Lu, unicode.Ll, unicode.Lt, unicode.Other_Lowercase, unicode.Other_Uppercase) &&
		!unicode.Is(unicode15Additions, r)
}

// isCaseIgnorable is Unicode's Case_Ignorable property: Mn, Me, Cf, Lm, Sk, or Word_Break
// MidLetter, MidNumLet or Single_Quote.
func isCaseIgnorable(r rune) bool {
	switch r {
	case '\'', '.', ':', 0xB7, 0x387, 0x55F, 0x5F4, 0x2018, 0x2019, 0x2024, 0x2027,
		0xFE13, 0xFE52, 0xFE55, 0xFF07, 0xFF0E, 0xFF1A:
		return true
	}
	return unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf, unicode.Lm, unicode.Sk) && !unicode.Is(unicode15Additions, r)
}

// unicode15Additions are the code points assigned by Unicode 15.0, unassigned in Python 3.11's
// Unicode 14.0 database.
var unicode15Additions = &unicode.RangeTable{
	R16: []unicode.Range16{
		{0x0CF3, 0x0CF3, 1},
		{0x0ECE, 0x0ECE, 1},
	},
	R32: []unicode.Range32{
		{0x10EFD, 0x10EFF, 1},
		{0x1123F, 0x11241, 1},
		{0x11B00, 0x11B09, 1},
		{0x11F00, 0x11F10, 1},
		{0x11F12, 0x11F3A, 1},
		{0x11F3E, 0x11F59, 1},
		{0x1342F, 0x1342F, 1},
		{0x13439, 0x13455, 1},
		{0x1B132, 0x1B132, 1},
		{0x1B155, 0x1B155, 1},
		{0x1D2C0, 0x1D2D3, 1},
		{0x1DF25, 0x1DF2A, 1},
		{0x1E030, 0x1E06D, 1},
		{0x1E08F, 0x1E08F, 1},
		{0x1E4D0, 0x1E4F9, 1},
		{0x1F6DC, 0x1F6DC, 1},
		{0x1F774, 0x1F776, 1},
		{0x1F77B, 0x1F77F, 1},
		{0x1F7D9, 0x1F7D9, 1},
		{0x1FA75, 0x1FA77, 1},
		{0x1FA87, 0x1FA88, 1},
		{0x1FAAD, 0x1FAAF, 1},
		{0x1FABB, 0x1FABD, 1},
		{0x1FABF, 0x1FABF, 1},
		{0x1FACE, 0x1FACF, 1},
		{0x1FADA, 0x1FADB, 1},
		{0x1FAE8, 0x1FAE8, 1},
		{0x1FAF7, 0x1FAF8, 1},
		{0x2B739, 0x2B739, 1},
		{0x31350, 0x323AF, 1},
	},
}
