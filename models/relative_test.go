package models

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spanqa/spanqa/torch"
)

// HF BERT and RoBERTa can replace absolute positions by learned query-key distance
// embeddings (position_embedding_type relative_key / relative_key_query). No fixture covers
// them, so these tests check the score terms against a direct sum and the model's behaviour.

func distanceConfig(modelType, kind string) string {
	return fmt.Sprintf(`{
  "model_type": %q, "vocab_size": 100, "hidden_size": 32, "num_hidden_layers": 2,
  "num_attention_heads": 4, "intermediate_size": 37, "hidden_dropout_prob": 0.1,
  "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 40, "type_vocab_size": 2,
  "initializer_range": 0.2, "pad_token_id": 0, "position_embedding_type": %q
}`, modelType, kind)
}

// The batched products equal the definition: score[b,h,l,r] = sum_d q[b,h,l,d] D[l-r][d]
// (+ k[b,h,r,d] D[l-r][d]).
func TestRelativeScoresMatchDirectSum(t *testing.T) {
	for _, kind := range []string{"relative_key", "relative_key_query"} {
		t.Run(kind, func(t *testing.T) {
			m := newTestModel(t, distanceConfig("bert", kind)).(*Bert)
			a := m.encoder.layers[1].attention
			torch.WithScope(func(s *torch.Scope) {
				const b, h, n, d = 2, 4, 9, 8
				q := torch.Randn(s, torch.Float32, torch.CPU, b, h, n, d)
				k := torch.Randn(s, torch.Float32, torch.CPU, b, h, n, d)
				var got []float32
				torch.NoGrad(func() { got = a.relativeScores(q, k).Float32s() })
				qv, kv, table := q.Float32s(), k.Float32s(), a.distance.Weight.Float32s()
				for bi := 0; bi < b; bi++ {
					for hi := 0; hi < h; hi++ {
						for l := 0; l < n; l++ {
							for r := 0; r < n; r++ {
								row := (l - r + int(a.maxDistance) - 1) * d
								var want float64
								for di := 0; di < d; di++ {
									e := float64(table[row+di])
									want += float64(qv[((bi*h+hi)*n+l)*d+di]) * e
									if kind == "relative_key_query" {
										want += float64(kv[((bi*h+hi)*n+r)*d+di]) * e
									}
								}
								require.InDelta(t, want, got[((bi*h+hi)*n+l)*n+r], 1e-4, "b%d h%d l%d r%d", bi, hi, l, r)
							}
						}
					}
				}
			})
		})
	}
}

// HF registers distance_embedding after value in each layer (so random initialisation draws in
// HF's order), and the absolute position table stays in the checkpoint although unused.
func TestRelativeParameterNames(t *testing.T) {
	m := newTestModel(t, distanceConfig("bert", "relative_key_query"))
	p := m.Params()
	names := p.Names()
	at := func(name string) int {
		for i, n := range names {
			if n == name {
				return i
			}
		}
		t.Fatalf("no parameter %s", name)
		return -1
	}
	for layer := 0; layer < 2; layer++ {
		prefix := fmt.Sprintf("bert.encoder.layer.%d.attention.", layer)
		dist := at(prefix + "self.distance_embedding.weight")
		assert.Equal(t, at(prefix+"self.value.bias")+1, dist)
		assert.Equal(t, at(prefix+"output.dense.weight")-1, dist)
		assert.Equal(t, []int64{2*40 - 1, 8}, p.Get(prefix+"self.distance_embedding.weight").Shape())
	}
	at("bert.embeddings.position_embeddings.weight")
}

// With relative attention the absolute table is not added: changing it changes nothing, and
// the distance embeddings get gradients; a sequence's logits do not depend on the padding
// after it; save and load give the same logits.
func TestRelativePositionsModel(t *testing.T) {
	for _, typ := range []string{"bert", "roberta"} {
		for _, kind := range []string{"relative_key", "relative_key_query"} {
			t.Run(typ+"/"+kind, func(t *testing.T) {
				m := newTestModel(t, distanceConfig(typ, kind))
				torch.WithScope(func(s *torch.Scope) {
					in := testBatch(s)
					var before, after Output
					torch.NoGrad(func() {
						before = m.Forward(in, false)
						m.Params().Get(typ+".embeddings.position_embeddings.weight").Normal_(0, 1)
						after = m.Forward(in, false)
					})
					assert.Equal(t, before.StartLogits.Float32s(), after.StartLogits.Float32s())

					short := Inputs{
						IDs:     in.IDs.Narrow(0, 1, 1).Narrow(1, 0, 7),
						Mask:    in.Mask.Narrow(0, 1, 1).Narrow(1, 0, 7),
						TypeIDs: in.TypeIDs.Narrow(0, 1, 1).Narrow(1, 0, 7),
					}
					var alone Output
					torch.NoGrad(func() { alone = m.Forward(short, false) })
					require.InDeltaSlice(t, toF64(alone.EndLogits.Float32s()),
						toF64(before.EndLogits.Narrow(0, 1, 1).Narrow(1, 0, 7).Float32s()), 1e-5)

					in.StartPositions = torch.FromSlice(s, []int64{5, 4})
					in.EndPositions = torch.FromSlice(s, []int64{8, 6})
					m.Params().ZeroGrad()
					out, err := Forward(m, in, true)
					require.NoError(t, err)
					out.Loss.Backward()
					norms, has := torch.GradNorms(m.Params().All())
					for i, n := range m.Params().Names() {
						if n == typ+".embeddings.position_embeddings.weight" {
							continue
						}
						require.True(t, has[i], "%s has no gradient", n)
						require.False(t, math.IsNaN(norms[i]), "%s", n)
						require.Greater(t, norms[i], 0.0, "%s grad norm", n)
					}
				})

				requireSaveLoadRoundTrip(t, m)
			})
		}
	}
}

func TestRelativePositionsConfigErrors(t *testing.T) {
	_, err := ParseConfig([]byte(`{"model_type": "longformer", "position_embedding_type": "relative_key"}`))
	require.ErrorContains(t, err, "for BERT and RoBERTa")
	_, err = ParseConfig([]byte(`{"model_type": "bert", "position_embedding_type": "rotary"}`))
	require.ErrorContains(t, err, `"rotary" is not supported`)
}
