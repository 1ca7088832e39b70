package tokenize

import "unicode/utf8"

// runeCursor converts between byte and character (code point) offsets of one valid UTF-8
// string. Token offsets arrive nearly in order, so it walks from its last position instead of
// building a table for every text; walking backwards is as cheap as forwards.
type runeCursor struct {
	s     string
	ascii bool
	b, c  int // a byte offset and its character offset
}

func newRuneCursor(s string) runeCursor { return runeCursor{s: s, ascii: isASCII(s)} }

// char returns the character offset of byte offset b (a character boundary).
func (rc *runeCursor) char(b int) int {
	if rc.ascii {
		return b
	}
	switch {
	case b >= rc.b:
		rc.c += utf8.RuneCountInString(rc.s[rc.b:b])
	default:
		rc.c -= utf8.RuneCountInString(rc.s[b:rc.b])
	}
	rc.b = b
	return rc.c
}

// byteAt returns the byte offset of character offset c.
func (rc *runeCursor) byteAt(c int) int {
	if rc.ascii {
		return c
	}
	for rc.c < c && rc.b < len(rc.s) {
		_, size := utf8.DecodeRuneInString(rc.s[rc.b:])
		rc.b += size
		rc.c++
	}
	for rc.c > c && rc.b > 0 {
		_, size := utf8.DecodeLastRuneInString(rc.s[:rc.b])
		rc.b -= size
		rc.c--
	}
	return rc.b
}

// trimOffsets is RobertaProcessing's trim_offsets (HF's ByteLevel process_offsets), applied to
// the character offsets of one sequence: a token's leading and trailing spaces ('Ġ' or real
// whitespace) are removed from its span, so "Ġword" starts at "w" and a lone "Ġ" becomes empty.
// With addPrefixSpace the single space of the first token is kept, since the tokenizer added it.
func trimOffsets(pieces []piece, offs [][2]int, addPrefixSpace bool) {
	for i, p := range pieces {
		lead, trail := countSpaces(p.Text)
		if lead == 0 && trail == 0 {
			continue
		}
		o := &offs[i]
		if lead > 0 {
			isFirst := i == 0 || o[0] == 0
			if isFirst && addPrefixSpace && lead == 1 {
				lead = 0
			}
			o[0] = min(o[0]+lead, o[1])
		}
		if trail > 0 && o[1] >= trail {
			o[1] = max(o[1]-trail, o[0])
		}
	}
}

// countSpaces counts the leading and trailing characters of tok that are 'Ġ' (a byte-level
// space) or whitespace. A token made only of spaces counts fully both ways, as in HF.
func countSpaces(tok string) (lead, trail int) {
	for _, r := range tok {
		if r != 'Ġ' && !isSpace(r) {
			break
		}
		lead++
	}
	for s := tok; s != ""; {
		r, size := utf8.DecodeLastRuneInString(s)
		if r != 'Ġ' && !isSpace(r) {
			break
		}
		trail++
		s = s[:len(s)-size]
	}
	return lead, trail
}
