package tests

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/spanqa/spanqa/eval"
	"github.com/spanqa/spanqa/internal/fixtures"
	"github.com/spanqa/spanqa/torch"
)

// truncatedBertVocab writes a tokenizer folder with the first n entries of bert-base-uncased's
// vocabulary, so its ids fit the tiny fixture models (vocab_size 1000); unknown words map to
// [UNK], which keeps the pipeline honest without a real model.
func truncatedBertVocab(t *testing.T, n int) string {
	src := filepath.Join(fixtures.Tokenizers(t, "bert-base-uncased"), "vocab.txt")
	f, err := os.Open(src)
	require.NoError(t, err)
	defer f.Close()
	var buf bytes.Buffer
	sc := bufio.NewScanner(f)
	for i := 0; i < n && sc.Scan(); i++ {
		buf.WriteString(sc.Text() + "\n")
	}
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "vocab.txt"), buf.Bytes(), 0o644))
	return dir
}

// TestEvalEndToEndOnTinyModel runs eval.Evaluate, the body of `spanqa eval` (windows -> model ->
// post-processing -> metrics), with the tiny random BERT over a slice of SQuAD dev, for v1.1 and
// v2.0.
func TestEvalEndToEndOnTinyModel(t *testing.T) {
	model := fixtures.Models(t, "bert")
	tok := truncatedBertVocab(t, 1000)
	for _, c := range []struct {
		name string
		data string
		v2   bool
	}{
		{"v1.1", fixtures.Data(t, "squad", "v1.1", "dev-v1.1.json"), false},
		{"v2.0", fixtures.Data(t, "squad", "v2.0", "dev-v2.0.reconstructed.json"), true},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := t.TempDir()
			// `spanqa eval --max-eval-samples 40 --max-seq-length 128 --doc-stride 32` with the
			// other flags' defaults.
			var stderr bytes.Buffer
			_, err := eval.Evaluate(context.Background(), eval.EvalConfig{
				Model: model, Tokenizer: tok, Data: c.data, OutputDir: out, Device: torch.CPU,
				MaxSamples: 40, MaxSeqLength: 128, DocStride: 32, BatchSize: 8, Log: &stderr,
				Options: eval.Options{Version2WithNegative: c.v2, NBestSize: 20, MaxAnswerLength: 30},
			})
			require.NoError(t, err, stderr.String())
			var preds map[string]string
			data, err := os.ReadFile(filepath.Join(out, "predictions.json"))
			require.NoError(t, err)
			require.NoError(t, json.Unmarshal(data, &preds))
			require.Len(t, preds, 40)
			var nbest map[string][]map[string]any
			data, err = os.ReadFile(filepath.Join(out, "nbest_predictions.json"))
			require.NoError(t, err)
			require.NoError(t, json.Unmarshal(data, &nbest))
			require.Len(t, nbest, 40)
			var results map[string]any
			data, err = os.ReadFile(filepath.Join(out, "eval_results.json"))
			require.NoError(t, err)
			require.NoError(t, json.Unmarshal(data, &results))
			if c.v2 {
				require.FileExists(t, filepath.Join(out, "null_odds.json"))
				require.Contains(t, results, "eval_HasAns_f1")
			} else {
				require.Contains(t, results, "eval_exact_match")
			}
			require.Contains(t, results, "eval_f1")
		})
	}
}
