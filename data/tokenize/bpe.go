package tokenize

import (
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"
)

// bpe is a byte-pair-encoding model: a word starts as one symbol per character and the
// adjacent pair with the best (lowest) merge rank is merged, leftmost first among equal ranks,
// until no mergeable pair is left.
type bpe struct {
	vocab  map[string]int32
	tokens []string // id -> token
	merges map[uint64]mergeRule
	// symbolIDs[b] is the id of the one-byte symbol for raw byte b (its byte-level character),
	// or -1. It serves the common case of no prefix/suffix decoration.
	symbolIDs    [256]int32
	unkID        int32 // -1: characters missing from the vocabulary are dropped, as in HF
	fuseUnk      bool
	prefix       string // continuing_subword_prefix
	suffix       string // end_of_word_suffix
	ignoreMerges bool   // a word found whole in the vocabulary is not merged
}

// mergeRule is what merging a pair produces, and its priority.
type mergeRule struct {
	rank int32
	id   int32
}

func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// newBPE builds the model. merges are pairs of token strings in rank order.
func newBPE(vocab map[string]int32, merges [][2]string, unk string, fuseUnk bool, prefix, suffix string, ignoreMerges bool) (*bpe, error) {
	m := &bpe{vocab: vocab, tokens: idTable(vocab), unkID: -1, fuseUnk: fuseUnk, prefix: prefix, suffix: suffix, ignoreMerges: ignoreMerges}
	if unk != "" {
		id, ok := vocab[unk]
		if !ok {
			return nil, fmt.Errorf("bpe: unknown token %q is not in the vocabulary", unk)
		}
		m.unkID = id
	}
	m.merges = make(map[uint64]mergeRule, len(merges))
	for rank, mg := range merges {
		a, okA := vocab[mg[0]]
		b, okB := vocab[mg[1]]
		if !okA || !okB {
			return nil, fmt.Errorf("bpe: merge %d (%q %q) uses a token missing from the vocabulary", rank, mg[0], mg[1])
		}
		merged := mg[0] + strings.TrimPrefix(mg[1], prefix)
		id, ok := vocab[merged]
		if !ok {
			return nil, fmt.Errorf("bpe: merge %d produces %q, which is not in the vocabulary", rank, merged)
		}
		// A repeated merge keeps its last rank: HF collects the list into a map, and later
		// entries overwrite earlier ones.
		m.merges[pairKey(a, b)] = mergeRule{int32(rank), id}
	}
	for b := range 256 {
		m.symbolIDs[b] = -1
		if id, ok := vocab[string(byteToRune[b])]; ok {
			m.symbolIDs[b] = id
		}
	}
	return m, nil
}

// bpeTok is one BPE result: a vocabulary id and the raw byte range of the pre-token it covers.
type bpeTok struct {
	id         int32
	start, end int32
}

// bpeSymbol is a symbol of the word being merged, in a doubly linked list over the initial
// positions; a symbol merged into its left neighbour is marked dead.
type bpeSymbol struct {
	id         int32
	prev, next int32
	start, end int32
	dead       bool
}

// bpeMerge is a queued candidate merge of the symbol at pos with its successor.
type bpeMerge struct {
	rank, pos, id int32
}

// bpeScratch holds the buffers of one merge run.
type bpeScratch struct {
	syms  []bpeSymbol
	queue []bpeMerge
	key   []byte
}

var bpeScratchPool = sync.Pool{New: func() any { return new(bpeScratch) }}

