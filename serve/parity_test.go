package serve

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/spanqa/spanqa/data/features"
	"github.com/spanqa/spanqa/data/squad"
	"github.com/spanqa/spanqa/data/tokenize"
	"github.com/spanqa/spanqa/eval"
	"github.com/spanqa/spanqa/models"
)

// nbestEntry is one entry of nbest_predictions.json.
type nbestEntry struct {
	Text        string  `json:"text"`
	StartLogit  float64 `json:"start_logit"`
	EndLogit    float64 `json:"end_logit"`
	Probability float64 `json:"probability"`
}

// evalPipeline is what `spanqa eval` predicts for examples: features.Eval windows, the model
// through eval.ModelPredictor, eval.Run's post-processing and prediction files. Its predictor
// cuts each logit row to its window, as the server does (padding never competes).
type evalPipeline struct {
	preds   map[string]string
	nbest   map[string][]nbestEntry
	odds    map[string]float64
	skipped map[string]bool
}

func runEvalPipeline(t *testing.T, dir string, info Info, pairs []fixturePair, v2 bool) *evalPipeline {
	t.Helper()
	tok, err := tokenize.Load(dir)
	require.NoError(t, err)
	m, err := models.Load(dir, models.LoadOptions{})
	require.NoError(t, err)
	defer m.Params().Free()
	fopts := features.Options{MaxLength: info.MaxLength, Stride: info.Stride, ModelLimit: int(m.Config().MaxLength()), SkipTooLong: true}

	all := make([]squad.Example, len(pairs))
	for i, p := range pairs {
		// Scoring needs a gold answer; it plays no part in the predictions.
		all[i] = squad.Example{ID: p.ID, Question: p.Question, Context: p.Context,
			Answers: []squad.Answer{{Text: p.Context[:1]}}}
	}
	b, err := features.NewBuilder(tok, features.ModeEval, fopts)
	require.NoError(t, err)
	_, err = b.All(all)
	require.NoError(t, err)
	res := &evalPipeline{skipped: map[string]bool{}}
	for _, id := range b.Skipped() {
		res.skipped[id] = true
	}
	var examples []squad.Example
	for _, ex := range all {
		if !res.skipped[ex.ID] {
			examples = append(examples, ex)
		}
	}
	fopts.SkipTooLong = false
	windows, err := features.Eval(examples, tok, fopts)
	require.NoError(t, err)

	mp := &eval.ModelPredictor{Model: m, PadID: tok.PadID()}
	trimmed := eval.PredictorFunc(func(ctx context.Context, ws []features.Window) ([][]float32, [][]float32, error) {
		s, e, err := mp.Logits(ctx, ws)
		for i := range s {
			s[i], e[i] = s[i][:len(ws[i].IDs)], e[i][:len(ws[i].IDs)]
		}
		return s, e, err
	})
	out := t.TempDir()
	_, err = eval.Run(context.Background(), trimmed, examples, windows, eval.RunConfig{
		OutputDir: out, BatchSize: 8, Options: eval.Options{Version2WithNegative: v2}, SkipResultsFile: true,
	})
	require.NoError(t, err)
	readJSON(t, filepath.Join(out, "predictions.json"), &res.preds)
	readJSON(t, filepath.Join(out, "nbest_predictions.json"), &res.nbest)
	if v2 {
		readJSON(t, filepath.Join(out, "null_odds.json"), &res.odds)
	}
	return res
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, v))
}

