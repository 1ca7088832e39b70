package tokenize

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
	"unsafe"
)

// This file is the Unigram (SentencePiece) sequence encoder as HF's fast tokenizer runs it for
// DeBERTa-v2/v3: normaliser sequence, added tokens that match on normalised text, Metaspace
// pre-tokeniser and the Unigram model's Viterbi segmentation, with every token mapped back to
// byte offsets of the original segment.

// ---- normalised text with alignments ----

// ugSpan is a [start,end) byte range of the original segment.
type ugSpan struct{ start, end int32 }

// ugText is text under normalisation plus, for every byte, the span of the original segment it
// came from: HF's NormalizedString alignments, in segment coordinates. All bytes of one character
// always share one span. A token covering normalised bytes [s,e) maps to the original range
// [align[s].start, align[e-1].end), which is HF's convert_offsets.
type ugText struct {
	b     []byte
	align []ugSpan
}

// reset loads seg unchanged. Invalid UTF-8 bytes become U+FFFD aligned to the byte (HF only ever
// sees valid strings; this keeps everything downstream valid and in range).
func (t *ugText) reset(seg string) {
	t.b = t.b[:0]
	t.align = t.align[:0]
	for i := 0; i < len(seg); {
		if c := seg[i]; c < utf8.RuneSelf {
			t.b = append(t.b, c)
			t.align = append(t.align, ugSpan{int32(i), int32(i + 1)})
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(seg[i:])
		sp := ugSpan{int32(i), int32(i + size)}
		if r == utf8.RuneError && size == 1 {
			t.b = append(t.b, "\uFFFD"...)
			t.align = append(t.align, sp, sp, sp)
		} else {
			t.b = append(t.b, seg[i:i+size]...)
			for range size {
				t.align = append(t.align, sp)
			}
		}
		i += size
	}
}

// transform rewrites the whole text from a list of transformations, following HF's
// NormalizedString::transform_range exactly (including its alignment of inserted characters to the
// previous byte and its treatment of unconsumed source characters).
func (t *ugText) transform(ts []ugTransform, sc *ugScratch) {
	out := &sc.tmp
	out.b = out.b[:0]
	out.align = out.align[:0]
	off := 0 // position in t.b of the next source character to consume
	consume := func() {
		if off < len(t.b) {
			_, size := utf8.DecodeRune(t.b[off:])
			off += size
		}
	}
	for _, tr := range ts {
		var sp ugSpan
		if tr.change > 0 {
			if off >= 1 {
				sp = t.align[off-1]
			}
		} else {
			if off < len(t.align) {
				sp = t.align[off]
			} else if len(t.align) > 0 {
				sp = t.align[len(t.align)-1]
			}
			consume()
			for k := 0; k < -tr.change; k++ {
				consume()
			}
		}
		n := len(out.b)
		out.b = utf8.AppendRune(out.b, tr.r)
		for range len(out.b) - n {
			out.align = append(out.align, sp)
		}
	}
	t.b, out.b = out.b, t.b
	t.align, out.align = out.align, t.align
}

// strip removes leading and/or trailing white space (Unicode White_Space, Rust's
// char::is_whitespace); the characters kept keep their spans.
func (t *ugText) strip(left, right bool) {
	start, end := 0, len(t.b)
	if left {
		for start < end {
			r, size := utf8.DecodeRune(t.b[start:end])
			if !unicode.IsSpace(r) {
				break
			}
			start += size
		}
	}
	if right {
		for end > start {
			r, size := utf8.DecodeLastRune(t.b[start:end])
			if !unicode.IsSpace(r) {
				break
			}
			end -= size
		}
	}
	if start == 0 && end == len(t.b) {
		return
	}
	n := copy(t.b, t.b[start:end])
	copy(t.align, t.align[start:end])
	t.b = t.b[:n]
	t.align = t.align[:n]
}

// replaceMatches replaces each [start,end) range of matches (sorted, disjoint, non-empty) by
// content. As in HF's NormalizedString::replace, every inserted character takes the span of the
// last byte of the text it replaces.
func (t *ugText) replaceMatches(matches [][2]int, content string, sc *ugScratch) {
	out := &sc.tmp
	out.b = out.b[:0]
	out.align = out.align[:0]
	last := 0
	for _, m := range matches {
		out.b = append(out.b, t.b[last:m[0]]...)
		out.align = append(out.align, t.align[last:m[0]]...)
		sp := t.align[m[1]-1]
		out.b = append(out.b, content...)
		for range len(content) {
			out.align = append(out.align, sp)
		}
		last = m[1]
	}
	out.b = append(out.b, t.b[last:]...)
	out.align = append(out.align, t.align[last:]...)
	t.b, out.b = out.b, t.b
	t.align, out.align = out.align, t.align
}

// ---- normalisers ----

// ugNormStep is one normaliser of the (flattened) normaliser sequence.
type ugNormStep interface {
	apply(t *ugText, sc *ugScratch)
}

type ugStrip struct{ left, right bool }

func (s ugStrip) apply(t *ugText, _ *ugScratch) { t.strip(s.left, s.right) }

type ugPrecompiled struct{ cm *precompiledCharsmap }

func (s ugPrecompiled) apply(t *ugText, sc *ugScratch) { s.cm.normalize(t, sc) }

// ugSpaceRuns is Replace(Regex(" {2,}"), " "), which DeBERTa-v3 uses to squeeze runs of spaces;
// it is common enough to deserve a scan instead of a regular expression.
type ugSpaceRuns struct{}

func (ugSpaceRuns) apply(t *ugText, sc *ugScratch) {
	ms := sc.matches[:0]
	for i := 0; i < len(t.b); {
		if t.b[i] != ' ' {
			i++
			continue
		}
		j := i + 1
		for j < len(t.b) && t.b[j] == ' ' {
			j++
		}
		if j-i >= 2 {
			ms = append(ms, [2]int{i, j})
		}
		i = j
	}
	sc.matches = ms
	if len(ms) > 0 {
		t.replaceMatches(ms, " ", sc)
	}
}

// ugReplace is a general Replace normaliser: a literal or a regular expression (Go RE2 syntax,
// which covers the patterns tokenizer.json files use for whitespace clean-up).
type ugReplace struct {
	literal string
	re      *regexp.Regexp
	content string
}

func (s ugReplace) apply(t *ugText, sc *ugScratch) {
	ms := sc.matches[:0]
	text := ugBytesToString(t.b)
	if s.re != nil {
		for _, m := range s.re.FindAllStringIndex(text, -1) {
			if m[1] > m[0] { // empty matches would insert text; HF patterns never produce them
				ms = append(ms, [2]int{m[0], m[1]})
			}
		}
	} else if s.literal != "" {
		for i := 0; ; {
			k := strings.Index(text[i:], s.literal)
			if k < 0 {
				break
			}
			ms = append(ms, [2]int{i + k, i + k + len(s.literal)})
			i += k + len(s.literal)
		}
	}
	sc.matches = ms
	if len(ms) > 0 {
		t.replaceMatches(ms, s.content, sc)
	}
}

// ugLowercase is HF's Lowercase normaliser (Rust char::to_lowercase per character; the extra
// characters of a multi-character lowercase are "inserted").
type ugLowercase struct{}

func (ugLowercase) apply(t *ugText, sc *ugScratch) {
	ts := sc.trans[:0]
	for _, r := range ugBytesToString(t.b) {
		if r == 'İ' { // the one code point whose lowercase is two characters
			ts = append(ts, ugTransform{r: 'i'}, ugTransform{r: '\u0307', change: 1})
			continue
		}
		ts = append(ts, ugTransform{r: unicode.ToLower(r)})
	}
	sc.trans = ts
	t.transform(ts, sc)
}

// parseUnigramNormalizer flattens a tokenizer.json normalizer (null, one normaliser or a Sequence).
func parseUnigramNormalizer(raw json.RawMessage) ([]ugNormStep, error) {
	if ugIsNull(raw) {
		return nil, nil
	}
	var head struct {
		Type        string            `json:"type"`
		Normalizers []json.RawMessage `json:"normalizers"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return nil, fmt.Errorf("normalizer: %w", err)
	}
	switch head.Type {
	case "Sequence":
		var steps []ugNormStep
		for i, sub := range head.Normalizers {
			s, err := parseUnigramNormalizer(sub)
			if err != nil {
				return nil, fmt.Errorf("normalizer sequence item %d: %w", i, err)
			}
			steps = append(steps, s...)
		}
		return steps, nil
	case "Strip":
		var cfg struct {
			Left  bool `json:"strip_left"`
			Right bool `json:"strip_right"`
		}
		if err := json.Unmarshal(raw, &cfg); err != nil {
			return nil, fmt.Errorf("strip normalizer: %w", err)
		}
		return []ugNormStep{ugStrip{cfg.Left, cfg.Right}}, nil
	case "Precompiled":
		var cfg struct {
			Charsmap *string `json:"precompiled_charsmap"`
		}
		if err := json.Unmarshal(raw, &cfg); err != nil {
			return nil, fmt.Errorf("precompiled normalizer: %w", err)
		}
		if cfg.Charsmap == nil || *cfg.Charsmap == "" {
			// HF cannot build one from an empty charsmap either; there is nothing to apply.
			return nil, nil
		}
		blob, err := base64.StdEncoding.DecodeString(*cfg.Charsmap)
		if err != nil {
			return nil, fmt.Errorf("precompiled normalizer: charsmap base64: %w", err)
		}
		cm, err := parsePrecompiledCharsmap(blob)
		if err != nil {
			return nil, err
		}
		return []ugNormStep{ugPrecompiled{cm}}, nil
	case "Replace":
		var cfg struct {
			Pattern struct {
				String *string `json:"String"`
				Regex  *string `json:"Regex"`
			} `json:"pattern"`
			Content string `json:"content"`
		}
		if err := json.Unmarshal(raw, &cfg); err != nil {
			return nil, fmt.Errorf("replace normalizer: %w", err)
		}
		switch {
		case cfg.Pattern.Regex != nil && *cfg.Pattern.Regex == " {2,}" && cfg.Content == " ":
			return []ugNormStep{ugSpaceRuns{}}, nil
		case cfg.Pattern.Regex != nil:
			re, err := regexp.Compile(*cfg.Pattern.Regex)
			if err != nil {
				return nil, fmt.Errorf("replace normalizer: pattern %q: %w", *cfg.Pattern.Regex, err)
			}
			return []ugNormStep{ugReplace{re: re, content: cfg.Content}}, nil
		case cfg.Pattern.String != nil:
			return []ugNormStep{ugReplace{literal: *cfg.Pattern.String, content: cfg.Content}}, nil
		}
		return nil, errors.New("replace normalizer: pattern is neither String nor Regex")
	case "Lowercase":
		return []ugNormStep{ugLowercase{}}, nil
	}
	return nil, fmt.Errorf("normalizer type %q is not supported by the Unigram encoder", head.Type)
}

// parseUnigramPreTokenizer reads a tokenizer.json pre_tokenizer for a Unigram model: null, Metaspace, or
// a Sequence holding one Metaspace.
func parseUnigramPreTokenizer(raw json.RawMessage) (*ugMetaspace, error) {
	if ugIsNull(raw) {
		return nil, nil
	}
	var head struct {
		Type          string            `json:"type"`
		PreTokenizers []json.RawMessage `json:"pretokenizers"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return nil, fmt.Errorf("pre_tokenizer: %w", err)
	}
	switch head.Type {
	case "Metaspace":
		return parseUgMetaspace(raw)
	case "Sequence":
		switch len(head.PreTokenizers) {
		case 0:
			return nil, nil
		case 1:
			return parseUnigramPreTokenizer(head.PreTokenizers[0])
		}
		return nil, fmt.Errorf("pre_tokenizer: a sequence of %d pre-tokenizers is not supported by the Unigram encoder", len(head.PreTokenizers))
	}
	return nil, fmt.Errorf("pre_tokenizer type %q is not supported by the Unigram encoder", head.Type)
}

func ugIsNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}

