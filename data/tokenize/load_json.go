package tokenize

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// tokenizerFile is the layout of HF's tokenizer.json.
type tokenizerFile struct {
	AddedTokens   []addedTokenJSON `json:"added_tokens"`
	Normalizer    json.RawMessage  `json:"normalizer"`
	PreTokenizer  json.RawMessage  `json:"pre_tokenizer"`
	Model         json.RawMessage  `json:"model"`
	PostProcessor json.RawMessage  `json:"post_processor"`
}

type addedTokenJSON struct {
	ID         int64  `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

// modelJSON holds the fields of the WordPiece, BPE and Unigram model sections.
type modelJSON struct {
	Type                    string          `json:"type"`
	Vocab                   json.RawMessage `json:"vocab"`
	Merges                  json.RawMessage `json:"merges"`
	UnkToken                *string         `json:"unk_token"`
	ContinuingSubwordPrefix *string         `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string         `json:"end_of_word_suffix"`
	MaxInputCharsPerWord    int             `json:"max_input_chars_per_word"`
	FuseUnk                 bool            `json:"fuse_unk"`
	ByteFallback            bool            `json:"byte_fallback"`
	IgnoreMerges            bool            `json:"ignore_merges"`
	Dropout                 *float64        `json:"dropout"`
}

// typed reads the "type" field of a component (normalizer, pre_tokenizer, post_processor).
type typed struct {
	Type string `json:"type"`
}

func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

func loadJSONFile(path string, cfg *tokenizerConfig) (*Tokenizer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading tokenizer.json: %w", err)
	}
	var f tokenizerFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("parsing tokenizer.json: %w", err)
	}
	var m modelJSON
	if err := json.Unmarshal(f.Model, &m); err != nil {
		return nil, fmt.Errorf("parsing model: %w", err)
	}
	if m.Type == "" {
		m.Type = inferModelType(&m)
	}
	t := &Tokenizer{}
	for _, a := range f.AddedTokens {
		t.added = append(t.added, AddedToken{ID: a.ID, Content: a.Content, SingleWord: a.SingleWord,
			LStrip: a.LStrip, RStrip: a.RStrip, Normalized: a.Normalized, Special: a.Special})
	}
	var vocab map[string]int32
	switch m.Type {
	case "WordPiece":
		t.kind = WordPiece
		vocab, err = t.buildWordPiece(&m, f.Normalizer, f.PreTokenizer, cfg)
	case "BPE":
		t.kind = BPE
		vocab, err = t.buildBPE(&m, f.Normalizer, f.PreTokenizer, cfg)
	case "Unigram":
		t.kind = Unigram
		vocab, err = unigramVocab(m.Vocab)
		if err == nil {
			t.enc, err = newUnigramFromJSON(f.Model, f.Normalizer, f.PreTokenizer)
		}
	default:
		err = fmt.Errorf("model type %q is not supported", m.Type)
	}
	if err != nil {
		return nil, err
	}
	if t.post, t.typeIDs, err = parsePostProcessor(f.PostProcessor, cfg); err != nil {
		return nil, err
	}
	if t.kind == BPE && !isNull(f.PreTokenizer) {
		t.typeIDs = false // GPT-2 style models (RoBERTa, Longformer) take no token types
	}
	t.finish(cfg, vocab)
	return t, nil
}

// inferModelType recognises the model of older tokenizer.json files, which have no "type".
func inferModelType(m *modelJSON) string {
	v := bytes.TrimSpace(m.Vocab)
	switch {
	case len(v) > 0 && v[0] == '[':
		return "Unigram"
	case !isNull(m.Merges):
		return "BPE"
	case m.MaxInputCharsPerWord > 0 || m.ContinuingSubwordPrefix != nil:
		return "WordPiece"
	}
	return ""
}

func (t *Tokenizer) buildWordPiece(m *modelJSON, normRaw, preRaw json.RawMessage, cfg *tokenizerConfig) (map[string]int32, error) {
	var vocab map[string]int32
	if err := json.Unmarshal(m.Vocab, &vocab); err != nil {
		return nil, fmt.Errorf("parsing WordPiece vocab: %w", err)
	}
	unk, prefix := "[UNK]", "##"
	if m.UnkToken != nil {
		unk = *m.UnkToken
	}
	if m.ContinuingSubwordPrefix != nil {
		prefix = *m.ContinuingSubwordPrefix
	}
	model, err := newWordPiece(vocab, unk, prefix, m.MaxInputCharsPerWord)
	if err != nil {
		return nil, err
	}
	norm, err := parseBertNormalizer(normRaw, cfg)
	if err != nil {
		return nil, err
	}
	if !isNull(preRaw) {
		var p typed
		if err := json.Unmarshal(preRaw, &p); err != nil {
			return nil, fmt.Errorf("parsing pre_tokenizer: %w", err)
		}
		if p.Type != "BertPreTokenizer" {
			return nil, fmt.Errorf("pre_tokenizer %q is not supported with WordPiece (only BertPreTokenizer)", p.Type)
		}
	}
	t.enc = newWordPieceEncoder(norm, model)
	return vocab, nil
}

