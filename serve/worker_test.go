package serve

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/spanqa/spanqa/data/squad"
	"github.com/spanqa/spanqa/data/tokenize"
	"github.com/spanqa/spanqa/models"
)

// TestBatchesBoundPadding: short and long requests that arrive together are batched by length,
// so that the short ones are not padded to the long ones' length.
func TestBatchesBoundPadding(t *testing.T) {
	m := loadTestModel(t, "bert", Options{MaxBatch: 16, MaxWait: 300 * time.Millisecond})
	var mu sync.Mutex
	var passes []BatchInfo
	defer m.Observe(func(b BatchInfo) {
		mu.Lock()
		passes = append(passes, b)
		mu.Unlock()
	})()
	long := "Paris is the capital of France. " + strings.Repeat("It has many bridges and museums. ", 12)
	var wg sync.WaitGroup
	var want atomic.Int64
	for i := range 8 {
		wg.Go(func() {
			c := "Paris is in France."
			if i%4 == 0 {
				c = long
			}
			r, err := m.Answer(context.Background(), "Where is Paris?", c, AnswerOptions{})
			require.NoError(t, err)
			want.Add(int64(r.Windows))
		})
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	windows := 0
	for _, p := range passes {
		windows += p.Windows
		// Rows are padded to a multiple of 8 on top of the bound.
		require.LessOrEqual(t, float64(p.Windows*p.Length), maxPadding*float64(p.Tokens)+float64(7*p.Windows), "%+v", p)
	}
	require.EqualValues(t, want.Load(), windows)
	require.Less(t, len(passes), 8, "requests were batched")
	require.Greater(t, len(passes), 1, "long and short requests ran apart")
}

// globalRecorder is a QAModel that keeps the ids and global attention mask of each forward pass.
type globalRecorder struct {
	models.QAModel
	mu          sync.Mutex
	ids, global [][]int64
}

func (r *globalRecorder) Forward(in models.Inputs, train bool) models.Output {
	var g []int64
	if in.GlobalMask != nil {
		g = in.GlobalMask.Int64s()
	}
	r.mu.Lock()
	r.ids, r.global = append(r.ids, in.IDs.Int64s()), append(r.global, g)
	r.mu.Unlock()
	return r.QAModel.Forward(in, train)
}

// TestLongformerGlobalMaskFromSequenceIDs: a context with a literal "</s>" (which the tokenizer
// turns into the separator id) is answered, with global attention exactly on <s> and the
// question tokens, as the window's sequence ids place them.
func TestLongformerGlobalMaskFromSequenceIDs(t *testing.T) {
	dir := testModelDir(t, "longformer")
	tok, err := tokenize.Load(dir)
	require.NoError(t, err)
	qa, err := models.Load(dir, models.LoadOptions{})
	require.NoError(t, err)
	rec := &globalRecorder{QAModel: qa}
	m, err := newModel(rec, tok, Options{MaxBatch: 16, QueueSize: 16}, trainingArgs{})
	require.NoError(t, err)
	defer m.Close()

	question, context_ := "Where is Paris?", "Paris is in France. </s> It has many bridges."
	ws, err := m.windows([]squad.Example{{ID: "0", Question: question, Context: context_}})
	require.NoError(t, err)
	require.Len(t, ws, 1)
	seps := 0
	for _, id := range ws[0].IDs {
		if id == qa.Config().SepTokenID {
			seps++
		}
	}
	require.Equal(t, 4, seps, "the literal </s> is a separator id in the context")

	_, err = m.Answer(context.Background(), question, context_, AnswerOptions{})
	require.NoError(t, err)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	require.Len(t, rec.global, 1)
	l := len(rec.ids[0])
	want := make([]int64, l)
	for k, s := range ws[0].SequenceIDs {
		if k == 0 || s == 0 {
			want[k] = 1
		}
	}
	require.Equal(t, ws[0].IDs, rec.ids[0][:len(ws[0].IDs)])
	require.Equal(t, want, rec.global[0])
}
