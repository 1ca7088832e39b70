// Package models holds spanqa's question-answering architectures (BERT, RoBERTa, DeBERTa-v2/v3,
// Longformer), one file per family, built from the shared blocks in blocks.go and the layers in
// torch/nn. Configurations are read straight from Hugging Face config.json files and parameters
// are named by HF state-dict keys, so HF checkpoints load without renaming and HF Transformers
// can load what spanqa writes.
package models

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Config is a Hugging Face model configuration: the fields every architecture uses at the top
// level, and a section each for the fields only DeBERTa-v2 or only Longformer reads, all with HF's
// names and defaults. ParseConfig fills only the section of the config's own model_type and
// checks every enumerated value, so an unsupported one fails when the config loads, not in the
// forward pass. Keys spanqa does not know are ignored (and kept in Raw).
type Config struct {
	ModelType                 string     `json:"model_type"`
	VocabSize                 int64      `json:"vocab_size"`
	HiddenSize                int64      `json:"hidden_size"`
	NumHiddenLayers           int        `json:"num_hidden_layers"`
	NumAttentionHeads         int64      `json:"num_attention_heads"`
	IntermediateSize          int64      `json:"intermediate_size"`
	HiddenAct                 Activation `json:"hidden_act"`
	HiddenDropoutProb         float64    `json:"hidden_dropout_prob"`
	AttentionProbsDropoutProb float64    `json:"attention_probs_dropout_prob"`
	MaxPositionEmbeddings     int64      `json:"max_position_embeddings"`
	TypeVocabSize             int64      `json:"type_vocab_size"`
	InitializerRange          float64    `json:"initializer_range"`
	LayerNormEps              float64    `json:"layer_norm_eps"`
	PadTokenID                int64      `json:"pad_token_id"`
	BosTokenID                int64      `json:"bos_token_id"`
	EosTokenID                int64      `json:"eos_token_id"`
	SepTokenID                int64      `json:"sep_token_id"`
	// PositionEmbeddingType is BERT's and RoBERTa's choice of absolute or relative positions.
	PositionEmbeddingType PositionEmbedding `json:"position_embedding_type"`

	// DeBERTa is filled for model_type deberta-v2 only.
	DeBERTa DebertaConfig `json:"-"`
	// Longformer is filled for model_type longformer only.
	Longformer LongformerConfig `json:"-"`

	// TransformersVersion is the transformers release that wrote config.json. Where
	// transformers 5 computes differently from 4.x, spanqa follows the release that wrote the
	// checkpoint, and 5.x when none is recorded (see Before5).
	TransformersVersion string `json:"transformers_version"`

	// Raw keeps every key of config.json so Save writes back what it read.
	Raw map[string]any `json:"-"`
}

// DebertaConfig holds DebertaV2Config's fields beyond the common ones.
type DebertaConfig struct {
	// RelativeAttention turns on the disentangled position terms.
	RelativeAttention bool `json:"relative_attention"`
	// MaxRelativePositions bounds relative distances (below 1: max_position_embeddings).
	MaxRelativePositions int64 `json:"max_relative_positions"`
	// PositionBuckets is the number of log buckets (0 or less: no bucketing).
	PositionBuckets int64 `json:"position_buckets"`
	// PosAttType lists the position terms added to the content scores: "p2c|c2p" on hub
	// checkpoints, a list when written by save_pretrained.
	PosAttType []PosAttType `json:"-"`
	// ShareAttKey projects the relative embeddings with the content query and key projections
	// instead of projections of their own.
	ShareAttKey bool `json:"share_att_key"`
	// LayerNormRelEmbeddings is norm_rel_ebd naming "layer_norm": the relative embeddings then
	// pass the encoder's LayerNorm. norm_rel_ebd is "|"-separated, of "none" and "layer_norm".
	LayerNormRelEmbeddings bool `json:"-"`
	// PositionBiasedInput adds absolute position embeddings to the input (v2; v3 has none).
	PositionBiasedInput bool `json:"position_biased_input"`
	// ConvKernelSize > 0 adds v2's convolution after the first layer.
	ConvKernelSize int64      `json:"conv_kernel_size"`
	ConvGroups     int64      `json:"conv_groups"`
	ConvAct        Activation `json:"conv_act"`
	// EmbeddingSize is the width of the embeddings (0: hidden_size; otherwise embed_proj maps it).
	EmbeddingSize int64 `json:"embedding_size"`
	// PoolerDropout belongs to the classification pooler, which a QA model does not build.
	PoolerDropout float64 `json:"pooler_dropout"`
}

// LongformerConfig holds LongformerConfig's fields beyond the common ones.
type LongformerConfig struct {
	// AttentionWindow is one window per layer (an int in config.json is expanded), each even:
	// a token attends to window/2 tokens on either side of it.
	AttentionWindow []int64 `json:"-"`
}

