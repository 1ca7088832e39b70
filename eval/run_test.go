package eval

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spanqa/spanqa/data/features"
	"github.com/spanqa/spanqa/data/squad"
)

// oraclePredictor is a fake model that knows the gold answers: in each window it puts high logits
// on the tokens where the first gold answer starts and ends, and a high CLS logit for
// unanswerable examples. Rows are padded to pad tokens, as a padded batch would be.
type oraclePredictor struct {
	examples []squad.Example
	pad      int
	calls    int
	failAt   int // fail on this call (1-based); 0 never
}

func (p *oraclePredictor) Logits(ctx context.Context, batch []features.Window) ([][]float32, [][]float32, error) {
	p.calls++
	if p.failAt == p.calls {
		return nil, nil, errors.New("device lost")
	}
	var start, end [][]float32
	for _, w := range batch {
		n := max(len(w.IDs), p.pad)
		s, e := lowLogits(n), lowLogits(n)
		ex := p.examples[w.ExampleIndex]
		if len(ex.Answers) == 0 {
			s[0], e[0] = 5, 5
		} else {
			a := ex.Answers[0]
			aEnd := a.Start + len([]rune(a.Text))
			for i, o := range w.Offsets {
				if o[0] == a.Start {
					s[i] = 4
				}
				if o[1] == aEnd {
					e[i] = 4
				}
			}
			s[0], e[0] = -5, -5
		}
		start, end = append(start, s), append(end, e)
	}
	return start, end, nil
}

// runFixture builds examples (one unanswerable, one non-ASCII, one long enough for two windows)
// and their windows, interleaved so that an example's windows are not contiguous.
func runFixture() ([]squad.Example, []features.Window) {
	ans := func(ctx, text string) []squad.Answer {
		b := strings.Index(ctx, text)
		return []squad.Answer{{Text: text, Start: len([]rune(ctx[:b])), ByteStart: b}}
	}
	c0 := "Denver Broncos won Super Bowl 50 in 2016"
	c1 := "Zürich liegt am Zürichsee"
	c2 := "one two three four five six seven eight nine ten eleven twelve"
	exs := []squad.Example{
		{ID: "e0", Context: c0, Answers: ans(c0, "Denver Broncos")},
		{ID: "e1", Context: c1, Answers: ans(c1, "Zürichsee")},
		{ID: "e2", Context: c2, Answers: ans(c2, "eleven twelve")},
		{ID: "e3", Context: "nothing here"},
	}
	w0, _ := testWindow(&exs[0], 0, 3, wordOffsets(c0))
	w1, _ := testWindow(&exs[1], 1, 3, wordOffsets(c1))
	words := wordOffsets(c2)
	w2a, _ := testWindow(&exs[2], 2, 3, words[:8])
	w2b, _ := testWindow(&exs[2], 2, 3, words[4:])
	w3, _ := testWindow(&exs[3], 3, 3, wordOffsets(exs[3].Context))
	return exs, []features.Window{w0, w2a, w1, w2b, w3}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

func TestRunV2(t *testing.T) {
	exs, wins := runFixture()
	dir := filepath.Join(t.TempDir(), "out")
	var progress bytes.Buffer
	p := &oraclePredictor{examples: exs, pad: 24}
	res, err := Run(context.Background(), p, exs, wins, RunConfig{
		OutputDir: dir, BatchSize: 2, Progress: &progress,
		Options: Options{Version2WithNegative: true},
	})
	require.NoError(t, err)
	assert.Equal(t, 3, p.calls)
	assert.Equal(t, 3, res.Batches)
	assert.Equal(t, Predictions{"e0": "Denver Broncos", "e1": "Zürichsee", "e2": "eleven twelve", "e3": ""}, res.Predictions)
	require.NotNil(t, res.V2)
	assert.Equal(t, 100.0, res.V2.Exact)
	assert.Equal(t, 3, res.V2.HasAns.Total)
	assert.Equal(t, 1, res.V2.NoAns.Total)
	require.NotNil(t, res.V2.Best)

	// The streamed files equal what PostProcess + WritePredictions give on the same logits.
	start, end, err := p.Logits(context.Background(), wins)
	require.NoError(t, err)
	preds, err := PostProcess(exs, wins, start, end, Options{Version2WithNegative: true})
	require.NoError(t, err)
	ref := t.TempDir()
	require.NoError(t, WritePredictions(ref, "", preds, true))
	for _, name := range []string{"predictions.json", "nbest_predictions.json", "null_odds.json"} {
		assert.Equal(t, readFile(t, filepath.Join(ref, name)), readFile(t, filepath.Join(dir, name)), name)
	}
	assert.True(t, strings.HasPrefix(readFile(t, filepath.Join(dir, "predictions.json")),
		"{\n    \"e0\": \"Denver Broncos\",\n    \"e1\": \"Z\\u00fcrichsee\",\n"))

	// eval_results.json: the squad_v2 metric keys prefixed with eval_, sorted, indent 4.
	text := readFile(t, filepath.Join(dir, "eval_results.json"))
	assert.False(t, strings.HasSuffix(text, "\n"))
	keys, _ := orderedJSON(t, []byte(text))
	assert.True(t, sort.StringsAreSorted(keys))
	for _, k := range []string{"eval_exact", "eval_f1", "eval_total", "eval_HasAns_exact", "eval_NoAns_total",
		"eval_best_exact", "eval_best_exact_thresh", "eval_best_f1", "eval_best_f1_thresh",
		"eval_samples", "eval_runtime"} {
		assert.Contains(t, keys, k)
	}
	assert.Contains(t, text, "    \"eval_exact\": 100.0,\n")
	assert.Contains(t, text, "    \"eval_best_exact_thresh\": 0.0,\n")
	assert.Contains(t, text, "    \"eval_samples\": 5,\n")
	assert.Len(t, res.Files, 4)

	// Progress is logged as lines when the writer is not a terminal.
	assert.Contains(t, progress.String(), "eval: 5/5 windows (100%)")

	// No temporary file is left behind.
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.ElementsMatch(t, []string{"predictions.json", "nbest_predictions.json", "null_odds.json", "eval_results.json"}, names)
}

func TestRunV1(t *testing.T) {
	exs, wins := runFixture()
	// SQuAD v1.1 has no unanswerable question.
	exs, wins = exs[:3], wins[:4]
	dir := t.TempDir()
	res, err := Run(context.Background(), &oraclePredictor{examples: exs}, exs, wins, RunConfig{OutputDir: dir, Prefix: "eval"})
	require.NoError(t, err)
	require.NotNil(t, res.V1)
	assert.Equal(t, 100.0, res.V1.ExactMatch)
	assert.Equal(t, 1, res.Batches)
	for _, name := range []string{"eval_predictions.json", "eval_nbest_predictions.json", "eval_results.json"} {
		_, err := os.Stat(filepath.Join(dir, name))
		assert.NoError(t, err, name)
	}
	_, err = os.Stat(filepath.Join(dir, "eval_null_odds.json"))
	assert.True(t, os.IsNotExist(err))
	var m map[string]float64
	require.NoError(t, json.Unmarshal([]byte(readFile(t, filepath.Join(dir, "eval_results.json"))), &m))
	assert.Equal(t, 100.0, m["eval_exact_match"])
	assert.Equal(t, 100.0, m["eval_f1"])
	assert.Equal(t, 4.0, m["eval_samples"])
}

func TestRunFailureLeavesNoFiles(t *testing.T) {
	exs, wins := runFixture()
	for name, c := range map[string]struct {
		p   Predictor
		ctx func() context.Context
		msg string
	}{
		"predictor error": {&oraclePredictor{examples: exs, failAt: 2}, context.Background, "device lost"},
		"wrong row count": {PredictorFunc(func(ctx context.Context, b []features.Window) ([][]float32, [][]float32, error) {
			return nil, nil, nil
		}), context.Background, "predictor returned 0 start and 0 end rows for 2 windows"},
		"short rows": {PredictorFunc(func(ctx context.Context, b []features.Window) ([][]float32, [][]float32, error) {
			r := make([][]float32, len(b))
			for i := range r {
				r[i] = []float32{1}
			}
			return r, r, nil
		}), context.Background, "1 logits for a window"},
		"canceled": {&oraclePredictor{examples: exs}, func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		}, "context canceled"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := Run(c.ctx(), c.p, exs, wins, RunConfig{OutputDir: dir, BatchSize: 2, Options: Options{Version2WithNegative: true}})
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.msg)
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			assert.Empty(t, entries)
		})
	}
}