// ---- the Unigram model ----

// ugPieceTrie is a byte trie over the vocabulary pieces, for Viterbi's common-prefix searches.
// The root's children are a direct table; other nodes keep sorted edges.
type ugPieceTrie struct {
	root   [256]int32
	nodes  []ugTrieNode
	labels []byte
	kids   []int32
}

type ugTrieNode struct {
	first, n int32 // edges labels[first:first+n], kids[first:first+n]
	piece    int32 // vocabulary id ending here, or -1
}

func buildUgPieceTrie(pieces []string) *ugPieceTrie {
	// HF keeps the LAST id of a duplicated piece (it fills a map in vocabulary order).
	last := make(map[string]int32, len(pieces))
	for id, p := range pieces {
		if p != "" {
			last[p] = int32(id)
		}
	}
	type keyID struct {
		key string
		id  int32
	}
	keys := make([]keyID, 0, len(last))
	for k, id := range last {
		keys = append(keys, keyID{k, id})
	}
	slices.SortFunc(keys, func(a, b keyID) int { return strings.Compare(a.key, b.key) })

	tr := &ugPieceTrie{}
	var build func(ks []keyID, depth int) int32
	build = func(ks []keyID, depth int) int32 {
		idx := int32(len(tr.nodes))
		tr.nodes = append(tr.nodes, ugTrieNode{piece: -1})
		if len(ks) > 0 && len(ks[0].key) == depth {
			tr.nodes[idx].piece = ks[0].id
			ks = ks[1:]
		}
		// Group the remaining keys by their byte at depth; reserve the edges first so that the
		// node's edges are contiguous.
		first := int32(len(tr.labels))
		var groups [][]keyID
		for i := 0; i < len(ks); {
			j := i + 1
			for j < len(ks) && ks[j].key[depth] == ks[i].key[depth] {
				j++
			}
			groups = append(groups, ks[i:j])
			tr.labels = append(tr.labels, ks[i].key[depth])
			tr.kids = append(tr.kids, -1)
			i = j
		}
		tr.nodes[idx].first, tr.nodes[idx].n = first, int32(len(groups))
		for g, ks := range groups {
			tr.kids[first+int32(g)] = build(ks, depth+1)
		}
		return idx
	}
	build(keys, 0)
	for i := range tr.root {
		tr.root[i] = -1
	}
	rn := tr.nodes[0]
	for e := rn.first; e < rn.first+rn.n; e++ {
		tr.root[tr.labels[e]] = tr.kids[e]
	}
	return tr
}

