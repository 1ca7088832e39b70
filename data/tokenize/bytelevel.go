package tokenize

import (
	"sync"
	"unicode"
	"unicode/utf8"
)

// byteToRune is GPT-2's reversible byte -> printable character map: the printable bytes
// ('!'..'~', '¡'..'¬', '®'..'ÿ') stand for themselves and the other 68 bytes are shifted to
// U+0100 onwards, so that a space becomes 'Ġ' and a newline 'Ċ'.
var byteToRune = func() (m [256]rune) {
	next := rune(256)
	for b := 0; b < 256; b++ {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			m[b] = rune(b)
		} else {
			m[b] = next
			next++
		}
	}
	return m
}()

// byteLevelString is the byte-level spelling of raw bytes, as stored in the vocabulary.
func byteLevelString(raw []byte) string {
	out := make([]byte, 0, 2*len(raw))
	for _, b := range raw {
		out = utf8.AppendRune(out, byteToRune[b])
	}
	return string(out)
}

// Character classes of GPT-2's split pattern.
const (
	clsLetter = iota // \p{L}
	clsNumber        // \p{N}
	clsSpace         // \s (Unicode White_Space, as in Oniguruma)
	clsOther         // anything else
)

// asciiClass caches the class of every ASCII character.
var asciiClass = func() (t [utf8.RuneSelf]uint8) {
	for r := rune(0); r < utf8.RuneSelf; r++ {
		t[r] = uint8(classOf(r))
	}
	return t
}()

func classOf(r rune) int {
	switch {
	case isSpace(r):
		return clsSpace
	case unicode.IsLetter(r):
		return clsLetter
	case unicode.IsNumber(r):
		return clsNumber
	}
	return clsOther
}

// runeClassAt decodes the character at s[i:] and returns its class and byte length.
func runeClassAt(s string, i int) (rune, int, int) {
	c := s[i]
	if c < utf8.RuneSelf {
		return rune(c), int(asciiClass[c]), 1
	}
	r, size := utf8.DecodeRuneInString(s[i:])
	return r, classOf(r), size
}

// gpt2Split finds the pre-tokens of GPT-2's pattern
//
//	's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// and calls fn with the byte range of each, in order. Go's regexp has no lookahead, so the
// pattern is matched by hand. The alternatives are tried in order at each position, as a
// backtracking engine does; together they cover every character, so there are no gaps.
func gpt2Split(s string, fn func(a, b int)) {
	for i := 0; i < len(s); {
		r, cls, size := runeClassAt(s, i)
		// 's 't 're 've 'm 'll 'd (case-sensitive, as in GPT-2).
		if r == '\'' {
			if n := contractionLen(s[i+1:]); n > 0 {
				fn(i, i+1+n)
				i += 1 + n
				continue
			}
		}
		// ' ?\p{L}+', ' ?\p{N}+' and ' ?[^\s\p{L}\p{N}]+': a run of one class, optionally led by
		// one ASCII space.
		if r == ' ' && i+1 < len(s) {
			if _, c2, s2 := runeClassAt(s, i+1); c2 != clsSpace {
				end := classRunEnd(s, i+1+s2, c2)
				fn(i, end)
				i = end
				continue
			}
		}
		if cls != clsSpace {
			end := classRunEnd(s, i+size, cls)
			fn(i, end)
			i = end
			continue
		}
		// '\s+(?!\S)' then '\s+': a whitespace run at the end of the text is taken whole; one
		// followed by other text leaves its last character to lead the next pre-token (which is
		// how " word" keeps its space), unless the run is a single character.
		end, last := i+size, i
		for end < len(s) {
			_, c, sz := runeClassAt(s, end)
			if c != clsSpace {
				break
			}
			last = end
			end += sz
		}
		if end < len(s) && last > i {
			end = last
		}
		fn(i, end)
		i = end
	}
}

// contractionLen returns the length of the contraction suffix (after the apostrophe) that s
// starts with, or 0.
func contractionLen(s string) int {
	if len(s) == 0 {
		return 0
	}
	switch s[0] {
	case 's', 't', 'm', 'd':
		return 1
	case 'r', 'v':
		if len(s) > 1 && s[1] == 'e' {
			return 2
		}
	case 'l':
		if len(s) > 1 && s[1] == 'l' {
			return 2
		}
	}
	return 0
}

// classRunEnd returns the end of the run of characters of class cls starting at i.
func classRunEnd(s string, i, cls int) int {
	for i < len(s) {
		_, c, size := runeClassAt(s, i)
		if c != cls {
			break
		}
		i += size
	}
	return i
}

// byteLevelEncoder is the RoBERTa/GPT-2 pipeline for one segment: the ByteLevel pre-tokenizer
// (GPT-2 split, then bytes shown as byte-level characters) and BPE, with a cache of
// pre-token -> tokens. There is no normaliser.
type byteLevelEncoder struct {
	model          *bpe
	addPrefixSpace bool // prepend a space to a segment that does not start with one
	useRegex       bool // split with GPT-2's pattern (otherwise the segment is one pre-token)
	cache          *wordCache[[]bpeTok]
	pool           sync.Pool // *[]bpeTok scratch
}

func newByteLevelEncoder(model *bpe, addPrefixSpace, useRegex bool) *byteLevelEncoder {
	e := &byteLevelEncoder{model: model, addPrefixSpace: addPrefixSpace, useRegex: useRegex,
		cache: newWordCache[[]bpeTok](defaultCacheEntries)}
	e.pool.New = func() any { return new([]bpeTok) }
	return e
}

// encode implements sequenceEncoder.
func (e *byteLevelEncoder) encode(seg string) ([]piece, error) {
	text, shifted := seg, false
	if e.addPrefixSpace && seg != "" && seg[0] != ' ' {
		// HF prepends the space to the text; it maps to the empty span at the segment start.
		text, shifted = " "+seg, true
	}
	scratch := e.pool.Get().(*[]bpeTok)
	defer e.pool.Put(scratch)
	out := make([]piece, 0, len(text)/4+1)
	word := func(a, b int) {
		pre := text[a:b]
		toks, ok := e.cache.getString(pre)
		if !ok {
			*scratch = e.model.tokenize([]byte(pre), (*scratch)[:0])
			toks = append([]bpeTok(nil), *scratch...)
			e.cache.put([]byte(pre), toks)
		}
		ascii := isASCII(pre)
		for _, t := range toks {
			s, end := a+int(t.start), a+int(t.end)
			if !ascii {
				// A token may hold only some bytes of a character; its span is widened to the
				// whole characters, as HF aligns every byte-level character to its source.
				s = runeStartAt(text, s)
				last := runeStartAt(text, end-1)
				_, size := utf8.DecodeRuneInString(text[last:])
				end = last + size
			}
			if shifted {
				s, end = max(s-1, 0), max(end-1, 0)
			}
			out = append(out, piece{ID: int64(t.id), Text: e.model.tokens[t.id], Start: s, End: end})
		}
	}
	if e.useRegex {
		gpt2Split(text, word)
	} else if text != "" {
		word(0, len(text))
	}
	return out, nil
}

// runeStartAt returns the start of the character holding byte i of valid UTF-8 text.
func runeStartAt(s string, i int) int {
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return i
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
