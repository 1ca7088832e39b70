package tests

import (
	"bytes"
	"encoding/json"
	"io"
	"log"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/spanqa/spanqa/internal/fixtures"
	"github.com/spanqa/spanqa/models"
	"github.com/spanqa/spanqa/torch/weights"
)

// onlyFile makes a folder with the fixture's config.json and one of its weight files.
func onlyFile(t *testing.T, dir, weightFile string) string {
	tmp := t.TempDir()
	for _, f := range []string{"config.json", weightFile} {
		require.NoError(t, os.Symlink(filepath.Join(dir, f), filepath.Join(tmp, f)))
	}
	return tmp
}

// TestConvertBinIsBitIdentical converts each fixture from pytorch_model.bin and from
// model.safetensors: both give the original safetensors tensors bit for bit, and the converted
// folder loads and produces the golden logits.
func TestConvertBinIsBitIdentical(t *testing.T) {
	for _, arch := range []string{"bert", "roberta", "deberta-v3", "longformer"} {
		t.Run(arch, func(t *testing.T) {
			dir := fixtures.Models(t, arch)
			cfg, err := models.LoadConfig(filepath.Join(dir, "config.json"))
			require.NoError(t, err)
			// Every fixture architecture must be registered: one that is not is a failure, not a skip.
			require.Contains(t, models.Supported(), cfg.ModelType, "architecture not registered")
			orig, err := weights.OpenFile(filepath.Join(dir, weights.SafetensorsName))
			require.NoError(t, err)
			defer orig.Close()
			for _, wf := range []string{weights.TorchBinName, weights.SafetensorsName} {
				out := t.TempDir()
				man, err := models.Convert(onlyFile(t, dir, wf), out, log.New(io.Discard, "", 0))
				require.NoError(t, err)
				require.Equal(t, models.Architectures[cfg.ModelType], man.Architecture)
				conv, err := weights.OpenFile(filepath.Join(out, weights.SafetensorsName))
				require.NoError(t, err)
				require.Equal(t, orig.Names(), conv.Names())
				for _, n := range orig.Names() {
					a, _ := orig.Get(n)
					b, _ := conv.Get(n)
					require.Equal(t, a.Shape, b.Shape, n)
					require.True(t, bytes.Equal(a.Data, b.Data), "%s from %s differs", n, wf)
				}
				conv.Close()
				var spanqa map[string]any
				data, err := os.ReadFile(filepath.Join(out, "spanqa.json"))
				require.NoError(t, err)
				require.NoError(t, json.Unmarshal(data, &spanqa))
				require.Equal(t, cfg.ModelType, spanqa["model_type"])
			}
		})
	}
}

func TestLoadRejectsBrokenCheckpoints(t *testing.T) {
	dir := fixtures.Models(t, "bert")
	set, err := weights.Open(dir)
	require.NoError(t, err)
	var ts []weights.Tensor
	for _, n := range set.Names() {
		w, _ := set.Get(n)
		ts = append(ts, w.Clone())
	}
	set.Close()
	write := func(t *testing.T, edit func([]weights.Tensor) []weights.Tensor) string {
		out := t.TempDir()
		data, err := os.ReadFile(filepath.Join(dir, "config.json"))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(out, "config.json"), data, 0o644))
		require.NoError(t, weights.WriteSafetensors(filepath.Join(out, "model.safetensors"), edit(append([]weights.Tensor(nil), ts...)), nil))
		return out
	}
	t.Run("missing encoder key", func(t *testing.T) {
		d := write(t, func(in []weights.Tensor) []weights.Tensor {
			var out []weights.Tensor
			for _, w := range in {
				if w.Name != "bert.encoder.layer.1.output.dense.weight" {
					out = append(out, w)
				}
			}
			return out
		})
		_, err := models.Load(d, models.LoadOptions{})
		require.ErrorContains(t, err, "missing")
		require.ErrorContains(t, err, "bert.encoder.layer.1.output.dense.weight")
	})
	t.Run("wrong shape", func(t *testing.T) {
		d := write(t, func(in []weights.Tensor) []weights.Tensor {
			for i, w := range in {
				if w.Name == "bert.embeddings.LayerNorm.bias" {
					w2, _ := weights.FromFloat32(w.Name, []int64{31}, make([]float32, 31))
					in[i] = w2
				}
			}
			return in
		})
		_, err := models.Load(d, models.LoadOptions{})
		require.ErrorContains(t, err, "mis-shaped")
		require.ErrorContains(t, err, "bert.embeddings.LayerNorm.bias")
	})
	t.Run("base checkpoint without head and prefix", func(t *testing.T) {
		d := write(t, func(in []weights.Tensor) []weights.Tensor {
			var out []weights.Tensor
			for _, w := range in {
				if len(w.Name) > 11 && w.Name[:11] == "qa_outputs." {
					continue
				}
				w.Name = w.Name[len("bert."):] // a bare BertModel checkpoint
				out = append(out, w)
			}
			return out
		})
		var logs bytes.Buffer
		m, err := models.Load(d, models.LoadOptions{Log: log.New(&logs, "", 0)})
		require.NoError(t, err)
		defer m.Params().Free()
		require.Contains(t, logs.String(), "qa_outputs.weight")
		require.Contains(t, logs.String(), "initialised")
		w := m.Params().Get("qa_outputs.weight").Float32s()
		require.NotEqual(t, float32(0), w[0], "head initialised from N(0, initializer_range)")
		require.Equal(t, []float32{0, 0}, m.Params().Get("qa_outputs.bias").Float32s())
	})
}
