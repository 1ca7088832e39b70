package models

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spanqa/spanqa/torch"
)

// The fixture (deberta-v3, position_buckets 16) is covered by parity_test.go. These tests
// cover the configurations it does not: v2-style checkpoints with the convolution, absolute
// positions, token types, separate position projections and embed_proj, and unbucketed
// relative positions with one score term.

// debertaV2Config is a tiny v2-style configuration. Its sequences (12) are longer than half
// the bucket count (4), so the log-bucket branch runs.
const debertaV2Config = `{
  "model_type": "deberta-v2", "vocab_size": 100, "hidden_size": 32, "embedding_size": 24,
  "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 37,
  "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
  "max_position_embeddings": 64, "type_vocab_size": 2, "initializer_range": 0.2,
  "layer_norm_eps": 1e-7, "pad_token_id": 0, "relative_attention": true,
  "max_relative_positions": -1, "position_buckets": 8, "norm_rel_ebd": "layer_norm",
  "share_att_key": false, "pos_att_type": "p2c|c2p", "position_biased_input": true,
  "conv_kernel_size": 3, "conv_act": "gelu"
}`

// debertaUnbucketedConfig has no buckets and a relative span (6) shorter than the sequences,
// so positions are clamped to the table instead; only the c2p term is used.
const debertaUnbucketedConfig = `{
  "model_type": "deberta-v2", "vocab_size": 100, "hidden_size": 32, "num_hidden_layers": 2,
  "num_attention_heads": 4, "intermediate_size": 37, "hidden_dropout_prob": 0.1,
  "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 64, "type_vocab_size": 0,
  "initializer_range": 0.2, "relative_attention": true, "max_relative_positions": 6,
  "position_buckets": -1, "norm_rel_ebd": "none", "share_att_key": true,
  "pos_att_type": ["c2p"], "position_biased_input": false
}`

// newTestModel builds any architecture from a config.json text with seeded random weights.
func newTestModel(t *testing.T, config string) QAModel {
	cfg, err := ParseConfig([]byte(config))
	require.NoError(t, err)
	torch.ManualSeed(7)
	m, err := New(cfg, torch.CPU)
	require.NoError(t, err)
	t.Cleanup(m.Params().Free)
	return m
}

func TestDebertaLogBucketPositions(t *testing.T) {
	torch.WithScope(func(s *torch.Scope) {
		const length, buckets, maxPos = 45, 16, 128
		got := relativePositions(s, length, buckets, maxPos, torch.CPU)
		require.Equal(t, []int64{length, length}, got.Shape())
		v := got.Int64s()
		lo, hi := int64(0), int64(0)
		for i := int64(0); i < length; i++ {
			for j := int64(0); j < length; j++ {
				r, b := i-j, v[i*length+j]
				want := r
				if d := math.Abs(float64(r)); d > buckets/2 {
					// The formula in exact arithmetic; no distance here lies near a rounding edge.
					mid := float64(buckets / 2)
					want = int64(math.Copysign(math.Ceil(math.Log(d/mid)/math.Log((maxPos-1)/mid)*(mid-1))+mid, float64(r)))
				}
				require.Equal(t, want, b, "bucket of %d", r)
				lo, hi = min(lo, b), max(hi, b)
			}
		}
		// README: at length 45 the buckets cover -13..13.
		assert.Equal(t, int64(-13), lo)
		assert.Equal(t, int64(13), hi)
	})
}

func TestDebertaV2ParameterNames(t *testing.T) {
	m := newTestModel(t, debertaV2Config)
	want := []string{
		"deberta.embeddings.word_embeddings.weight",
		"deberta.embeddings.position_embeddings.weight",
		"deberta.embeddings.token_type_embeddings.weight",
		"deberta.embeddings.embed_proj.weight",
		"deberta.embeddings.LayerNorm.weight", "deberta.embeddings.LayerNorm.bias",
	}
	for _, l := range []string{"0", "1"} {
		p := "deberta.encoder.layer." + l + "."
		for _, n := range []string{
			"attention.self.query_proj", "attention.self.key_proj", "attention.self.value_proj",
			"attention.self.pos_key_proj", "attention.self.pos_query_proj", "attention.output.dense",
			"attention.output.LayerNorm", "intermediate.dense", "output.dense", "output.LayerNorm",
		} {
			want = append(want, p+n+".weight", p+n+".bias")
		}
	}
	want = append(want,
		"deberta.encoder.rel_embeddings.weight",
		"deberta.encoder.LayerNorm.weight", "deberta.encoder.LayerNorm.bias",
		"deberta.encoder.conv.conv.weight", "deberta.encoder.conv.conv.bias",
		"deberta.encoder.conv.LayerNorm.weight", "deberta.encoder.conv.LayerNorm.bias",
		"qa_outputs.weight", "qa_outputs.bias",
	)
	// HF's named_parameters order, which the trajectory and checkpoints rely on.
	assert.Equal(t, want, m.Params().Names())
	p := m.Params()
	assert.Equal(t, []int64{100, 24}, p.Get("deberta.embeddings.word_embeddings.weight").Shape())
	assert.Equal(t, []int64{32, 24}, p.Get("deberta.embeddings.embed_proj.weight").Shape())
	assert.Equal(t, []int64{16, 32}, p.Get("deberta.encoder.rel_embeddings.weight").Shape())
	assert.Equal(t, []int64{32, 32, 3}, p.Get("deberta.encoder.conv.conv.weight").Shape())
}

