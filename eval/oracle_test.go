package eval

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spanqa/spanqa/data/features"
	"github.com/spanqa/spanqa/data/squad"
)

// oracleDoc is a post-processing case computed by an independent Python rendition of HF's
// utils_qa.postprocess_qa_predictions on numpy float32 logits (see testdata/README.md).
type oracleDoc struct {
	Generator string `json:"generator"`
	V2        bool   `json:"version_2_with_negative"`
	Examples  []struct {
		ID      string `json:"id"`
		Context string `json:"context"`
	} `json:"examples"`
	Windows []struct {
		ExampleID    string    `json:"example_id"`
		ExampleIndex int       `json:"example_index"`
		NIDs         int       `json:"n_ids"`
		Offsets      [][]int   `json:"offsets"`
		Start        []float64 `json:"start"`
		End          []float64 `json:"end"`
	} `json:"windows"`
	Expected map[string]string `json:"expected"`
}

func loadOracle(t *testing.T, path string) (doc oracleDoc, exs []squad.Example, wins []features.Window, start, end [][]float32) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &doc))
	for _, e := range doc.Examples {
		exs = append(exs, squad.Example{ID: e.ID, Context: e.Context})
	}
	for _, w := range doc.Windows {
		fw := features.Window{ExampleID: w.ExampleID, ExampleIndex: w.ExampleIndex, IDs: make([]int64, w.NIDs)}
		for _, o := range w.Offsets {
			if o == nil {
				fw.Offsets = append(fw.Offsets, features.NoOffset)
			} else {
				fw.Offsets = append(fw.Offsets, [2]int{o[0], o[1]})
			}
		}
		s, e := make([]float32, len(w.Start)), make([]float32, len(w.End))
		for i := range w.Start {
			s[i], e[i] = float32(w.Start[i]), float32(w.End[i])
		}
		wins = append(wins, fw)
		start, end = append(start, s), append(end, e)
	}
	return doc, exs, wins, start, end
}

// TestPostProcessMatchesOracle post-processes each oracle case and compares the files written
// with the oracle's json.dumps output byte for byte. SPANQA_POSTPROCESS_ORACLE may name more
// case files (comma-separated).
func TestPostProcessMatchesOracle(t *testing.T) {
	paths, err := filepath.Glob("testdata/postprocess_*.json")
	require.NoError(t, err)
	require.NotEmpty(t, paths)
	if extra := os.Getenv("SPANQA_POSTPROCESS_ORACLE"); extra != "" {
		paths = append(paths, strings.Split(extra, ",")...)
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			doc, exs, wins, start, end := loadOracle(t, path)
			preds, err := PostProcess(exs, wins, start, end, Options{Version2WithNegative: doc.V2})
			require.NoError(t, err)
			dir := t.TempDir()
			require.NoError(t, WritePredictions(dir, "", preds, doc.V2))
			files := map[string]string{"predictions": "predictions.json", "nbest": "nbest_predictions.json", "null_odds": "null_odds.json"}
			for key, name := range files {
				want, ok := doc.Expected[key]
				got, err := os.ReadFile(filepath.Join(dir, name))
				if !ok {
					assert.True(t, os.IsNotExist(err), "%s should not exist", name)
					continue
				}
				require.NoError(t, err)
				if string(got) != want {
					gl, wl := strings.Split(string(got), "\n"), strings.Split(want, "\n")
					for i := 0; i < min(len(gl), len(wl)); i++ {
						if gl[i] != wl[i] {
							t.Errorf("%s line %d: got %s, want %s", name, i+1, gl[i], wl[i])
							break
						}
					}
					t.Errorf("%s differs (%d vs %d lines)", name, len(gl), len(wl))
				}
			}
		})
	}
}