// tokenize appends the BPE tokens of one raw pre-token (the bytes before the byte-level
// mapping) to out.
func (m *bpe) tokenize(raw []byte, out []bpeTok) []bpeTok {
	sc := bpeScratchPool.Get().(*bpeScratch)
	defer bpeScratchPool.Put(sc)
	if m.ignoreMerges {
		if id, ok := m.vocab[byteLevelString(raw)]; ok {
			return append(out, bpeTok{id, 0, int32(len(raw))})
		}
	}
	syms := m.initialSymbols(raw, sc)
	sc.syms = syms
	if len(syms) == 0 {
		return out
	}
	q := sc.queue[:0]
	for i := 0; i+1 < len(syms); i++ {
		if r, ok := m.merges[pairKey(syms[i].id, syms[i+1].id)]; ok {
			q = heapPush(q, bpeMerge{r.rank, int32(i), r.id})
		}
	}
	for len(q) > 0 {
		var top bpeMerge
		top, q = heapPop(q)
		cur := &syms[top.pos]
		if cur.dead || cur.next < 0 {
			continue
		}
		rightIdx := cur.next
		right := syms[rightIdx]
		// Skip stale entries: the pair at pos has changed since this merge was queued.
		if r, ok := m.merges[pairKey(cur.id, right.id)]; !ok || r.id != top.id {
			continue
		}
		cur.id = top.id
		cur.end = right.end
		cur.next = right.next
		syms[rightIdx].dead = true
		if right.next >= 0 {
			syms[right.next].prev = top.pos
		}
		if cur.prev >= 0 {
			if r, ok := m.merges[pairKey(syms[cur.prev].id, cur.id)]; ok {
				q = heapPush(q, bpeMerge{r.rank, cur.prev, r.id})
			}
		}
		if cur.next >= 0 {
			if r, ok := m.merges[pairKey(cur.id, syms[cur.next].id)]; ok {
				q = heapPush(q, bpeMerge{r.rank, top.pos, r.id})
			}
		}
	}
	sc.queue = q
	for i := 0; i >= 0 && i < len(syms); i = int(syms[i].next) {
		out = append(out, bpeTok{syms[i].id, syms[i].start, syms[i].end})
	}
	return out
}

// initialSymbols makes one symbol per byte-level character (that is, per raw byte), decorated
// with the continuation prefix / end-of-word suffix when the model has them.
func (m *bpe) initialSymbols(raw []byte, sc *bpeScratch) []bpeSymbol {
	syms := sc.syms[:0]
	for i, b := range raw {
		id := m.symbolIDs[b]
		if m.prefix != "" || m.suffix != "" {
			key := sc.key[:0]
			if i > 0 {
				key = append(key, m.prefix...)
			}
			key = utf8.AppendRune(key, byteToRune[b])
			if i == len(raw)-1 {
				key = append(key, m.suffix...)
			}
			sc.key = key
			var ok bool
			if id, ok = m.vocab[string(key)]; !ok {
				id = -1
			}
		}
		if id < 0 {
			if m.unkID < 0 {
				continue // HF drops characters it cannot represent when there is no unk token
			}
			if m.fuseUnk && len(syms) > 0 && syms[len(syms)-1].id == m.unkID {
				syms[len(syms)-1].end = int32(i + 1)
				continue
			}
			id = m.unkID
		}
		syms = append(syms, bpeSymbol{id: id, start: int32(i), end: int32(i + 1)})
	}
	for i := range syms {
		syms[i].prev = int32(i - 1)
		syms[i].next = int32(i + 1)
	}
	if len(syms) > 0 {
		syms[len(syms)-1].next = -1
	}
	return syms
}

// mergeLess orders the queue: lowest rank first, then leftmost position.
func mergeLess(a, b bpeMerge) bool {
	if a.rank != b.rank {
		return a.rank < b.rank
	}
	return a.pos < b.pos
}

func heapPush(h []bpeMerge, x bpeMerge) []bpeMerge {
	h = append(h, x)
	for i := len(h) - 1; i > 0; {
		p := (i - 1) / 2
		if !mergeLess(h[i], h[p]) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
	return h
}

func heapPop(h []bpeMerge) (bpeMerge, []bpeMerge) {
	top := h[0]
	n := len(h) - 1
	h[0] = h[n]
	h = h[:n]
	for i := 0; ; {
		l := 2*i + 1
		if l >= n {
			break
		}
		c := l
		if r := l + 1; r < n && mergeLess(h[r], h[l]) {
			c = r
		}
		if !mergeLess(h[c], h[i]) {
			break
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
	return top, h
}
