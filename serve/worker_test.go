package serve

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
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