// Activation is an activation function by its config.json name (hidden_act, conv_act).
type Activation string

// The activations spanqa implements.
const (
	GELU            Activation = "gelu"
	GELUNew         Activation = "gelu_new"          // tanh approximation
	GELUPytorchTanh Activation = "gelu_pytorch_tanh" // the same approximation
	ReLU            Activation = "relu"
	Tanh            Activation = "tanh"
)

var activations = []Activation{GELU, GELUNew, GELUPytorchTanh, ReLU, Tanh}

// PositionEmbedding is BERT's and RoBERTa's position_embedding_type.
type PositionEmbedding string

const (
	// AbsolutePositions adds a learned embedding per position to the input ("" means the same).
	AbsolutePositions PositionEmbedding = "absolute"
	// RelativeKey adds query·distance embedding to the attention scores instead (Shaw et al.).
	RelativeKey PositionEmbedding = "relative_key"
	// RelativeKeyQuery adds key·distance embedding as well (Huang et al.).
	RelativeKeyQuery PositionEmbedding = "relative_key_query"
)

// PosAttType is one of DeBERTa's disentangled position terms.
type PosAttType string

const (
	// C2P scores each query's content against the relative position embeddings.
	C2P PosAttType = "c2p"
	// P2C scores each key's content against the relative position embeddings.
	P2C PosAttType = "p2c"
)

// norm_rel_ebd values.
const (
	normRelNone      = "none"
	normRelLayerNorm = "layer_norm"
)

// defaultConfig holds HF's PretrainedConfig/BertConfig defaults (and those of the architecture's
// own config class) for fields a config.json may omit: save_pretrained writes only values that
// differ from the class defaults.
func defaultConfig(modelType string) Config {
	c := Config{
		ModelType: modelType, VocabSize: 30522, HiddenSize: 768, NumHiddenLayers: 12, NumAttentionHeads: 12,
		IntermediateSize: 3072, HiddenAct: GELU, HiddenDropoutProb: 0.1, AttentionProbsDropoutProb: 0.1,
		MaxPositionEmbeddings: 512, TypeVocabSize: 2, InitializerRange: 0.02, LayerNormEps: 1e-12,
		PositionEmbeddingType: AbsolutePositions,
	}
	switch modelType {
	case "roberta":
		c.PadTokenID, c.BosTokenID, c.EosTokenID = 1, 0, 2
	case "longformer":
		c.PadTokenID, c.BosTokenID, c.EosTokenID, c.SepTokenID = 1, 0, 2, 2
		c.Longformer.AttentionWindow = []int64{512}
	case "deberta-v2":
		c.VocabSize, c.HiddenSize, c.NumHiddenLayers, c.NumAttentionHeads, c.IntermediateSize = 128100, 1536, 24, 24, 6144
		c.TypeVocabSize, c.LayerNormEps = 0, 1e-7
		c.DeBERTa = DebertaConfig{MaxRelativePositions: -1, PositionBiasedInput: true, PositionBuckets: -1, ConvGroups: 1, ConvAct: Tanh}
	}
	return c
}

// ParseConfig reads a config.json's bytes and checks them.
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
	switch mt {
	case "deberta-v2":
		if err := c.DeBERTa.parse(data, raw); err != nil {
			return nil, err
		}
	case "longformer":
		if err := c.Longformer.parse(raw, c.NumHiddenLayers); err != nil {
			return nil, err
		}
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// parse reads the DeBERTa section from config.json's bytes and decoded keys.
func (d *DebertaConfig) parse(data []byte, raw map[string]any) error {
	if err := json.Unmarshal(data, d); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if d.ConvAct == "" {
		d.ConvAct = Tanh // HF's getattr(config, "conv_act", "tanh")
	}
	if d.ConvGroups < 1 {
		d.ConvGroups = 1
	}
	var terms []string
	switch v := raw["pos_att_type"].(type) {
	case string:
		for _, p := range strings.Split(strings.ToLower(v), "|") {
			if p = strings.TrimSpace(p); p != "" {
				terms = append(terms, p)
			}
		}
	case []any:
		for _, p := range v {
			s, ok := p.(string)
			if !ok {
				return fmt.Errorf("config: pos_att_type holds %v, want strings", p)
			}
			terms = append(terms, strings.ToLower(s))
		}
	}
	for _, t := range terms {
		if err := oneOf("pos_att_type entry", PosAttType(t), C2P, P2C); err != nil {
			return err
		}
		d.PosAttType = append(d.PosAttType, PosAttType(t))
	}
	// HF: [x.strip() for x in getattr(config, "norm_rel_ebd", "none").lower().split("|")].
	if v, ok := raw["norm_rel_ebd"]; ok && v != nil {
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("config: norm_rel_ebd is %v, want a string", v)
		}
		for _, opt := range strings.Split(strings.ToLower(s), "|") {
			if opt = strings.TrimSpace(opt); opt == "" {
				continue
			}
			if err := oneOf("norm_rel_ebd entry", opt, normRelNone, normRelLayerNorm); err != nil {
				return err
			}
			d.LayerNormRelEmbeddings = d.LayerNormRelEmbeddings || opt == normRelLayerNorm
		}
	}
	return nil
}

