package tokenize

import "unicode"

// Character classes as Hugging Face's Rust tokenizers define them. They are spelled out here
// because Rust's char methods, the unicode_categories crate and Oniguruma each draw the lines a
// little differently from Go's unicode helpers (for example Go's unicode.IsPunct has no ASCII
// symbols, while BERT's punctuation test does).

// isSpace reports Rust's char::is_whitespace: the Unicode White_Space property.
func isSpace(r rune) bool {
	if r < 0x80 {
		return r == ' ' || (r >= '\t' && r <= '\r')
	}
	return unicode.Is(unicode.White_Space, r)
}

// isBertControl is BertNormalizer's control test: general categories Cc, Cf and Co (as of
// Unicode 8.0, see unicode8.go), except tab, newline and carriage return (which are
// whitespace). Unassigned code points are kept.
func isBertControl(r rune) bool {
	if r == '\t' || r == '\n' || r == '\r' {
		return false
	}
	if r < 0x80 {
		return r < 0x20 || r == 0x7f
	}
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co) && !unicode.Is(controlSince9, r)
}

// isBertPunct is BertPreTokenizer's punctuation test: any ASCII punctuation or symbol
// character, or any character of a Unicode punctuation category (P*, as of Unicode 8.0).
// Non-ASCII symbols such as "€" are not punctuation.
func isBertPunct(r rune) bool {
	if r < 0x80 {
		return (r >= '!' && r <= '/') || (r >= ':' && r <= '@') || (r >= '[' && r <= '`') || (r >= '{' && r <= '~')
	}
	if unicode.IsPunct(r) {
		return !unicode.Is(punctSince9, r)
	}
	return r == 0x166D || r == 0x111C9
}

// isCJK reports the CJK ideograph blocks that BertNormalizer surrounds with spaces
// (handle_chinese_chars). Hangul, kana and CJK punctuation are not included, as in BERT.
func isCJK(r rune) bool {
	switch {
	case r >= 0x4E00 && r <= 0x9FFF,
		r >= 0x3400 && r <= 0x4DBF,
		r >= 0x20000 && r <= 0x2A6DF,
		r >= 0x2A700 && r <= 0x2B73F,
		r >= 0x2B740 && r <= 0x2B81F,
		r >= 0x2B920 && r <= 0x2CEAF,
		r >= 0xF900 && r <= 0xFAFF,
		r >= 0x2F800 && r <= 0x2FA1F:
		return true
	}
	return false
}

// isNonspacingMark is the accent test of strip_accents: general category Mn (as of Unicode 8.0).
func isNonspacingMark(r rune) bool {
	if r < 0x300 {
		return false
	}
	if unicode.Is(unicode.Mn, r) {
		return !unicode.Is(nonspacingSince9, r)
	}
	return r == 0x1734
}

// isWordChar approximates the regex \w that HF uses for single_word added tokens.
func isWordChar(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r) || unicode.Is(unicode.Pc, r)
}
