package models

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
)

// TokenizerFiles are the tokenizer files a model folder may hold; Convert copies those present.
var TokenizerFiles = []string{
	"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
	"vocab.txt", "vocab.json", "merges.txt", "spm.model",
}

// Manifest is spanqa.json, the small summary of a canonical spanqa model folder.
type Manifest struct {
	Architecture  string `json:"architecture"`
	ModelType     string `json:"model_type"`
	TokenizerKind string `json:"tokenizer_kind"`
	// MaxLength is the longest input the model accepts (position table size, less RoBERTa's
	// offset of pad_token_id+1).
	MaxLength  int64  `json:"max_length"`
	Parameters int64  `json:"parameters"`
	Source     string `json:"source"`
}

// Architectures maps model_type to HF's QA class name.
var Architectures = map[string]string{
	"bert": "BertForQuestionAnswering", "roberta": "RobertaForQuestionAnswering",
	"deberta-v2": "DebertaV2ForQuestionAnswering", "longformer": "LongformerForQuestionAnswering",
}

// Convert reads an HF model folder (any supported weight format) and writes spanqa's canonical
// folder: config.json, model.safetensors with HF key names (loadable by HF Transformers), the
// tokenizer files and spanqa.json.
func Convert(src, dst string, logger *log.Logger) (*Manifest, error) {
	m, err := Load(src, LoadOptions{Log: logger})
	if err != nil {
		return nil, err
	}
	defer m.Params().Free()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return nil, fmt.Errorf("models: convert: %w", err)
	}
	cfg := m.Config()
	if err := Save(m, dst); err != nil {
		return nil, err
	}
	kind := ""
	for _, f := range TokenizerFiles {
		if _, err := os.Stat(filepath.Join(src, f)); err != nil {
			continue
		}
		if err := copyFile(filepath.Join(src, f), filepath.Join(dst, f)); err != nil {
			return nil, fmt.Errorf("models: convert: %w", err)
		}
		kind = tokenizerKind(src, f, kind)
	}
	man := &Manifest{
		Architecture: Architectures[cfg.ModelType], ModelType: cfg.ModelType, TokenizerKind: kind,
		MaxLength: cfg.MaxLength(), Parameters: m.Params().Count(), Source: src,
	}
	data, _ := json.MarshalIndent(man, "", "  ")
	if err := writeFileAtomic(filepath.Join(dst, "spanqa.json"), append(data, '\n')); err != nil {
		return nil, fmt.Errorf("models: convert: %w", err)
	}
	return man, nil
}

// Save writes config.json and model.safetensors for m into dir.
func Save(m QAModel, dir string) error {
	cfg := m.Config()
	raw := map[string]any{}
	for k, v := range cfg.Raw {
		raw[k] = v
	}
	if _, ok := raw["architectures"]; !ok {
		raw["architectures"] = []string{Architectures[cfg.ModelType]}
	}
	data, err := json.MarshalIndent(raw, "", "  ")
	if err != nil {
		return fmt.Errorf("models: save config: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(dir, "config.json"), append(data, '\n')); err != nil {
		return fmt.Errorf("models: save config: %w", err)
	}
	return SaveWeights(m, filepath.Join(dir, "model.safetensors"))
}

// tokenizerKind names the tokenizer family from the files seen so far.
func tokenizerKind(dir, file, prev string) string {
	switch file {
	case "tokenizer.json":
		var tj struct {
			Model struct {
				Type string `json:"type"`
			} `json:"model"`
		}
		if data, err := os.ReadFile(filepath.Join(dir, file)); err == nil && json.Unmarshal(data, &tj) == nil && tj.Model.Type != "" {
			return map[string]string{"WordPiece": "wordpiece", "BPE": "bpe", "Unigram": "unigram"}[tj.Model.Type]
		}
	case "vocab.txt":
		if prev == "" {
			return "wordpiece"
		}
	case "merges.txt":
		if prev == "" {
			return "bpe"
		}
	case "spm.model":
		if prev == "" {
			return "unigram"
		}
	}
	return prev
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	data, err := io.ReadAll(in)
	if err != nil {
		return err
	}
	return writeFileAtomic(dst, data)
}

// writeFileAtomic writes via a temporary file, fsync and rename, so a crash never leaves a
// half-written file under the final name.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