// parseBertNormalizer reads a BertNormalizer (or no normaliser). HF's defaults apply to absent
// fields, strip_accents null means "same as lowercase", and tokenizer_config.json's
// do_lower_case / strip_accents / tokenize_chinese_chars override them as
// BertTokenizerFast does.
func parseBertNormalizer(raw json.RawMessage, cfg *tokenizerConfig) (bertNormalizer, error) {
	if isNull(raw) {
		return bertNormalizer{}, nil
	}
	var n struct {
		Type               string `json:"type"`
		CleanText          *bool  `json:"clean_text"`
		HandleChineseChars *bool  `json:"handle_chinese_chars"`
		StripAccents       *bool  `json:"strip_accents"`
		Lowercase          *bool  `json:"lowercase"`
	}
	if err := json.Unmarshal(raw, &n); err != nil {
		return bertNormalizer{}, fmt.Errorf("parsing normalizer: %w", err)
	}
	if n.Type != "BertNormalizer" {
		return bertNormalizer{}, fmt.Errorf("normalizer %q is not supported with WordPiece (only BertNormalizer)", n.Type)
	}
	or := func(p *bool, def bool) bool {
		if p != nil {
			return *p
		}
		return def
	}
	lower := or(n.Lowercase, true)
	strip := n.StripAccents
	chinese := or(n.HandleChineseChars, true)
	if cfg.DoLowerCase != nil {
		lower = *cfg.DoLowerCase
	}
	if cfg.StripAccents != nil {
		strip = cfg.StripAccents
	}
	if cfg.TokenizeChineseChars != nil {
		chinese = *cfg.TokenizeChineseChars
	}
	return bertNormalizer{cleanText: or(n.CleanText, true), handleChinese: chinese,
		stripAccents: or(strip, lower), lowercase: lower}, nil
}

func (t *Tokenizer) buildBPE(m *modelJSON, normRaw, preRaw json.RawMessage, cfg *tokenizerConfig) (map[string]int32, error) {
	var vocab map[string]int32
	if err := json.Unmarshal(m.Vocab, &vocab); err != nil {
		return nil, fmt.Errorf("parsing BPE vocab: %w", err)
	}
	merges, err := parseMerges(m.Merges)
	if err != nil {
		return nil, err
	}
	if m.Dropout != nil && *m.Dropout > 0 {
		return nil, fmt.Errorf("BPE dropout %g is not supported (it is random)", *m.Dropout)
	}
	if m.ByteFallback {
		return nil, fmt.Errorf("BPE byte_fallback is not supported")
	}
	if !isNull(normRaw) {
		var n typed
		_ = json.Unmarshal(normRaw, &n)
		return nil, fmt.Errorf("normalizer %q is not supported with BPE (only none)", n.Type)
	}
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	model, err := newBPE(vocab, merges, str(m.UnkToken), m.FuseUnk, str(m.ContinuingSubwordPrefix), str(m.EndOfWordSuffix), m.IgnoreMerges)
	if err != nil {
		return nil, err
	}
	bl, err := parseByteLevel(preRaw)
	if err != nil {
		return nil, err
	}
	addPrefix := bl.AddPrefixSpace
	if cfg.AddPrefixSpace != nil {
		addPrefix = *cfg.AddPrefixSpace
	}
	t.enc = newByteLevelEncoder(model, addPrefix, bl.UseRegex == nil || *bl.UseRegex)
	return vocab, nil
}

// byteLevelJSON is the ByteLevel pre-tokenizer / post-processor section.
type byteLevelJSON struct {
	Type           string `json:"type"`
	AddPrefixSpace bool   `json:"add_prefix_space"`
	TrimOffsets    *bool  `json:"trim_offsets"`
	UseRegex       *bool  `json:"use_regex"`
}

// parseByteLevel accepts a ByteLevel pre-tokenizer, alone or as the only member of a Sequence.
func parseByteLevel(raw json.RawMessage) (byteLevelJSON, error) {
	var bl byteLevelJSON
	if isNull(raw) {
		return bl, fmt.Errorf("BPE without a ByteLevel pre_tokenizer is not supported")
	}
	var seq struct {
		Type          string            `json:"type"`
		PreTokenizers []json.RawMessage `json:"pretokenizers"`
	}
	if err := json.Unmarshal(raw, &seq); err != nil {
		return bl, fmt.Errorf("parsing pre_tokenizer: %w", err)
	}
	if seq.Type == "Sequence" && len(seq.PreTokenizers) == 1 {
		raw = seq.PreTokenizers[0]
	}
	if err := json.Unmarshal(raw, &bl); err != nil {
		return bl, fmt.Errorf("parsing pre_tokenizer: %w", err)
	}
	if bl.Type != "ByteLevel" {
		return bl, fmt.Errorf("pre_tokenizer %q is not supported with BPE (only ByteLevel)", bl.Type)
	}
	return bl, nil
}

// parseMerges reads merges in either format: "a b" strings (legacy) or ["a","b"] pairs.
func parseMerges(raw json.RawMessage) ([][2]string, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, fmt.Errorf("parsing BPE merges: %w", err)
	}
	out := make([][2]string, 0, len(items))
	for i, it := range items {
		var s string
		if err := json.Unmarshal(it, &s); err == nil {
			a, b, ok := strings.Cut(s, " ")
			if !ok {
				return nil, fmt.Errorf("BPE merge %d %q is not two tokens", i, s)
			}
			out = append(out, [2]string{a, b})
			continue
		}
		var pair []string
		if err := json.Unmarshal(it, &pair); err != nil || len(pair) != 2 {
			return nil, fmt.Errorf("BPE merge %d is neither \"a b\" nor [a, b]", i)
		}
		out = append(out, [2]string{pair[0], pair[1]})
	}
	return out, nil
}

// unigramVocab reads the token -> id map of a Unigram model ([[piece, score], ...]).
func unigramVocab(raw json.RawMessage) (map[string]int32, error) {
	var items [][2]json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, fmt.Errorf("parsing Unigram vocab: %w", err)
	}
	vocab := make(map[string]int32, len(items))
	for i, it := range items {
		var s string
		if err := json.Unmarshal(it[0], &s); err != nil {
			return nil, fmt.Errorf("parsing Unigram vocab entry %d: %w", i, err)
		}
		if _, dup := vocab[s]; !dup {
			vocab[s] = int32(i)
		}
	}
	return vocab, nil
}
