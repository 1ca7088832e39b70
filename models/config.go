// Package models holds spanqa's question-answering architectures (BERT, RoBERTa, DeBERTa-v2/v3,
// Longformer), one file each, built from the shared layers in torch/nn. Configurations are read
// straight from Hugging Face config.json files and parameters are named by HF state-dict keys,
// so HF checkpoints load without renaming and HF Transformers can load what spanqa writes.
package models

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Config is a Hugging Face model configuration: the union of the fields the four
// architectures use, with HF's names and defaults. Fields a model does not use are ignored,
// as are keys spanqa does not know.
type Config struct {
	ModelType                 string  `json:"model_type"`
	VocabSize                 int64   `json:"vocab_size"`
	HiddenSize                int64   `json:"hidden_size"`
	NumHiddenLayers           int     `json:"num_hidden_layers"`
	NumAttentionHeads         int64   `json:"num_attention_heads"`
	IntermediateSize          int64   `json:"intermediate_size"`
	HiddenAct                 string  `json:"hidden_act"`
	HiddenDropoutProb         float64 `json:"hidden_dropout_prob"`
	AttentionProbsDropoutProb float64 `json:"attention_probs_dropout_prob"`
	MaxPositionEmbeddings     int64   `json:"max_position_embeddings"`
	TypeVocabSize             int64   `json:"type_vocab_size"`
	InitializerRange          float64 `json:"initializer_range"`
	LayerNormEps              float64 `json:"layer_norm_eps"`
	PadTokenID                int64   `json:"pad_token_id"`
	BosTokenID                int64   `json:"bos_token_id"`
	EosTokenID                int64   `json:"eos_token_id"`
	SepTokenID                int64   `json:"sep_token_id"`
	PositionEmbeddingType     string  `json:"position_embedding_type"`

	// DeBERTa-v2/v3.
	RelativeAttention    bool     `json:"relative_attention"`
	MaxRelativePositions int64    `json:"max_relative_positions"`
	PositionBuckets      int64    `json:"position_buckets"`
	PosAttType           []string `json:"-"`
	ShareAttKey          bool     `json:"share_att_key"`
	NormRelEbd           string   `json:"norm_rel_ebd"`
	PositionBiasedInput  bool     `json:"position_biased_input"`
	ConvKernelSize       int64    `json:"conv_kernel_size"`
	ConvGroups           int64    `json:"conv_groups"`
	ConvAct              string   `json:"conv_act"`
	EmbeddingSize        int64    `json:"embedding_size"`
	PoolerDropout        float64  `json:"pooler_dropout"`

	// Longformer: one window per layer (an int in config.json is expanded).
	AttentionWindow []int64 `json:"-"`

	// TransformersVersion is the transformers release that wrote config.json. Where
	// transformers 5 computes differently from 4.x, spanqa follows the release that wrote the
	// checkpoint, and 5.x when none is recorded (see Before5).
	TransformersVersion string `json:"transformers_version"`

	// Raw keeps every key of config.json so Save writes back what it read.
	Raw map[string]any `json:"-"`
}

// defaults are HF's PretrainedConfig/BertConfig defaults for fields a config.json may omit
// (save_pretrained writes only values that differ from the class defaults).
func defaultConfig(modelType string) Config {
	c := Config{
		ModelType: modelType, VocabSize: 30522, HiddenSize: 768, NumHiddenLayers: 12, NumAttentionHeads: 12,
		IntermediateSize: 3072, HiddenAct: "gelu", HiddenDropoutProb: 0.1, AttentionProbsDropoutProb: 0.1,
		MaxPositionEmbeddings: 512, TypeVocabSize: 2, InitializerRange: 0.02, LayerNormEps: 1e-12,
		PositionEmbeddingType: "absolute",
	}
	switch modelType {
	case "roberta":
		c.PadTokenID, c.BosTokenID, c.EosTokenID = 1, 0, 2
	case "longformer":
		c.PadTokenID, c.BosTokenID, c.EosTokenID, c.SepTokenID = 1, 0, 2, 2
		c.AttentionWindow = []int64{512}
	case "deberta-v2":
		c.VocabSize, c.HiddenSize, c.NumHiddenLayers, c.NumAttentionHeads, c.IntermediateSize = 128100, 1536, 24, 24, 6144
		c.TypeVocabSize, c.LayerNormEps, c.MaxRelativePositions = 0, 1e-7, -1
		c.PositionBiasedInput, c.PositionBuckets, c.ConvGroups, c.ConvAct = true, -1, 1, "tanh"
		c.NormRelEbd = "none"
	}
	return c
}