// TestAnswersEqualEvalPipeline answers the tokenizer fixtures' 305 pairs (plain, accented, CJK,
// RTL, emoji, control characters, contexts of up to 36k characters that need many windows)
// with each tiny fixture model, from 8 goroutines at once, and checks every answer, its top 5
// candidates and the v2 null odds against the evaluation pipeline's files.
func TestAnswersEqualEvalPipeline(t *testing.T) {
	cases := []struct {
		arch string
		v2   bool
	}{{"bert", false}, {"bert", true}, {"roberta", false}, {"longformer", true}, {"deberta-v3", false}}
	for _, tc := range cases {
		name := tc.arch
		if tc.v2 {
			name += "-v2"
		}
		t.Run(name, func(t *testing.T) {
			dir := testModelDir(t, tc.arch)
			m, err := Load(dir, Options{MaxBatch: 8})
			require.NoError(t, err)
			defer m.Close()
			pairs := parityPairs(t, tc.arch)
			want := runEvalPipeline(t, dir, m.Info(), pairs, tc.v2)

			got := make([]Result, len(pairs))
			errs := make([]error, len(pairs))
			var wg sync.WaitGroup
			next := make(chan int)
			for range 8 {
				wg.Go(func() {
					for i := range next {
						got[i], errs[i] = m.Answer(context.Background(), pairs[i].Question, pairs[i].Context, AnswerOptions{TopK: 5, AllowNull: tc.v2})
					}
				})
			}
			for i := range pairs {
				next <- i
			}
			close(next)
			wg.Wait()

			answered, nulls, multi, windows := 0, 0, 0, 0
			for i, p := range pairs {
				if want.skipped[p.ID] {
					require.ErrorIs(t, errs[i], ErrInvalidInput, "%s: the pipeline skips it as too long", p.ID)
					continue
				}
				require.NoError(t, errs[i], p.ID)
				r := got[i]
				answered++
				windows += r.Windows
				if r.Windows > 1 {
					multi++
				}
				checkOffsets(t, p.Context, r.Answer)
				if r.Null {
					nulls++
					require.Contains(t, []string{"", "empty"}, want.preds[p.ID], p.ID)
				} else {
					require.Equal(t, want.preds[p.ID], r.Text, p.ID)
				}
				var nb []nbestEntry
				for _, e := range want.nbest[p.ID] {
					if !(e.Text == "empty" && e.StartLogit == 0 && e.EndLogit == 0) {
						nb = append(nb, e)
					}
				}
				require.Len(t, r.TopK, min(5, len(nb)), p.ID)
				for k, a := range r.TopK {
					checkOffsets(t, p.Context, a)
					require.Equal(t, nb[k].Text, a.Text, "%s candidate %d", p.ID, k)
					require.InDelta(t, nb[k].Probability, a.Probability, 1e-6, "%s candidate %d", p.ID, k)
					require.InDelta(t, float32(nb[k].StartLogit)+float32(nb[k].EndLogit), a.Score, 1e-4, "%s candidate %d", p.ID, k)
				}
				if tc.v2 {
					require.NotNil(t, r.NullScoreDiff, p.ID)
					require.InDelta(t, want.odds[p.ID], *r.NullScoreDiff, 1e-4, p.ID)
				}
			}
			require.Greater(t, multi, 10, "long contexts must need several windows")
			t.Logf("%s: %d pairs (%d windows) answered as the eval pipeline does (%d over several windows, %d null), %d rejected as too long", name, answered, windows, multi, nulls, len(want.skipped))
		})
	}
}

// parityPairs are the fixture pairs the parity test answers: all of them with
// SPANQA_FULL_PARITY=1, else the first 2 of each category with contexts up to 6,000 bytes
// (still dozens of windows for some), which keeps the test to seconds on two cores. Pairs with an empty
// question or context are left out (Answer rejects them, tested elsewhere), and for Longformer
// the pairs whose text holds a literal "</s>": the model's own global-attention rule, which the
// evaluation pipeline uses, cannot place the question then, while Answer can (tested below).
func parityPairs(t *testing.T, arch string) []fixturePair {
	full := os.Getenv("SPANQA_FULL_PARITY") == "1"
	perCategory := map[string]int{}
	var out []fixturePair
	for _, p := range fixturePairs(t) {
		if CheckPair(Pair{p.Question, p.Context}) != nil || (!full && (perCategory[p.Category] >= 2 || len(p.Context) > 6000)) {
			continue
		}
		if arch == "longformer" && strings.Contains(p.Question+p.Context, "</s>") {
			continue
		}
		perCategory[p.Category]++
		out = append(out, p)
	}
	return out
}

// TestLongformerLiteralSeparator: text with a literal "</s>" (which tokenizes as the separator)
// is answered, and does not fail the other calls batched with it.
func TestLongformerLiteralSeparator(t *testing.T) {
	m := loadTestModel(t, "longformer", Options{MaxBatch: 8, MaxWait: 20 * time.Millisecond})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			q, c := "Where is it?", "It is in Paris, which is the capital of France."
			if i%2 == 0 {
				q, c = "What does </s> mean?", "The string </s> ends a sequence for RoBERTa </s> and Longformer."
			}
			r, err := m.Answer(context.Background(), q, c, AnswerOptions{})
			require.NoError(t, err)
			checkOffsets(t, c, r.Answer)
		})
	}
	wg.Wait()
}

// checkOffsets checks that an answer's character and byte offsets both locate its text.
func checkOffsets(t *testing.T, context string, a Answer) {
	t.Helper()
	if a.Null {
		require.Equal(t, Answer{Score: a.Score, Probability: a.Probability, Start: -1, End: -1, ByteStart: -1, ByteEnd: -1, Null: true}, a)
		return
	}
	require.True(t, a.ByteStart >= 0 && a.ByteStart <= a.ByteEnd && a.ByteEnd <= len(context), "%+v", a)
	require.Equal(t, a.Text, context[a.ByteStart:a.ByteEnd])
	require.Equal(t, a.Start, utf8.RuneCountInString(context[:a.ByteStart]))
	require.Equal(t, a.End, a.Start+utf8.RuneCountInString(a.Text))
	require.False(t, math.IsNaN(a.Probability))
}
