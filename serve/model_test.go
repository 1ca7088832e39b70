package serve

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/spanqa/spanqa/torch"
)

func TestAnswerBatchEqualsAnswer(t *testing.T) {
	m := loadTestModel(t, "roberta", Options{MaxBatch: 4})
	pairs := []Pair{
		{testQuestion, testContext},
		{"Where does it flow?", "The Seine flows through Paris. " + strings.Repeat("It is a long river with many bridges. ", 30)},
		{"Qui?", "Émile Zola est né à Paris 🇫🇷 en 1840."},
	}
	o := AnswerOptions{TopK: 4}
	batch, err := m.AnswerBatch(context.Background(), pairs, o)
	require.NoError(t, err)
	require.Len(t, batch, len(pairs))
	require.Greater(t, batch[1].Windows, 4, "the long context spans several jobs of MaxBatch windows")
	for i, p := range pairs {
		one, err := m.Answer(context.Background(), p.Question, p.Context, o)
		require.NoError(t, err)
		require.Equal(t, one.Text, batch[i].Text)
		require.Len(t, one.TopK, 4)
		for k := range one.TopK {
			require.Equal(t, one.TopK[k].Text, batch[i].TopK[k].Text)
			require.InDelta(t, one.TopK[k].Probability, batch[i].TopK[k].Probability, 1e-6)
			checkOffsets(t, p.Context, one.TopK[k])
		}
		require.Nil(t, one.NullScoreDiff)
	}
}

func TestNullAnswers(t *testing.T) {
	m := loadTestModel(t, "bert", Options{})
	ctx := context.Background()
	never, err := m.Answer(ctx, testQuestion, testContext, AnswerOptions{AllowNull: true, NullThreshold: 1e9, TopK: 5})
	require.NoError(t, err)
	require.False(t, never.Null)
	require.NotNil(t, never.NullScoreDiff)
	for _, a := range never.TopK {
		checkOffsets(t, testContext, a)
	}

	always, err := m.Answer(ctx, testQuestion, testContext, AnswerOptions{AllowNull: true, NullThreshold: -1e9})
	require.NoError(t, err)
	require.True(t, always.Null)
	require.Equal(t, "", always.Text)
	require.Equal(t, *never.NullScoreDiff, *always.NullScoreDiff)
	checkOffsets(t, testContext, always.Answer)
}

func TestAnswerBadInput(t *testing.T) {
	m := loadTestModel(t, "bert", Options{})
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		p    Pair
		o    AnswerOptions
		msg  string
	}{
		{"empty question", Pair{"", "Paris."}, AnswerOptions{}, "question is empty"},
		{"blank context", Pair{"Where?", "\u00a0 \n"}, AnswerOptions{}, "context is empty"},
		{"invalid UTF-8", Pair{"Where?", "Par\xe9s"}, AnswerOptions{}, "context is not valid UTF-8"},
		{"question too long", Pair{strings.Repeat("qxz ", 100), "Paris."}, AnswerOptions{}, "question is too long"},
		{"negative top k", Pair{"Where?", "Paris."}, AnswerOptions{TopK: -1}, "top_k"},
		{"huge answer length", Pair{"Where?", "Paris."}, AnswerOptions{MaxAnswerLength: 1 << 20}, "max_answer_length"},
	} {
		_, err := m.Answer(ctx, tc.p.Question, tc.p.Context, tc.o)
		require.ErrorIs(t, err, ErrInvalidInput, tc.name)
		require.Contains(t, err.Error(), tc.msg, tc.name)
	}
	_, err := m.AnswerBatch(ctx, nil, AnswerOptions{})
	require.ErrorIs(t, err, ErrInvalidInput)
	_, err = m.AnswerBatch(ctx, []Pair{{"Where?", "Paris."}, {"", "x"}}, AnswerOptions{})
	require.ErrorIs(t, err, ErrInvalidInput)
	require.Contains(t, err.Error(), "pair 1: ")
}