// child returns the child of node along byte c, or -1.
func (tr *ugPieceTrie) child(node int32, c byte) int32 {
	nd := &tr.nodes[node]
	labels := tr.labels[nd.first : nd.first+nd.n]
	if len(labels) <= 8 {
		for i, l := range labels {
			if l == c {
				return tr.kids[nd.first+int32(i)]
			}
		}
		return -1
	}
	lo, hi := 0, len(labels)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if labels[m] < c {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(labels) && labels[lo] == c {
		return tr.kids[nd.first+int32(lo)]
	}
	return -1
}

// lookup returns the id of the piece equal to s, or -1.
func (tr *ugPieceTrie) lookup(s string) int32 {
	if s == "" {
		return -1
	}
	node := tr.root[s[0]]
	for i := 1; i < len(s) && node >= 0; i++ {
		node = tr.child(node, s[i])
	}
	if node < 0 {
		return -1
	}
	return tr.nodes[node].piece
}

// unigramModel is HF's Unigram model: Viterbi over piece log-probabilities, unknown characters
// scored min_score-10, consecutive unknowns fused into one token, optional byte fallback.
type unigramModel struct {
	pieces       []string
	scores       []float64
	trie         *ugPieceTrie
	unkID        int32 // -1 when the model has no unk
	unkScore     float64
	byteFallback bool
	bytePieces   [256]int32 // ids of <0xNN>, -1 where absent
}

// ugUnkPenalty is how much worse than the worst piece an unknown character scores (HF, SentencePiece).
const ugUnkPenalty = 10.0

func newUnigramModel(pieces []string, scores []float64, unkID int, byteFallback bool) (*unigramModel, error) {
	if len(pieces) == 0 {
		return nil, errors.New("unigram: empty vocabulary")
	}
	if len(pieces) > math.MaxInt32 {
		return nil, fmt.Errorf("unigram: %d pieces is too many", len(pieces))
	}
	if unkID >= len(pieces) {
		return nil, fmt.Errorf("unigram: unk_id %d is outside the %d-piece vocabulary", unkID, len(pieces))
	}
	m := &unigramModel{pieces: pieces, scores: scores, unkID: int32(unkID), byteFallback: byteFallback}
	if unkID < 0 {
		m.unkID = -1
	}
	minScore := math.Inf(1)
	for _, s := range scores {
		minScore = min(minScore, s)
	}
	m.unkScore = minScore - ugUnkPenalty
	m.trie = buildUgPieceTrie(pieces)
	for b := range 256 {
		m.bytePieces[b] = m.trie.lookup(fmt.Sprintf("<0x%02X>", b))
	}
	return m, nil
}

// ugWordToken is one token of a word: vocabulary id and its byte range in the word.
type ugWordToken struct {
	id         int32
	start, end int32
	text       string
}

// ugBestNode is the best path ending at one byte position of the word.
type ugBestNode struct {
	score float64
	start int32 // start of the last token of that path, -1 while unreached
	id    int32
}

// tokenize segments word (non-empty) like HF's Unigram::encode_optimized followed by
// Unigram::tokenize, appending to dst. word is the string the token texts are cut from.
func (m *unigramModel) tokenize(word string, sc *ugScratch, dst []ugWordToken) ([]ugWordToken, error) {
	n := len(word)
	best := slices.Grow(sc.best[:0], n+1)[:n+1]
	sc.best = best
	for i := range best {
		best[i] = ugBestNode{start: -1}
	}
	tr := m.trie
	for start := 0; start < n; {
		_, mblen := utf8.DecodeRuneInString(word[start:])
		base := best[start].score
		hasSingle := false
		// Common-prefix search: every piece that starts at start, shortest first. On equal
		// scores the earlier candidate stays (strict >), as in HF.
		node := tr.root[word[start]]
		for pos := start + 1; node >= 0; pos++ {
			if id := tr.nodes[node].piece; id >= 0 {
				cand := m.scores[id] + base
				if t := &best[pos]; t.start < 0 || cand > t.score {
					*t = ugBestNode{score: cand, start: int32(start), id: id}
				}
				if pos-start == mblen {
					hasSingle = true
				}
			}
			if pos == n {
				break
			}
			node = tr.child(node, word[pos])
		}
		if !hasSingle {
			if m.unkID < 0 {
				return dst, errors.New("unigram: unknown character and the model has no unk_id")
			}
			cand := m.unkScore + base
			if t := &best[start+mblen]; t.start < 0 || cand > t.score {
				*t = ugBestNode{score: cand, start: int32(start), id: m.unkID}
			}
		}
		start += mblen
	}

	// Backtrack, fusing runs of unknown tokens, then reverse.
	from := len(dst)
	for end := int32(n); end > 0; {
		nd := best[end]
		if nd.id == m.unkID {
			runEnd := end
			for end > 0 && best[end].id == m.unkID {
				end = best[end].start
			}
			dst = m.appendUnknown(dst, word, end, runEnd)
			continue
		}
		dst = append(dst, ugWordToken{id: nd.id, start: nd.start, end: end, text: m.pieces[nd.id]})
		end = nd.start
	}
	slices.Reverse(dst[from:])
	return dst, nil
}

// appendUnknown appends the token for a fused run of unknowns word[s:e]. Like HF it looks the text
// up in the vocabulary first; byte pieces are appended in reverse (the caller reverses).
func (m *unigramModel) appendUnknown(dst []ugWordToken, word string, s, e int32) []ugWordToken {
	text := word[s:e]
	if id := m.trie.lookup(text); id >= 0 {
		return append(dst, ugWordToken{id: id, start: s, end: e, text: text})
	}
	if m.byteFallback {
		ok := true
		for i := 0; i < len(text); i++ {
			ok = ok && m.bytePieces[text[i]] >= 0
		}
		if ok {
			for i := len(text) - 1; i >= 0; i-- {
				id := m.bytePieces[text[i]]
				dst = append(dst, ugWordToken{id: id, start: s, end: e, text: m.pieces[id]})
			}
			return dst
		}
	}
	return append(dst, ugWordToken{id: m.unkID, start: s, end: e, text: text})
}

// ---- the encoder ----

// ugScratch holds the buffers of one encode call.
type ugScratch struct {
	text, tmp, word ugText
	key             []byte
	trans           []ugTransform
	matches         [][2]int
	best            []ugBestNode
	toks            []ugWordToken
}

// ugMaxCachedWord bounds the words kept in the word cache (HF caches words under 256 bytes).
const (
	ugMaxCachedWord  = 256
	ugMaxCachedWords = 100_000
)

// unigramEncoder implements sequenceEncoder for Unigram tokenizers (DeBERTa-v2/v3, ...). It is
// safe for concurrent use.
type unigramEncoder struct {
	model      *unigramModel
	norm       []ugNormStep
	meta       *ugMetaspace
	scratchers sync.Pool
	// spmAdded are the added tokens a converted spm.model declares (nil for tokenizer.json,
	// which lists its own).
	spmAdded []AddedToken

	cacheMu sync.RWMutex
	cache   map[string][]ugWordToken
}

// newUnigramFromJSON builds the encoder from the model, normalizer and pre_tokenizer sections of a
// tokenizer.json; normalizer and preTokenizer may be JSON null.
func newUnigramFromJSON(model, normalizer, preTokenizer json.RawMessage) (sequenceEncoder, error) {
	var cfg struct {
		Type         string               `json:"type"`
		UnkID        *int                 `json:"unk_id"`
		Vocab        [][2]json.RawMessage `json:"vocab"`
		ByteFallback bool                 `json:"byte_fallback"`
	}
	if err := json.Unmarshal(model, &cfg); err != nil {
		return nil, fmt.Errorf("unigram model: %w", err)
	}
	if cfg.Type != "" && cfg.Type != "Unigram" {
		return nil, fmt.Errorf("unigram model: type is %q", cfg.Type)
	}
	pieces := make([]string, len(cfg.Vocab))
	scores := make([]float64, len(cfg.Vocab))
	for i, e := range cfg.Vocab {
		// Most pieces have no escapes; decoding those by hand halves the load time.
		if raw := e[0]; len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' &&
			bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
			pieces[i] = string(raw[1 : len(raw)-1])
		} else if err := json.Unmarshal(raw, &pieces[i]); err != nil {
			return nil, fmt.Errorf("unigram model: vocab entry %d piece: %w", i, err)
		}
		// serde_json's value, not the correctly rounded one: see parseSerdeFloat.
		s, err := parseSerdeFloat(string(bytes.TrimSpace(e[1])))
		if err != nil {
			return nil, fmt.Errorf("unigram model: vocab entry %d score: %w", i, err)
		}
		scores[i] = s
	}
	unk := -1
	if cfg.UnkID != nil {
		unk = *cfg.UnkID
	}
	m, err := newUnigramModel(pieces, scores, unk, cfg.ByteFallback)
	if err != nil {
		return nil, err
	}
	norm, err := parseUnigramNormalizer(normalizer)
	if err != nil {
		return nil, err
	}
	meta, err := parseUnigramPreTokenizer(preTokenizer)
	if err != nil {
		return nil, err
	}
	return newUnigramEncoder(m, norm, meta), nil
}

