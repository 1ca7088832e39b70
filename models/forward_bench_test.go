package models

import (
	"math/rand"
	"testing"

	"github.com/spanqa/spanqa/torch"
)

// Forward-speed benchmarks on base-size models with random weights: batch 8 x 384, no grad,
// eval mode (hf_cpu_baseline.json measures HF the same way). Each iteration takes seconds on a
// CPU, so run them explicitly, e.g.
//
//	go test ./models/ -run '^$' -bench 'ForwardBase|Forward.*Base' -benchtime 3x

const (
	benchBatch  = 8
	benchLength = 384
)

// bertBaseConfig holds bert-base-uncased's values.
const bertBaseConfig = `{"model_type": "bert", "vocab_size": 30522, "hidden_size": 768,
  "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072,
  "max_position_embeddings": 512, "type_vocab_size": 2}`

// debertaV3BaseConfig holds microsoft/deberta-v3-base's values.
const debertaV3BaseConfig = `{"model_type": "deberta-v2", "vocab_size": 128100, "hidden_size": 768,
  "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072,
  "max_position_embeddings": 512, "type_vocab_size": 0, "layer_norm_eps": 1e-7,
  "relative_attention": true, "max_relative_positions": -1, "position_buckets": 256,
  "norm_rel_ebd": "layer_norm", "share_att_key": true, "pos_att_type": "p2c|c2p",
  "position_biased_input": false, "pad_token_id": 0}`

func benchmarkForward(b *testing.B, config string) {
	cfg, err := ParseConfig([]byte(config))
	if err != nil {
		b.Fatal(err)
	}
	m, err := New(cfg, torch.CPU)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Params().Free()
	rng := rand.New(rand.NewSource(1))
	n := benchBatch * benchLength
	ids, mask, types := make([]int64, n), make([]int64, n), make([]int64, n)
	for i := range ids {
		ids[i] = 1000 + rng.Int63n(cfg.VocabSize-1000)
		mask[i] = 1
		if i%benchLength >= benchLength/4 { // a question, then the context
			types[i] = 1
		}
	}
	run := func() {
		torch.WithScope(func(s *torch.Scope) {
			in := Inputs{
				IDs:     torch.FromSlice(s, ids, benchBatch, benchLength),
				Mask:    torch.FromSlice(s, mask, benchBatch, benchLength),
				TypeIDs: torch.FromSlice(s, types, benchBatch, benchLength),
			}
			torch.NoGrad(func() {
				out := m.Forward(in, false)
				out.StartLogits.Float32s() // wait for the result
			})
		})
	}
	run() // warm-up: first-touch allocation makes the first pass slower
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		run()
	}
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "seq/s")
}

func BenchmarkForwardBertBase(b *testing.B) { benchmarkForward(b, bertBaseConfig) }

func BenchmarkForwardDebertaBase(b *testing.B) { benchmarkForward(b, debertaV3BaseConfig) }
