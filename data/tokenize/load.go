package tokenize

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Load reads the tokenizer in dir: tokenizer.json when present (encoding exactly as the tokenizers
// package's Tokenizer.from_file does), otherwise the legacy files of the slow tokenizers, built
// into the pipeline transformers 5.x builds from them: vocab.txt (BERT WordPiece), vocab.json +
// merges.txt (RoBERTa/Longformer byte-level BPE) or spm.model (DeBERTa-v3 Unigram).
// tokenizer_config.json, when present, supplies padding_side, model_max_length and the options
// transformers' fast tokenizers apply on top of tokenizer.json (do_lower_case, strip_accents,
// add_prefix_space, trim_offsets, split_by_punct).
func Load(dir string) (*Tokenizer, error) {
	cfg, err := readConfig(filepath.Join(dir, "tokenizer_config.json"))
	if err != nil {
		return nil, err
	}
	var t *Tokenizer
	switch {
	case exists(filepath.Join(dir, "tokenizer.json")):
		t, err = loadJSONFile(filepath.Join(dir, "tokenizer.json"), cfg)
	case exists(filepath.Join(dir, "vocab.txt")):
		t, err = loadBertVocab(filepath.Join(dir, "vocab.txt"), cfg)
	case exists(filepath.Join(dir, "vocab.json")) && exists(filepath.Join(dir, "merges.txt")):
		t, err = loadRobertaFiles(filepath.Join(dir, "vocab.json"), filepath.Join(dir, "merges.txt"), cfg)
	case exists(filepath.Join(dir, "spm.model")):
		t, err = loadSPMFile(filepath.Join(dir, "spm.model"), cfg)
	default:
		return nil, fmt.Errorf("tokenize: no tokenizer.json, vocab.txt, vocab.json+merges.txt or spm.model in %s", dir)
	}
	if err != nil {
		return nil, fmt.Errorf("tokenize: loading %s: %w", dir, err)
	}
	return t, nil
}

// LoadFile reads a tokenizer.json file (no tokenizer_config.json is consulted).
func LoadFile(path string) (*Tokenizer, error) {
	t, err := loadJSONFile(path, &tokenizerConfig{})
	if err != nil {
		return nil, fmt.Errorf("tokenize: loading %s: %w", path, err)
	}
	return t, nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// tokenizerConfig is the part of transformers' tokenizer_config.json that changes encoding.
// Pointers distinguish "absent" from false/zero.
type tokenizerConfig struct {
	DoLowerCase          *bool    `json:"do_lower_case"`
	StripAccents         *bool    `json:"strip_accents"`
	TokenizeChineseChars *bool    `json:"tokenize_chinese_chars"`
	AddPrefixSpace       *bool    `json:"add_prefix_space"`
	TrimOffsets          *bool    `json:"trim_offsets"`
	SplitByPunct         *bool    `json:"split_by_punct"`
	PaddingSide          string   `json:"padding_side"`
	ModelMaxLength       *float64 `json:"model_max_length"`
}

func readConfig(path string) (*tokenizerConfig, error) {
	cfg := &tokenizerConfig{}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return cfg, nil
	}
	if err != nil {
		return nil, fmt.Errorf("tokenize: reading %s: %w", path, err)
	}
	if err := json.Unmarshal(data, cfg); err != nil {
		return nil, fmt.Errorf("tokenize: parsing %s: %w", path, err)
	}
	return cfg, nil
}

// finish sets what every loader shares: the config-driven accessors, the added-token matchers
// and the vocabulary with added tokens.
func (t *Tokenizer) finish(cfg *tokenizerConfig, modelVocab map[string]int32) {
	t.paddingSide = "right"
	if cfg.PaddingSide == "left" {
		t.paddingSide = "left"
	}
	// transformers stores "no limit" as a huge number (1e30).
	if cfg.ModelMaxLength != nil && *cfg.ModelMaxLength > 0 && *cfg.ModelMaxLength < 1e7 {
		t.modelMaxLength = int(*cfg.ModelMaxLength)
	}
	t.vocab = make(map[string]int64, len(modelVocab)+len(t.added))
	for tok, id := range modelVocab {
		t.vocab[tok] = int64(id)
	}
	var raw, norm []AddedToken
	for _, a := range t.added {
		t.vocab[a.Content] = a.ID
		if a.Normalized {
			if tn, ok := t.enc.(textNormalizer); ok {
				a.Content = tn.normalizeText(a.Content)
			}
			norm = append(norm, a)
		} else {
			raw = append(raw, a)
		}
	}
	t.rawAdded, t.normAdded = newAddedMatcher(raw), newAddedMatcher(norm)
	t.clsID, t.sepID = -1, -1
	var specials []int64
	for _, it := range t.post.pair {
		specials = append(specials, it.ids...)
	}
	if len(specials) > 0 {
		t.clsID, t.sepID = specials[0], specials[len(specials)-1]
	}
	t.padID = -1
	for _, p := range []string{"[PAD]", "<pad>"} {
		if id, ok := t.vocab[p]; ok {
			t.padID = id
			break
		}
	}
}
