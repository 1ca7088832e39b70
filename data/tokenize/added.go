package tokenize

import (
	"sort"
	"unicode/utf8"
)

// AddedToken is a token matched in the raw input before the subword model runs, such as
// "[CLS]" or "<mask>" (HF's added_tokens). The flags have HF's meaning.
type AddedToken struct {
	ID      int64
	Content string
	// SingleWord: only match when not inside a word.
	SingleWord bool
	// LStrip / RStrip: the match also takes the whitespace on its left / right.
	LStrip, RStrip bool
	// Normalized: match in the normalised text rather than the original text.
	Normalized bool
	// Special marks special tokens ([CLS], <s>, …).
	Special bool
}

// addedMatch is one added token found in a text: byte range and id.
type addedMatch struct {
	start, end int
	id         int64
}

// normalizedSplitter is an optional extension of sequenceEncoder for families whose normaliser
// changes the text. HF matches added tokens flagged normalized=true in the NORMALISED text of a
// segment, so such an encoder normalises the segment, calls match on the normalised text, and
// encodes the text between the matches as separate splits (pre-tokenizer and model), emitting
// each match as a piece {ID: id, Text: normalised match} with the original offsets its
// alignments give. Encoders without it get normalized tokens matched in the original text, which
// is exact when the normaliser leaves the token and its surroundings unchanged.
type normalizedSplitter interface {
	encodeSplitting(segment string, match func(normalized string) []addedMatch) ([]piece, error)
}

// textNormalizer is optional for sequence encoders: it normalises a string the way the
// encoder's normaliser does. HF matches normalized=true added tokens by their normalised content
// (an uncased BERT matches a "Hello" token as "hello"); without it the content is used as is.
type textNormalizer interface {
	normalizeText(s string) string
}

// addedMatcher finds added tokens the way HF's AddedVocabulary does: leftmost-longest,
// non-overlapping matches (Aho-Corasick in HF; a first-byte index here, since there are few
// added tokens), then the single_word, lstrip and rstrip rules.
type addedMatcher struct {
	tokens  []AddedToken
	byFirst [256][]int // token indexes by first byte, longest first
}

func newAddedMatcher(tokens []AddedToken) *addedMatcher {
	m := &addedMatcher{tokens: tokens}
	for i, t := range tokens {
		if t.Content == "" {
			continue
		}
		b := t.Content[0]
		m.byFirst[b] = append(m.byFirst[b], i)
	}
	for b := range m.byFirst {
		l := m.byFirst[b]
		sort.SliceStable(l, func(i, j int) bool { return len(tokens[l[i]].Content) > len(tokens[l[j]].Content) })
	}
	return m
}

func (m *addedMatcher) empty() bool { return m == nil || len(m.tokens) == 0 }

// find returns the added tokens in s as HF's find_matches keeps them. Matches may carry
// surrounding whitespace (lstrip/rstrip).
func (m *addedMatcher) find(s string) []addedMatch {
	if m.empty() {
		return nil
	}
	var out []addedMatch
	prevEnd := 0 // end of the last kept match (HF's start_offset)
	for i := 0; i < len(s); {
		idx := m.longestAt(s, i)
		if idx < 0 {
			i++
			continue
		}
		t := &m.tokens[idx]
		start, stop := i, i+len(t.Content)
		i = stop // the search resumes after the match even if the match is then discarded
		if t.SingleWord {
			before := start == 0 || !endsWithWordChar(s[:start])
			after := stop == len(s) || !startsWithWordChar(s[stop:])
			if !before || !after {
				continue
			}
		}
		if t.LStrip {
			start = max(trailingSpaceStart(s[:start]), prevEnd)
		}
		if t.RStrip {
			stop += leadingSpaceLen(s[stop:])
		}
		// A previous match's rstrip may have taken text up to here; never overlap it.
		start = max(start, prevEnd)
		out = append(out, addedMatch{start, stop, t.ID})
		prevEnd = stop
	}
	return out
}

// longestAt returns the index of the longest token matching at s[i:], or -1.
func (m *addedMatcher) longestAt(s string, i int) int {
	for _, idx := range m.byFirst[s[i]] {
		c := m.tokens[idx].Content
		if len(s)-i >= len(c) && s[i:i+len(c)] == c {
			return idx
		}
	}
	return -1
}

func endsWithWordChar(s string) bool {
	r, _ := utf8.DecodeLastRuneInString(s)
	return s != "" && isWordChar(r)
}

func startsWithWordChar(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return s != "" && isWordChar(r)
}

// trailingSpaceStart returns where the whitespace at the end of s begins.
func trailingSpaceStart(s string) int {
	for len(s) > 0 {
		r, size := utf8.DecodeLastRuneInString(s)
		if !isSpace(r) {
			break
		}
		s = s[:len(s)-size]
	}
	return len(s)
}

// leadingSpaceLen returns the length of the whitespace at the start of s.
func leadingSpaceLen(s string) int {
	n := 0
	for n < len(s) {
		r, size := utf8.DecodeRuneInString(s[n:])
		if !isSpace(r) {
			break
		}
		n += size
	}
	return n
}
