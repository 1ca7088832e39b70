package models

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// configWith is a small valid config.json of modelType with extra keys merged in.
func configWith(t *testing.T, modelType string, extra map[string]any) []byte {
	c := map[string]any{
		"model_type": modelType, "vocab_size": 100, "hidden_size": 32, "num_hidden_layers": 2,
		"num_attention_heads": 4, "intermediate_size": 37,
	}
	for k, v := range extra {
		c[k] = v
	}
	data, err := json.Marshal(c)
	require.NoError(t, err)
	return data
}

// An unsupported enumerated value fails when the config loads, with an error that names the
// field, the value and the values allowed.
func TestConfigLoadErrors(t *testing.T) {
	activations := "(allowed: gelu, gelu_new, gelu_pytorch_tanh, relu, tanh)"
	for _, c := range []struct {
		name, modelType string
		extra           map[string]any
		want            []string
	}{
		{"hidden_act", "bert", map[string]any{"hidden_act": "swish"},
			[]string{`hidden_act "swish" is not supported`, activations}},
		{"hidden_act deberta", "deberta-v2", map[string]any{"hidden_act": "gelu_fast"},
			[]string{`hidden_act "gelu_fast" is not supported`, activations}},
		{"position_embedding_type", "roberta", map[string]any{"position_embedding_type": "rotary"},
			[]string{`position_embedding_type "rotary" is not supported`, "(allowed: absolute, relative_key, relative_key_query)"}},
		{"relative positions elsewhere", "longformer", map[string]any{"position_embedding_type": "relative_key"},
			[]string{`position_embedding_type "relative_key" is for BERT and RoBERTa, not longformer`}},
		{"norm_rel_ebd", "deberta-v2", map[string]any{"norm_rel_ebd": "layer_norm|batch_norm"},
			[]string{`norm_rel_ebd entry "batch_norm" is not supported`, "(allowed: none, layer_norm)"}},
		{"norm_rel_ebd type", "deberta-v2", map[string]any{"norm_rel_ebd": 1},
			[]string{"norm_rel_ebd is 1, want a string"}},
		{"pos_att_type string", "deberta-v2", map[string]any{"pos_att_type": "p2c|p2p"},
			[]string{`pos_att_type entry "p2p" is not supported`, "(allowed: c2p, p2c)"}},
		{"pos_att_type list", "deberta-v2", map[string]any{"pos_att_type": []any{"c2p", "c2c"}},
			[]string{`pos_att_type entry "c2c" is not supported`, "(allowed: c2p, p2c)"}},
		{"pos_att_type entry type", "deberta-v2", map[string]any{"pos_att_type": []any{"c2p", 2}},
			[]string{"pos_att_type holds 2, want strings"}},
		{"conv_act", "deberta-v2", map[string]any{"conv_kernel_size": 3, "conv_act": "swish"},
			[]string{`conv_act "swish" is not supported`, activations}},
		{"conv_kernel_size", "deberta-v2", map[string]any{"conv_kernel_size": 4},
			[]string{"conv_kernel_size 4 must be odd"}},
		{"conv_groups", "deberta-v2", map[string]any{"conv_kernel_size": 3, "conv_groups": 5},
			[]string{"hidden_size 32 is not a multiple of conv_groups 5"}},
		{"attention_window odd", "longformer", map[string]any{"attention_window": 3},
			[]string{"attention_window[0] = 3 must be positive and even"}},
		{"attention_window per layer", "longformer", map[string]any{"attention_window": []any{4, 4, 4}},
			[]string{"attention_window has 3 entries for 2 layers"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			data := configWith(t, c.modelType, c.extra)
			_, err := ParseConfig(data)
			require.Error(t, err)
			for _, w := range c.want {
				assert.ErrorContains(t, err, w)
			}

			// LoadConfig reports the same, naming the file.
			path := filepath.Join(t.TempDir(), "config.json")
			require.NoError(t, os.WriteFile(path, data, 0o644))
			_, err = LoadConfig(path)
			require.Error(t, err)
			assert.ErrorContains(t, err, path)
			assert.ErrorContains(t, err, c.want[0])
		})
	}
}

// The per-architecture sections hold typed values; only the config's own section is read.
func TestConfigSections(t *testing.T) {
	deberta := map[string]any{
		"pos_att_type": "P2C | c2p", "norm_rel_ebd": "layer_norm|none", "relative_attention": true,
		"position_buckets": 16, "share_att_key": true, "position_biased_input": false, "hidden_act": "gelu_new",
	}
	cfg, err := ParseConfig(configWith(t, "deberta-v2", deberta))
	require.NoError(t, err)
	assert.Equal(t, GELUNew, cfg.HiddenAct)
	assert.Equal(t, []PosAttType{P2C, C2P}, cfg.DeBERTa.PosAttType)
	assert.True(t, cfg.DeBERTa.LayerNormRelEmbeddings)
	assert.True(t, cfg.DeBERTa.RelativeAttention)
	assert.True(t, cfg.DeBERTa.ShareAttKey)
	assert.False(t, cfg.DeBERTa.PositionBiasedInput)
	assert.Equal(t, int64(16), cfg.DeBERTa.PositionBuckets)
	assert.Equal(t, Tanh, cfg.DeBERTa.ConvAct, "HF's default conv_act")
	assert.Equal(t, int64(1), cfg.DeBERTa.ConvGroups)

	cfg, err = ParseConfig(configWith(t, "deberta-v2", map[string]any{"norm_rel_ebd": "none", "pos_att_type": []any{"c2p"}}))
	require.NoError(t, err)
	assert.False(t, cfg.DeBERTa.LayerNormRelEmbeddings)
	assert.Equal(t, []PosAttType{C2P}, cfg.DeBERTa.PosAttType)

	cfg, err = ParseConfig(configWith(t, "longformer", map[string]any{"attention_window": 8}))
	require.NoError(t, err)
	assert.Equal(t, []int64{8, 8}, cfg.Longformer.AttentionWindow, "one window per layer")

	// Another architecture's fields are not read, so they cannot fail a config either.
	cfg, err = ParseConfig(configWith(t, "bert", map[string]any{"pos_att_type": "x", "attention_window": 3}))
	require.NoError(t, err)
	assert.Empty(t, cfg.DeBERTa.PosAttType)
	assert.Empty(t, cfg.Longformer.AttentionWindow)
	assert.Equal(t, AbsolutePositions, cfg.PositionEmbeddingType)
}

// Overrides are checked as config.json is, and JSON writes back the keys read.
func TestConfigOverrideChecked(t *testing.T) {
	cfg, err := ParseConfig(configWith(t, "bert", map[string]any{"unknown_key": "kept"}))
	require.NoError(t, err)
	require.NoError(t, cfg.Override("hidden_act=relu,hidden_dropout_prob=0"))
	assert.Equal(t, ReLU, cfg.HiddenAct)
	assert.Equal(t, 0.0, cfg.HiddenDropoutProb)
	err = cfg.Override("hidden_act=silu")
	require.ErrorContains(t, err, `hidden_act "silu" is not supported`)
	assert.Equal(t, ReLU, cfg.HiddenAct, "a failed override changes nothing")

	data, err := cfg.JSON()
	require.NoError(t, err)
	var back map[string]any
	require.NoError(t, json.Unmarshal(data, &back))
	assert.Equal(t, "kept", back["unknown_key"])
	assert.Equal(t, "relu", back["hidden_act"])
}
