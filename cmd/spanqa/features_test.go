package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spanqa/spanqa/data/features"
	"github.com/spanqa/spanqa/data/squad"
	"github.com/spanqa/spanqa/data/tokenize"
	"github.com/spanqa/spanqa/internal/fixtures"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const nonASCII = "../../data/squad/testdata/nonascii.json"

func TestFeaturesCommand(t *testing.T) {
	tokDir := fixtures.Tokenizers(t, "bert-base-uncased")
	tok, err := tokenize.Load(tokDir)
	require.NoError(t, err)
	exs, _, err := squad.Read(nonASCII, squad.Options{})
	require.NoError(t, err)
	for _, mode := range []features.Mode{features.ModeTrain, features.ModeEval} {
		var out, errb bytes.Buffer
		err := runFeatures(context.Background(), []string{"--model", tokDir, "--data", nonASCII, "--mode", mode.String(), "--max-seq-length", "24", "--doc-stride", "6"}, &out, &errb)
		require.NoError(t, err, errb.String())
		assert.Contains(t, errb.String(), "nonascii.json: 8 examples, 8 kept, 0 skipped")
		got, err := features.ReadJSONL(&out, "stdout")
		require.NoError(t, err)
		want, err := buildWindows(exs, tok, mode, features.Options{MaxLength: 24, Stride: 6})
		require.NoError(t, err)
		require.Len(t, got, len(want))
		assert.Greater(t, len(want), len(exs), "short windows overflow")
		for i := range want {
			assert.Equal(t, want[i].IDs, got[i].IDs)
			assert.Equal(t, want[i].TypeIDs, got[i].TypeIDs)
			assert.Equal(t, want[i].Offsets, got[i].Offsets)
			assert.Equal(t, want[i].ExampleID, got[i].ExampleID)
			assert.Equal(t, want[i].ExampleIndex, got[i].ExampleIndex)
			assert.Equal(t, [2]int{want[i].StartPos, want[i].EndPos}, [2]int{got[i].StartPos, got[i].EndPos})
		}
	}
}

// --model supplies the limit (config.json), --tokenizer the tokenizer; --output writes a file.
func TestFeaturesCommandModelLimitAndOutput(t *testing.T) {
	model := fixtures.Models(t, "longformer")
	tokDir := fixtures.Tokenizers(t, "roberta-base")
	path := filepath.Join(t.TempDir(), "w.jsonl")
	var out, errb bytes.Buffer
	require.NoError(t, runFeatures(context.Background(), []string{"--model", model, "--tokenizer", tokDir, "--data", nonASCII, "--output", path, "--mode", "train", "--doc-stride", "32"}, &out, &errb))
	assert.Empty(t, out.String())
	assert.Contains(t, errb.String(), "max_seq_length 384 is larger than the model allows; using 128")
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	ws, err := features.ReadJSONL(f, path)
	require.NoError(t, err)
	require.Len(t, ws, 8)
	assert.Nil(t, ws[0].TypeIDs, "RoBERTa-style models take no token_type_ids")
}

func TestFeaturesCommandErrors(t *testing.T) {
	tokDir := fixtures.Tokenizers(t, "bert-base-uncased")
	bad := filepath.Join(t.TempDir(), "bad.jsonl")
	require.NoError(t, os.WriteFile(bad, []byte(`{"id":"x1","context":"abc","question":"q","answers":{"text":["z"],"answer_start":[0]}}`+"\n"+
		`{"id":"x2","context":"abc","question":"q","answers":{"text":["b"],"answer_start":[1]}}`+"\n"), 0o644))
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--data", nonASCII}, "--model and --data are required"},
		{[]string{"--model", tokDir}, "--model and --data are required"},
		{[]string{"--model", tokDir, "--data", nonASCII, "--mode", "predict"}, `mode "predict"`},
		{[]string{"--model", tokDir, "--data", nonASCII, "extra"}, `unexpected argument "extra"`},
		{[]string{"--model", tokDir, "--data", nonASCII, "--doc-stride", "400"}, "doc_stride 400 must be in [0, max_length 384)"},
		{[]string{"--model", tokDir, "--data", bad}, `example x1: answer 0 text "z" does not match`},
		{[]string{"--model", t.TempDir(), "--data", nonASCII}, "no tokenizer.json"},
		{[]string{"--bogus"}, "flag provided but not defined"},
	} {
		err := runFeatures(context.Background(), c.args, &bytes.Buffer{}, &bytes.Buffer{})
		require.Error(t, err, c.args)
		assert.Contains(t, err.Error(), c.want)
	}
	var out, errb bytes.Buffer
	require.NoError(t, runFeatures(context.Background(), []string{"--model", tokDir, "--data", bad, "--skip-invalid", "--question-column-name", "question"}, &out, &errb))
	assert.Contains(t, errb.String(), "2 examples, 1 kept, 1 skipped")
	assert.Contains(t, errb.String(), "skipped: squad: "+bad+": example x1")
	assert.Equal(t, 1, strings.Count(out.String(), "\n"))
}

// buildWindows cuts all examples into windows at once: what runFeatures must stream out.
func buildWindows(examples []squad.Example, tok features.Encoder, mode features.Mode, opts features.Options) ([]features.Window, error) {
	b, err := features.NewBuilder(tok, mode, opts)
	if err != nil {
		return nil, err
	}
	return b.All(examples)
}
