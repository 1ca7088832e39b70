package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spanqa/spanqa/eval"
)

const tinyV2 = `{"version": "v2.0", "data": [{"title": "T", "paragraphs": [{"context": "c", "qas": [
  {"id": "q1", "question": "?", "answers": [{"text": "Denver Broncos", "answer_start": 0}, {"text": "Broncos", "answer_start": 7}]},
  {"id": "q2", "question": "?", "answers": [], "is_impossible": true},
  {"id": "q3", "question": "?", "answers": [{"text": "the", "answer_start": 0}]},
  {"id": "q4", "question": "?", "answers": [{"text": "2016", "answer_start": 0}]}
]}]}]}`

func writeFiles(t *testing.T, files map[string]string) string {
	dir := t.TempDir()
	for name, content := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644))
	}
	return dir
}

func score(t *testing.T, args ...string) (string, string, error) {
	var stdout, stderr bytes.Buffer
	err := runScore(context.Background(), args, &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

func TestScoreCommandV2Small(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"data.json":  tinyV2,
		"preds.json": `{"q1": "denver", "q2": "", "q3": "an", "q4": "2015", "extra": "ignored"}`,
		// Integer probabilities are Python ints: a threshold taken from one prints as an int.
		"na.json": `{"q4": 0.25, "q1": 1, "q2": 0.5, "q3": 0.5, "zz": 0}`,
	})
	data, preds, na := filepath.Join(dir, "data.json"), filepath.Join(dir, "preds.json"), filepath.Join(dir, "na.json")

	out, errOut, err := score(t, "--data", data, "--predictions", preds)
	require.NoError(t, err)
	assert.Empty(t, errOut)
	// q1: EM 0, F1 max(2/3, 0); q2: 1/1; q3: gold "the" normalises to "" so the gold is [""],
	// "an" normalises to "" too: 1/1; q4: 0/0. (Expected values computed with CPython.)
	assert.Equal(t, `{
  "exact": 50.0,
  "f1": 66.66666666666666,
  "total": 4,
  "HasAns_exact": 33.333333333333336,
  "HasAns_f1": 55.55555555555555,
  "HasAns_total": 3,
  "NoAns_exact": 100.0,
  "NoAns_f1": 100.0,
  "NoAns_total": 1
}
`, out)

	// With probabilities: sorted q4 (0.25), q2, q3 (0.5, file order), q1 (1); start at 1 (NoAns),
	// q4: +0 -> 1; q2: no answer, "" -> +0; q3: has answer, +1 -> 2 (best, thresh 0.5);
	// q1: +0 (EM) or +2/3 (F1: best, thresh 1, printed as the int it was in the file).
	out, _, err = score(t, "--data", data, "--predictions", preds, "--na-prob", na, "--na-prob-thresh", "0.4")
	require.NoError(t, err)
	assert.Contains(t, out, `"best_exact": 50.0,
  "best_exact_thresh": 0.5,
  "best_f1": 66.66666666666666,
  "best_f1_thresh": 1
}`)
	// Thresholded at 0.4: q2, q3 and q1 abstain: q1 (has answer) 0, q2 1, q3 (has answer) 0.
	assert.Contains(t, out, `"exact": 25.0,`)

	// A missing prediction: the lines on stdout, then the official script's failure.
	require.NoError(t, os.WriteFile(preds, []byte(`{"q1": "x", "q3": ""}`), 0o644))
	out, _, err = score(t, "--data", data, "--predictions", preds)
	var missing *eval.MissingPredictionsError
	require.ErrorAs(t, err, &missing)
	assert.Equal(t, "Missing prediction for q2\nMissing prediction for q4\n", out)
	assert.Equal(t, "q4", missing.KeyErrorID) // HasAns ids are summed first
}

func TestScoreCommandV1Small(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"data.json": `{"version": "1.0", "data": [{"paragraphs": [{"qas": [
			{"id": "a", "answers": [{"text": "The Cat"}]}, {"id": "b", "answers": [{"text": "dog"}]}]}]}]}`,
		"preds.json": `{"a": "cat!"}`,
	})
	out, errOut, err := score(t, "-data", filepath.Join(dir, "data.json"), "-predictions", filepath.Join(dir, "preds.json"))
	require.NoError(t, err)
	assert.Equal(t, "{\"exact_match\": 50.0, \"f1\": 50.0}\n", out)
	assert.Equal(t, "Evaluation expects v-1.1, but got dataset with v-1.0\nUnanswered question b will receive score 0.\n", errOut)

	// The v2.0 rules on demand.
	out, _, err = score(t, "--data", filepath.Join(dir, "data.json"), "--predictions", filepath.Join(dir, "preds.json"), "--version", "2.0")
	var missing *eval.MissingPredictionsError
	require.ErrorAs(t, err, &missing)
	assert.Equal(t, "Missing prediction for b\n", out)
}

func TestScoreCommandErrors(t *testing.T) {
	dir := writeFiles(t, map[string]string{"data.json": tinyV2, "preds.json": `{"q1": 1}`, "bad.json": `[1]`})
	data := filepath.Join(dir, "data.json")
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{nil, "--data and --predictions are required"},
		{[]string{"--data", data}, "--data and --predictions are required"},
		{[]string{"--bogus"}, "flag provided but not defined"},
		{[]string{"--data", data, "--predictions", "x", "extra"}, "unexpected arguments"},
		{[]string{"--data", data, "--predictions", "x", "--version", "3"}, `--version "3"`},
		{[]string{"--data", filepath.Join(dir, "nope.json"), "--predictions", "x"}, "no such file"},
		{[]string{"--data", data, "--predictions", filepath.Join(dir, "preds.json")}, "cannot unmarshal number"},
		{[]string{"--data", data, "--predictions", filepath.Join(dir, "bad.json")}, "cannot unmarshal array"},
		{[]string{"--data", data, "--predictions", filepath.Join(dir, "bad.json"), "--version", "1.1", "--na-prob", "x"}, "cannot unmarshal"},
		{[]string{"--data", filepath.Join(dir, "bad.json"), "--predictions", "x"}, "decode SQuAD JSON"},
	} {
		_, _, err := score(t, c.args...)
		require.Error(t, err, "%q", c.args)
		assert.Contains(t, err.Error(), c.msg, "%q", c.args)
		assert.True(t, strings.HasPrefix(err.Error(), "score: "), err.Error())
	}
	// --na-prob with the v1.1 rules forced.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "p.json"), []byte(`{}`), 0o644))
	_, _, err := score(t, "--data", data, "--predictions", filepath.Join(dir, "p.json"), "--version", "1.1", "--na-prob", filepath.Join(dir, "p.json"))
	assert.ErrorContains(t, err, "--na-prob needs the v2.0 rules")
	// A predicted question without a probability.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "p2.json"), []byte(`{"q1": "", "q2": "", "q3": "", "q4": ""}`), 0o644))
	_, _, err = score(t, "--data", data, "--predictions", filepath.Join(dir, "p2.json"), "--na-prob", filepath.Join(dir, "p.json"))
	assert.ErrorContains(t, err, "question q1 has a prediction but no no-answer probability")
}