func TestRunValidatesWindows(t *testing.T) {
	exs, wins := runFixture()
	wins[1].ExampleID = "other"
	_, err := Run(context.Background(), &oraclePredictor{examples: exs}, exs, wins, RunConfig{OutputDir: t.TempDir()})
	assert.ErrorContains(t, err, "window 1: example index 2 is example e2, but the window names other")
	_, err = Run(context.Background(), &oraclePredictor{examples: exs}, exs, nil, RunConfig{OutputDir: t.TempDir(), Options: Options{Version2WithNegative: true}})
	assert.ErrorContains(t, err, "example e0 has no window")
	_, err = Run(context.Background(), &oraclePredictor{examples: exs}, exs, nil, RunConfig{})
	assert.ErrorContains(t, err, "no output directory")
}

// countingPredictor wraps a predictor and records how many Logits calls overlap: Run predicts
// on a goroutine of its own, and a model must still see one batch at a time.
type countingPredictor struct {
	inner            Predictor
	mu               sync.Mutex
	active, overlaps int
	calls            int
}

func (p *countingPredictor) Logits(ctx context.Context, b []features.Window) ([][]float32, [][]float32, error) {
	p.mu.Lock()
	p.active++
	p.calls++
	if p.active > 1 {
		p.overlaps++
	}
	p.mu.Unlock()
	defer func() { p.mu.Lock(); p.active--; p.mu.Unlock() }()
	return p.inner.Logits(ctx, b)
}

func TestRunPredictsOneBatchAheadNeverTwoAtOnce(t *testing.T) {
	exs, wins := runFixture()
	p := &countingPredictor{inner: &oraclePredictor{examples: exs}}
	res, err := Run(context.Background(), p, exs, wins, RunConfig{OutputDir: t.TempDir(), BatchSize: 1, Options: Options{Version2WithNegative: true}})
	require.NoError(t, err)
	assert.Equal(t, len(wins), p.calls)
	assert.Equal(t, len(wins), res.Batches)
	assert.Zero(t, p.overlaps, "Logits must never run twice at once")
}

func TestRunStopsItsPredictionGoroutine(t *testing.T) {
	exs, wins := runFixture()
	before := runtime.NumGoroutine()
	for i := 0; i < 20; i++ {
		_, err := Run(context.Background(), &oraclePredictor{examples: exs, failAt: 1}, exs, wins, RunConfig{OutputDir: t.TempDir(), BatchSize: 1, Options: Options{Version2WithNegative: true}})
		require.Error(t, err)
	}
	// Run waits for its goroutine before returning: none may be left behind.
	assert.LessOrEqual(t, runtime.NumGoroutine(), before)
}
