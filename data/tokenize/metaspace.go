package tokenize

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// ugPrependScheme says when Metaspace puts a replacement character in front of a split.
type ugPrependScheme int

const (
	ugPrependAlways ugPrependScheme = iota
	ugPrependFirst
	ugPrependNever
)

// ugMetaspace is HF's Metaspace pre-tokenizer: every ' ' becomes the replacement character (▁),
// one is prepended to the split unless it already starts with it, and the split is cut before
// every replacement character.
type ugMetaspace struct {
	replacement rune
	repl        string // replacement as UTF-8
	replBytes   []byte
	prepend     ugPrependScheme
	split       bool
}

// parseUgMetaspace reads a {"type":"Metaspace",...} object, old and new layouts alike:
// add_prefix_space=false (old) means prepend_scheme "never"; a missing prepend_scheme is "always".
func parseUgMetaspace(raw json.RawMessage) (*ugMetaspace, error) {
	var cfg struct {
		Replacement    string  `json:"replacement"`
		AddPrefixSpace *bool   `json:"add_prefix_space"`
		PrependScheme  *string `json:"prepend_scheme"`
		Split          *bool   `json:"split"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("metaspace pre-tokenizer: %w", err)
	}
	if utf8.RuneCountInString(cfg.Replacement) != 1 {
		return nil, fmt.Errorf("metaspace pre-tokenizer: replacement %q is not one character", cfg.Replacement)
	}
	m := &ugMetaspace{repl: cfg.Replacement, prepend: ugPrependAlways, split: true}
	m.replacement, _ = utf8.DecodeRuneInString(cfg.Replacement)
	m.replBytes = []byte(cfg.Replacement)
	if cfg.PrependScheme != nil {
		switch *cfg.PrependScheme {
		case "always":
			m.prepend = ugPrependAlways
		case "first":
			m.prepend = ugPrependFirst
		case "never":
			m.prepend = ugPrependNever
		default:
			return nil, fmt.Errorf("metaspace pre-tokenizer: unknown prepend_scheme %q", *cfg.PrependScheme)
		}
	}
	if cfg.AddPrefixSpace != nil && !*cfg.AddPrefixSpace {
		if cfg.PrependScheme != nil && m.prepend != ugPrependNever {
			return nil, fmt.Errorf("metaspace pre-tokenizer: add_prefix_space=false contradicts prepend_scheme %q", *cfg.PrependScheme)
		}
		m.prepend = ugPrependNever
	}
	if cfg.Split != nil {
		m.split = *cfg.Split
	}
	return m, nil
}

// apply writes into dst the pre-tokenised form of src.b[a:b] (a non-empty split of the normalised
// segment): spaces replaced, replacement prepended, with HF's alignments. A replaced space keeps
// the span of the space; a prepended ▁ takes the span of the split's first character, so the
// first token "▁word" starts where "word" starts and a lone leading "▁" covers that character.
// The encoder needs the materialised text only when Metaspace does not split (see nextWord).
func (m *ugMetaspace) apply(src *ugText, a, b int, dst *ugText) {
	dst.b = dst.b[:0]
	dst.align = dst.align[:0]
	first, firstLen := utf8.DecodeRune(src.b[a:b])
	prepend := first != m.replacement && first != ' ' && m.prepends(src, a)
	i := a
	if prepend {
		sp := src.align[a]
		dst.b = append(dst.b, m.repl...)
		for range len(m.repl) {
			dst.align = append(dst.align, sp)
		}
		// HF re-inserts the first character as "added", which gives it the span of its own last
		// byte; characters carry one span for all their bytes, so this is its own span.
		last := src.align[a+firstLen-1]
		for k := 0; k < firstLen; k++ {
			dst.b = append(dst.b, src.b[a+k])
			dst.align = append(dst.align, last)
		}
		i += firstLen
	}
	for ; i < b; i++ {
		c := src.b[i]
		if c == ' ' {
			sp := src.align[i]
			dst.b = append(dst.b, m.repl...)
			for range len(m.repl) {
				dst.align = append(dst.align, sp)
			}
			continue
		}
		dst.b = append(dst.b, c)
		dst.align = append(dst.align, src.align[i])
	}
}

// ugWord is one word of a split as Metaspace cuts it (split=true), described on the normalised
// text instead of a materialised pre-tokenised copy: an optional leading replacement character
// (a replaced space, a literal ▁ or a prepended one) followed by the body t.b[body:end], which
// holds neither spaces nor replacement characters.
type ugWord struct {
	markerLen int    // bytes of the leading replacement in the model's view of the word (0 if none)
	marker    ugSpan // span of that replacement
	body, end int    // the rest of the word in the normalised text
}

// nextWord returns the word of the split t.b[a:b] that starts at pos.
func (m *ugMetaspace) nextWord(t *ugText, a, b, pos int) ugWord {
	w := ugWord{body: pos}
	switch {
	case t.b[pos] == ' ':
		// A space becomes the replacement and keeps the space's span.
		w.markerLen, w.marker, w.body = len(m.repl), t.align[pos], pos+1
	case bytes.HasPrefix(t.b[pos:b], m.replBytes):
		w.markerLen, w.marker, w.body = len(m.repl), t.align[pos], pos+len(m.repl)
	case pos == a && m.prepends(t, a):
		// The prepended replacement takes the span of the split's first character.
		w.markerLen, w.marker = len(m.repl), t.align[pos]
	}
	w.end = w.body
	for w.end < b {
		c := t.b[w.end]
		if c == ' ' || (c == m.replBytes[0] && bytes.HasPrefix(t.b[w.end:b], m.replBytes)) {
			break
		}
		w.end++
	}
	return w
}

// prepends reports whether a replacement is put in front of the split starting at a, which does
// not start with a space or a replacement.
func (m *ugMetaspace) prepends(t *ugText, a int) bool {
	switch m.prepend {
	case ugPrependAlways:
		return true
	case ugPrependFirst:
		// HF checks that the split starts at offset 0 of the whole input; an encoder only sees
		// one segment, so "first" is taken as "first in this segment".
		return t.align[a].start == 0
	}
	return false
}

// appendKey appends the word as the model sees it (replacement + body) to dst.
func (m *ugMetaspace) appendKey(dst []byte, t *ugText, w ugWord) []byte {
	if w.markerLen > 0 {
		dst = append(dst, m.replBytes...)
	}
	return append(dst, t.b[w.body:w.end]...)
}

// spanOf maps the byte range [s,e) of the word's key back to the original segment.
func (w ugWord) spanOf(t *ugText, s, e int) (start, end int) {
	if s < w.markerLen {
		start = int(w.marker.start)
	} else {
		start = int(t.align[w.body+s-w.markerLen].start)
	}
	if e-1 < w.markerLen {
		end = int(w.marker.end)
	} else {
		end = int(t.align[w.body+e-1-w.markerLen].end)
	}
	return start, end
}