func newUnigramEncoder(m *unigramModel, norm []ugNormStep, meta *ugMetaspace) *unigramEncoder {
	e := &unigramEncoder{model: m, norm: norm, meta: meta, cache: make(map[string][]ugWordToken)}
	e.scratchers.New = func() any { return new(ugScratch) }
	return e
}

// addedTokens returns the added tokens that DebertaV2Converter declares for an encoder built from
// spm.model (nil when built from tokenizer.json).
func (e *unigramEncoder) addedTokens() []AddedToken { return e.spmAdded }

func (e *unigramEncoder) getScratch() *ugScratch { return e.scratchers.Get().(*ugScratch) }

func (e *unigramEncoder) normalize(t *ugText, sc *ugScratch) {
	for _, st := range e.norm {
		if len(t.b) == 0 {
			return
		}
		st.apply(t, sc)
	}
}

// encode implements sequenceEncoder.
func (e *unigramEncoder) encode(segment string) ([]piece, error) {
	return e.encodeSplitting(segment, nil)
}

// encodeSplitting implements normalizedSplitter: it normalises the segment as a whole, lets match
// find the added tokens that HF matches on normalised text (DeBERTa's [UNK]), and encodes the
// text between them as separate splits.
func (e *unigramEncoder) encodeSplitting(segment string, match func(normalized string) []addedMatch) ([]piece, error) {
	if segment == "" {
		return nil, nil
	}
	if len(segment) >= math.MaxInt32 {
		return nil, fmt.Errorf("unigram: a %d-byte segment is too long", len(segment))
	}
	sc := e.getScratch()
	defer e.scratchers.Put(sc)
	t := &sc.text
	t.reset(segment)
	e.normalize(t, sc)
	out := make([]piece, 0, len(t.b)/3+4)
	var err error
	pos := 0
	if match != nil && len(t.b) > 0 {
		for _, m := range match(ugBytesToString(t.b)) {
			if m.start < pos || m.end <= m.start || m.end > len(t.b) {
				continue // not a usable match; HF's matches are ordered and non-empty
			}
			if out, err = e.encodeSplit(t, pos, m.start, out, sc); err != nil {
				return nil, err
			}
			out = append(out, piece{ID: m.id, Text: string(t.b[m.start:m.end]),
				Start: int(t.align[m.start].start), End: int(t.align[m.end-1].end)})
			pos = m.end
		}
	}
	if out, err = e.encodeSplit(t, pos, len(t.b), out, sc); err != nil {
		return nil, err
	}
	return out, nil
}