// ParseConfig reads a config.json's bytes.
func ParseConfig(data []byte) (*Config, error) {
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	mt, _ := raw["model_type"].(string)
	if mt == "" {
		return nil, fmt.Errorf("config: no model_type")
	}
	c := defaultConfig(mt)
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c.Raw = raw
	// pos_att_type is "p2c|c2p" on hub checkpoints and a list when written by save_pretrained.
	switch v := raw["pos_att_type"].(type) {
	case string:
		for _, p := range strings.Split(strings.ToLower(v), "|") {
			if p = strings.TrimSpace(p); p != "" {
				c.PosAttType = append(c.PosAttType, p)
			}
		}
	case []any:
		for _, p := range v {
			if s, ok := p.(string); ok {
				c.PosAttType = append(c.PosAttType, strings.ToLower(s))
			}
		}
	}
	switch v := raw["attention_window"].(type) {
	case float64:
		c.AttentionWindow = make([]int64, c.NumHiddenLayers)
		for i := range c.AttentionWindow {
			c.AttentionWindow[i] = int64(v)
		}
	case []any:
		c.AttentionWindow = nil
		for _, w := range v {
			f, ok := w.(float64)
			if !ok {
				return nil, fmt.Errorf("config: attention_window holds %v, want integers", w)
			}
			c.AttentionWindow = append(c.AttentionWindow, int64(f))
		}
	}
	if c.ModelType == "longformer" && len(c.AttentionWindow) == 1 && c.NumHiddenLayers > 1 {
		w := c.AttentionWindow[0]
		c.AttentionWindow = make([]int64, c.NumHiddenLayers)
		for i := range c.AttentionWindow {
			c.AttentionWindow[i] = w
		}
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// LoadConfig reads path (a config.json).
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

func (c *Config) validate() error {
	if c.HiddenSize <= 0 || c.NumAttentionHeads <= 0 || c.HiddenSize%c.NumAttentionHeads != 0 {
		return fmt.Errorf("config: hidden_size %d is not a multiple of num_attention_heads %d", c.HiddenSize, c.NumAttentionHeads)
	}
	if c.NumHiddenLayers <= 0 || c.VocabSize <= 0 || c.IntermediateSize <= 0 {
		return fmt.Errorf("config: num_hidden_layers, vocab_size and intermediate_size must be positive")
	}
	switch c.PositionEmbeddingType {
	case "", "absolute":
	case "relative_key", "relative_key_query":
		if c.ModelType != "bert" && c.ModelType != "roberta" {
			return fmt.Errorf("config: position_embedding_type %q is for BERT and RoBERTa, not %s", c.PositionEmbeddingType, c.ModelType)
		}
	default:
		return fmt.Errorf("config: position_embedding_type %q is not supported (absolute, relative_key or relative_key_query)", c.PositionEmbeddingType)
	}
	if c.ModelType == "longformer" && len(c.AttentionWindow) != c.NumHiddenLayers {
		return fmt.Errorf("config: attention_window has %d entries for %d layers", len(c.AttentionWindow), c.NumHiddenLayers)
	}
	for i, w := range c.AttentionWindow {
		if w <= 0 || w%2 != 0 {
			return fmt.Errorf("config: attention_window[%d] = %d must be positive and even", i, w)
		}
	}
	return nil
}

// relativePositions says whether BERT/RoBERTa attention uses learned distance embeddings
// (HF's relative_key / relative_key_query) instead of absolute position embeddings.
// RelativePositions reports whether a BERT/RoBERTa config uses HF's relative_key or
// relative_key_query positions, which transformers 4.x implements and 5.x dropped: 5.x loads
// such a model without an error but computes absolute positions (its load report only lists
// distance_embedding as unexpected), so the model answers differently there.
func (c *Config) RelativePositions() bool { return c.relativePositions() }

func (c *Config) relativePositions() bool {
	return c.PositionEmbeddingType == "relative_key" || c.PositionEmbeddingType == "relative_key_query"
}

// Before5 reports whether config.json was written by transformers 4.x or earlier.
func (c *Config) Before5() bool {
	major, _, _ := strings.Cut(c.TransformersVersion, ".")
	n, err := strconv.Atoi(major)
	return err == nil && n < 5
}

// HeadDim is the size of one attention head.
func (c *Config) HeadDim() int64 { return c.HiddenSize / c.NumAttentionHeads }

// Override sets fields from "key=value" pairs (e.g. hidden_dropout_prob=0), as
// run_qa.py's --config_overrides does.
func (c *Config) Override(pairs string) error {
	if strings.TrimSpace(pairs) == "" {
		return nil
	}
	raw := map[string]any{}
	for k, v := range c.Raw {
		raw[k] = v
	}
	for _, kv := range strings.Split(pairs, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return fmt.Errorf("config override %q: want key=value", kv)
		}
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			raw[k] = f
		} else if b, err := strconv.ParseBool(v); err == nil {
			raw[k] = b
		} else {
			raw[k] = v
		}
	}
	data, err := json.Marshal(raw)
	if err != nil {
		return err
	}
	nc, err := ParseConfig(data)
	if err != nil {
		return fmt.Errorf("config overrides %q: %w", pairs, err)
	}
	*c = *nc
	return nil
}

// JSON returns the configuration as config.json bytes (the keys read, with overrides applied).
func (c *Config) JSON() ([]byte, error) { return json.MarshalIndent(c.Raw, "", "  ") }
