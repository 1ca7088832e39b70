package tokenize

import (
	"fmt"
	"sync"
	"unicode/utf8"
)

// wordPiece is the WordPiece subword model: greedy longest-match-first over a vocabulary, with a
// continuation prefix ("##") on pieces that do not start a word.
type wordPiece struct {
	vocab    map[string]int32
	tokens   []string // id -> token
	unkID    int32
	prefix   string
	maxChars int // words with more characters become one unknown token
	maxBytes int // length of the longest vocabulary entry, bounds the match search
}

// wpTok is one WordPiece result: a vocabulary id and its byte range in the normalised word.
type wpTok struct {
	id         int32
	start, end int32
}

func newWordPiece(vocab map[string]int32, unk, prefix string, maxChars int) (*wordPiece, error) {
	unkID, ok := vocab[unk]
	if !ok {
		return nil, fmt.Errorf("wordpiece: unknown token %q is not in the vocabulary", unk)
	}
	if maxChars <= 0 {
		maxChars = 100
	}
	wp := &wordPiece{vocab: vocab, unkID: unkID, prefix: prefix, maxChars: maxChars}
	wp.tokens = idTable(vocab)
	for tok := range vocab {
		wp.maxBytes = max(wp.maxBytes, len(tok))
	}
	return wp, nil
}

// idTable inverts a vocabulary into an id -> token slice.
func idTable(vocab map[string]int32) []string {
	n := 0
	for _, id := range vocab {
		n = max(n, int(id)+1)
	}
	t := make([]string, n)
	for tok, id := range vocab {
		t[id] = tok
	}
	return t
}

// tokenize appends the pieces of one normalised word to out. keyBuf is scratch space for
// building lookup keys without allocating.
func (wp *wordPiece) tokenize(word []byte, out []wpTok, keyBuf *[]byte) []wpTok {
	if utf8.RuneCount(word) > wp.maxChars {
		return append(out, wpTok{wp.unkID, 0, int32(len(word))})
	}
	mark := len(out)
	key := (*keyBuf)[:0]
	for start := 0; start < len(word); {
		pre := 0
		if start > 0 {
			pre = len(wp.prefix)
		}
		// No vocabulary entry is longer than maxBytes, so longer candidates cannot match;
		// starting lower (on a character boundary) gives the same result as HF's full search.
		end := len(word)
		if limit := start + wp.maxBytes - pre; end > limit {
			end = limit
			for end > start && !utf8.RuneStart(word[end]) {
				end--
			}
		}
		found := false
		for end > start {
			key = key[:0]
			if pre > 0 {
				key = append(key, wp.prefix...)
			}
			key = append(key, word[start:end]...)
			if id, ok := wp.vocab[string(key)]; ok {
				out = append(out, wpTok{id, int32(start), int32(end)})
				found = true
				break
			}
			_, size := utf8.DecodeLastRune(word[start:end])
			end -= size
		}
		if !found {
			// One unmatched part makes the whole word unknown, as in BERT.
			out = append(out[:mark], wpTok{wp.unkID, 0, int32(len(word))})
			break
		}
		start = end
	}
	*keyBuf = key
	return out
}

// wordPieceEncoder is the BERT pipeline for one segment: BertNormalizer, BertPreTokenizer and
// WordPiece, with a cache of word -> pieces.
type wordPieceEncoder struct {
	norm  bertNormalizer
	model *wordPiece
	cache *wordCache[[]wpTok]
	pool  sync.Pool // *wpScratch
}

// wpScratch holds per-call buffers, pooled so that steady-state encoding does not allocate them.
type wpScratch struct {
	n   normalized
	tok []wpTok
	key []byte
}

func newWordPieceEncoder(n bertNormalizer, model *wordPiece) *wordPieceEncoder {
	e := &wordPieceEncoder{norm: n, model: model, cache: newWordCache[[]wpTok](defaultCacheEntries)}
	e.pool.New = func() any { return new(wpScratch) }
	return e
}

// encode implements sequenceEncoder.
func (e *wordPieceEncoder) encode(seg string) ([]piece, error) {
	sc := e.pool.Get().(*wpScratch)
	defer e.pool.Put(sc)
	e.norm.normalize(seg, &sc.n)
	out := make([]piece, 0, len(sc.n.text)/4+1)
	out = e.encodeRange(sc, 0, len(sc.n.text), out)
	return out, nil
}

// encodeSplitting implements normalizedSplitter: HF matches added tokens flagged normalized=true
// in the normalised text.
func (e *wordPieceEncoder) encodeSplitting(seg string, match func(norm string) []addedMatch) ([]piece, error) {
	sc := e.pool.Get().(*wpScratch)
	defer e.pool.Put(sc)
	e.norm.normalize(seg, &sc.n)
	out := make([]piece, 0, len(sc.n.text)/4+1)
	at := 0
	for _, m := range match(string(sc.n.text)) {
		out = e.encodeRange(sc, at, m.start, out)
		a, b := sc.n.originOf(m.start, m.end)
		out = append(out, piece{ID: m.id, Text: string(sc.n.text[m.start:m.end]), Start: a, End: b})
		at = m.end
	}
	return e.encodeRange(sc, at, len(sc.n.text), out), nil
}

// normalizeText implements textNormalizer.
func (e *wordPieceEncoder) normalizeText(s string) string {
	var n normalized
	e.norm.normalize(s, &n)
	return string(n.text)
}

// encodeRange pre-tokenises and WordPiece-encodes the normalised bytes [a,b).
func (e *wordPieceEncoder) encodeRange(sc *wpScratch, a, b int, out []piece) []piece {
	text := sc.n.text[a:b]
	bertPreTokenize(text, func(ws, we int) {
		ws += a
		we += a
		word := sc.n.text[ws:we]
		toks, ok := e.cache.get(word)
		if !ok {
			sc.tok = e.model.tokenize(word, sc.tok[:0], &sc.key)
			toks = append([]wpTok(nil), sc.tok...)
			e.cache.put(word, toks)
		}
		for _, t := range toks {
			s, end := sc.n.originOf(ws+int(t.start), ws+int(t.end))
			out = append(out, piece{ID: int64(t.id), Text: e.model.tokens[t.id], Start: s, End: end})
		}
	})
	return out
}