// testBatch is two sequences of length 12, the second padded after 7 tokens.
func testBatch(s *torch.Scope) Inputs {
	ids := []int64{
		1, 11, 12, 13, 2, 21, 22, 23, 24, 25, 26, 2,
		1, 31, 32, 2, 41, 42, 2, 0, 0, 0, 0, 0,
	}
	mask := make([]int64, len(ids))
	types := make([]int64, len(ids))
	for i, id := range ids {
		if id != 0 {
			mask[i] = 1
		}
	}
	for i := 5; i < 12; i++ {
		types[i] = 1
	}
	for i := 16; i < 19; i++ {
		types[i] = 1
	}
	return Inputs{
		IDs:     torch.FromSlice(s, ids, 2, 12),
		Mask:    torch.FromSlice(s, mask, 2, 12),
		TypeIDs: torch.FromSlice(s, types, 2, 12),
	}
}

func TestDebertaConfigsTrainStep(t *testing.T) {
	for name, config := range map[string]string{"v2-conv": debertaV2Config, "unbucketed-c2p": debertaUnbucketedConfig} {
		t.Run(name, func(t *testing.T) {
			m := newTestModel(t, config)
			torch.WithScope(func(s *torch.Scope) {
				in := testBatch(s)
				// Sample 1 is out of the window at the end: clamped to 12 and ignored.
				in.StartPositions = torch.FromSlice(s, []int64{5, 4})
				in.EndPositions = torch.FromSlice(s, []int64{8, 40})
				m.Params().ZeroGrad()
				out, err := Forward(m, in, true) // dropout 0.1 on
				require.NoError(t, err)
				assert.Equal(t, []int64{2, 12}, out.StartLogits.Shape())
				assert.Equal(t, []int64{2, 12}, out.EndLogits.Shape())
				loss := out.Loss.Item()
				require.False(t, math.IsNaN(loss) || math.IsInf(loss, 0), "loss %v", loss)
				out.Loss.Backward()
				norms, has := torch.GradNorms(m.Params().All())
				for i, n := range m.Params().Names() {
					require.True(t, has[i], "%s has no gradient", n)
					require.False(t, math.IsNaN(norms[i]) || math.IsInf(norms[i], 0), "%s grad norm %v", n, norms[i])
					require.Greater(t, norms[i], 0.0, "%s grad norm", n)
				}
			})
		})
	}
}

// Real tokens never see padding (the pairwise mask, the embedding and conv masking, and
// positions relative to each other), so a sequence's logits do not depend on how much padding
// follows it or which ids the padding has.
func TestDebertaPaddingInvariance(t *testing.T) {
	for name, config := range map[string]string{"v2-conv": debertaV2Config, "unbucketed-c2p": debertaUnbucketedConfig} {
		t.Run(name, func(t *testing.T) {
			m := newTestModel(t, config)
			torch.WithScope(func(s *torch.Scope) {
				in := testBatch(s)
				var padded, alone Output
				torch.NoGrad(func() {
					padded = m.Forward(in, false)
					short := Inputs{
						IDs:     in.IDs.Narrow(0, 1, 1).Narrow(1, 0, 7),
						Mask:    in.Mask.Narrow(0, 1, 1).Narrow(1, 0, 7),
						TypeIDs: in.TypeIDs.Narrow(0, 1, 1).Narrow(1, 0, 7),
					}
					alone = m.Forward(short, false)
				})
				want := alone.StartLogits.Float32s()
				got := padded.StartLogits.Narrow(0, 1, 1).Narrow(1, 0, 7).Float32s()
				require.InDeltaSlice(t, toF64(want), toF64(got), 1e-5)
				want = alone.EndLogits.Float32s()
				got = padded.EndLogits.Narrow(0, 1, 1).Narrow(1, 0, 7).Float32s()
				require.InDeltaSlice(t, toF64(want), toF64(got), 1e-5)
			})
		})
	}
}

// What `spanqa convert` relies on: a model saved with SaveWeights and its config loads back
// through Load (strict keys) and computes the same logits.
func TestDebertaSaveLoadRoundTrip(t *testing.T) {
	requireSaveLoadRoundTrip(t, newTestModel(t, debertaV2Config))
}

// requireSaveLoadRoundTrip saves m (config.json + model.safetensors), loads it back with
// strict keys and requires the same logits on testBatch.
func requireSaveLoadRoundTrip(t *testing.T, m QAModel) {
	t.Helper()
	dir := t.TempDir()
	cfgJSON, err := m.Config().JSON()
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "config.json"), cfgJSON, 0o644))
	require.NoError(t, SaveWeights(m, filepath.Join(dir, "model.safetensors")))
	back, err := Load(dir, LoadOptions{})
	require.NoError(t, err)
	defer back.Params().Free()
	torch.WithScope(func(s *torch.Scope) {
		in := testBatch(s)
		var a, b Output
		torch.NoGrad(func() {
			a = m.Forward(in, false)
			b = back.Forward(in, false)
		})
		assert.Equal(t, a.StartLogits.Float32s(), b.StartLogits.Float32s())
		assert.Equal(t, a.EndLogits.Float32s(), b.EndLogits.Float32s())
	})
}

func toF64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}