// parse reads attention_window (one int for every layer, or one per layer).
func (l *LongformerConfig) parse(raw map[string]any, layers int) error {
	switch v := raw["attention_window"].(type) {
	case float64:
		l.AttentionWindow = []int64{int64(v)}
	case []any:
		l.AttentionWindow = nil
		for _, w := range v {
			f, ok := w.(float64)
			if !ok {
				return fmt.Errorf("config: attention_window holds %v, want integers", w)
			}
			l.AttentionWindow = append(l.AttentionWindow, int64(f))
		}
	}
	if len(l.AttentionWindow) == 1 && layers > 1 {
		w := l.AttentionWindow[0]
		l.AttentionWindow = make([]int64, layers)
		for i := range l.AttentionWindow {
			l.AttentionWindow[i] = w
		}
	}
	return nil
}

// LoadConfig reads path (a config.json) and checks it.
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
	if err := oneOf("hidden_act", c.HiddenAct, activations...); err != nil {
		return err
	}
	if c.PositionEmbeddingType != "" {
		if err := oneOf("position_embedding_type", c.PositionEmbeddingType, AbsolutePositions, RelativeKey, RelativeKeyQuery); err != nil {
			return err
		}
	}
	if c.RelativePositions() && c.ModelType != "bert" && c.ModelType != "roberta" {
		return fmt.Errorf("config: position_embedding_type %q is for BERT and RoBERTa, not %s", c.PositionEmbeddingType, c.ModelType)
	}
	switch c.ModelType {
	case "deberta-v2":
		if d := c.DeBERTa; d.ConvKernelSize > 0 {
			if err := oneOf("conv_act", d.ConvAct, activations...); err != nil {
				return err
			}
			if d.ConvKernelSize%2 == 0 {
				// With padding (k-1)/2 an even kernel shortens the sequence and HF fails at the residual.
				return fmt.Errorf("config: conv_kernel_size %d must be odd", d.ConvKernelSize)
			}
			if c.HiddenSize%d.ConvGroups != 0 {
				return fmt.Errorf("config: hidden_size %d is not a multiple of conv_groups %d", c.HiddenSize, d.ConvGroups)
			}
		}
	case "longformer":
		windows := c.Longformer.AttentionWindow
		if len(windows) != c.NumHiddenLayers {
			return fmt.Errorf("config: attention_window has %d entries for %d layers", len(windows), c.NumHiddenLayers)
		}
		for i, w := range windows {
			if w <= 0 || w%2 != 0 {
				return fmt.Errorf("config: attention_window[%d] = %d must be positive and even", i, w)
			}
		}
	}
	return nil
}

// oneOf checks an enumerated field, naming the field and the allowed values when v is none of
// them.
func oneOf[E ~string](field string, v E, allowed ...E) error {
	if slices.Contains(allowed, v) {
		return nil
	}
	names := make([]string, len(allowed))
	for i, a := range allowed {
		names[i] = string(a)
	}
	return fmt.Errorf("config: %s %q is not supported (allowed: %s)", field, v, strings.Join(names, ", "))
}

// RelativePositions reports whether a BERT/RoBERTa config uses HF's relative_key or
// relative_key_query positions (learned distance embeddings instead of absolute positions),
// which transformers 4.x implements and 5.x dropped: 5.x loads such a model without an error but
// computes absolute positions (its load report only lists distance_embedding as unexpected), so
// the model answers differently there.
func (c *Config) RelativePositions() bool {
	return c.PositionEmbeddingType == RelativeKey || c.PositionEmbeddingType == RelativeKeyQuery
}

// Before5 reports whether config.json was written by transformers 4.x or earlier.
func (c *Config) Before5() bool {
	major, _, _ := strings.Cut(c.TransformersVersion, ".")
	n, err := strconv.Atoi(major)
	return err == nil && n < 5
}

// HeadDim is the size of one attention head.
func (c *Config) HeadDim() int64 { return c.HiddenSize / c.NumAttentionHeads }

// MaxLength is the longest sequence the configuration's position table allows: RoBERTa's and
// Longformer's position ids start after pad_token_id, so pad_token_id+1 rows go unused.
func (c *Config) MaxLength() int64 {
	switch c.ModelType {
	case "roberta", "longformer":
		return c.MaxPositionEmbeddings - c.PadTokenID - 1
	}
	return c.MaxPositionEmbeddings
}

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