// TestAnswerCancel: a call whose context ends while it waits for the worker returns at once.
func TestAnswerCancel(t *testing.T) {
	m := loadTestModel(t, "bert", Options{MaxBatch: 64, MaxWait: 400 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	start := time.Now()
	_, err := m.Answer(ctx, testQuestion, testContext, AnswerOptions{})
	require.ErrorIs(t, err, context.Canceled)
	require.Less(t, time.Since(start), 300*time.Millisecond)

	_, err = m.Answer(ctx, testQuestion, testContext, AnswerOptions{})
	require.ErrorIs(t, err, context.Canceled, "an ended context fails before any work")

	// The worker skips the abandoned job and goes on.
	r, err := m.Answer(context.Background(), testQuestion, testContext, AnswerOptions{})
	require.NoError(t, err)
	require.NotEmpty(t, r.Text)
}

// TestClose: Close waits for the calls in flight, frees the parameters, and later calls fail.
func TestClose(t *testing.T) {
	before := torch.LiveTensors()
	m, err := Load(testModelDir(t, "bert"), Options{MaxBatch: 64, MaxWait: 200 * time.Millisecond})
	require.NoError(t, err)
	require.Greater(t, torch.LiveTensors(), before)

	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { _, errs[i] = m.Answer(context.Background(), testQuestion, testContext, AnswerOptions{}) })
	}
	waitFor(t, 5*time.Second, func() bool { return m.InFlight() == len(errs) })
	require.NoError(t, m.Close())
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err, "calls in flight when Close starts are answered")
	}
	require.Equal(t, before, torch.LiveTensors(), "Close frees every parameter")
	_, err = m.Answer(context.Background(), testQuestion, testContext, AnswerOptions{})
	require.ErrorIs(t, err, ErrClosed)
	require.NoError(t, m.Close(), "Close twice")
}

// TestConcurrentAnswers runs many goroutines against one model (run it with -race): each gets
// the answer it gets alone, whatever it was batched with.
func TestConcurrentAnswers(t *testing.T) {
	for _, o := range []Options{{MaxBatch: 8, MaxWait: time.Millisecond}, {MaxBatch: 1}} {
		t.Run(fmt.Sprintf("max-batch-%d", o.MaxBatch), func(t *testing.T) {
			m := loadTestModel(t, "bert", o)
			ctx := context.Background()
			contexts := []string{testContext, "The Seine flows through Paris. " + strings.Repeat("Bridges cross it. ", 40), "Zola was born in 1840."}
			want := make([]Result, len(contexts))
			for i, c := range contexts {
				var err error
				want[i], err = m.Answer(ctx, testQuestion, c, AnswerOptions{TopK: 2})
				require.NoError(t, err)
			}
			var wg sync.WaitGroup
			var mu sync.Mutex
			var failures []error
			for g := range 16 {
				wg.Go(func() {
					for k := range 6 {
						i := (g + k) % len(contexts)
						var got Result
						var err error
						if k%3 == 2 {
							var rs []Result
							rs, err = m.AnswerBatch(ctx, []Pair{{testQuestion, contexts[i]}, {testQuestion, contexts[i]}}, AnswerOptions{TopK: 2})
							if err == nil {
								got = rs[1]
							}
						} else {
							got, err = m.Answer(ctx, testQuestion, contexts[i], AnswerOptions{TopK: 2})
						}
						if err == nil && (got.Text != want[i].Text || got.Start != want[i].Start || len(got.TopK) != 2) {
							err = fmt.Errorf("context %d: got %q at %d, want %q at %d", i, got.Text, got.Start, want[i].Text, want[i].Start)
						}
						if err != nil {
							mu.Lock()
							failures = append(failures, err)
							mu.Unlock()
						}
					}
				})
			}
			wg.Wait()
			require.Empty(t, failures)
		})
	}
}