// encodeSplit pre-tokenises t.b[a:b] and runs the model on each word.
func (e *unigramEncoder) encodeSplit(t *ugText, a, b int, out []piece, sc *ugScratch) ([]piece, error) {
	if a >= b {
		return out, nil
	}
	if e.meta != nil && e.meta.split {
		// Walk the words on the normalised text; only each word's key is copied.
		for pos := a; pos < b; {
			w := e.meta.nextWord(t, a, b, pos)
			sc.key = e.meta.appendKey(sc.key[:0], t, w)
			toks, err := e.tokenizeWord(sc.key, sc)
			if err != nil {
				return out, err
			}
			for _, tk := range toks {
				start, end := w.spanOf(t, int(tk.start), int(tk.end))
				out = append(out, piece{ID: int64(tk.id), Text: tk.text, Start: start, End: end})
			}
			pos = w.end
		}
		return out, nil
	}
	// One word: the split itself, or its Metaspace form when Metaspace does not split.
	w := t
	if e.meta != nil {
		e.meta.apply(t, a, b, &sc.word)
		w = &sc.word
		a, b = 0, len(sc.word.b)
	}
	toks, err := e.tokenizeWord(w.b[a:b], sc)
	if err != nil {
		return out, err
	}
	for _, tk := range toks {
		out = append(out, piece{ID: int64(tk.id), Text: tk.text,
			Start: int(w.align[a+int(tk.start)].start), End: int(w.align[a+int(tk.end)-1].end)})
	}
	return out, nil
}

// tokenizeWord returns the tokens of one word, through the word cache for short words. The
// result is only valid until the next call with the same scratch.
func (e *unigramEncoder) tokenizeWord(word []byte, sc *ugScratch) ([]ugWordToken, error) {
	if len(word) < ugMaxCachedWord {
		e.cacheMu.RLock()
		toks, ok := e.cache[string(word)]
		e.cacheMu.RUnlock()
		if ok {
			return toks, nil
		}
	}
	key := string(word)
	toks, err := e.model.tokenize(key, sc, sc.toks[:0])
	sc.toks = toks
	if err != nil {
		return nil, err
	}
	if len(word) < ugMaxCachedWord {
		kept := slices.Clone(toks)
		e.cacheMu.Lock()
		if len(e.cache) < ugMaxCachedWords {
			e.cache[key] = kept
		}
		e.cacheMu.Unlock()
		return kept, nil
	}
	return toks, nil
}

// ugBytesToString views b as a string without copying; the string must not outlive a change to b.
func ugBytesToString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}
