package batch

import (
	"context"
	"errors"
	"io"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/spanqa/spanqa/data/features"
	"github.com/spanqa/spanqa/data/squad"
	"github.com/spanqa/spanqa/data/tokenize"
	"github.com/spanqa/spanqa/internal/fixtures"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// win makes a window of n tokens with ids base, base+1, ...
func win(n int, base int64, types, targets bool) features.Window {
	w := features.Window{IDs: make([]int64, n), Mask: make([]int64, n), StartPos: -1, EndPos: -1}
	for i := range n {
		w.IDs[i], w.Mask[i] = base+int64(i), 1
	}
	if types {
		w.TypeIDs = make([]int64, n)
		for i := n / 2; i < n; i++ {
			w.TypeIDs[i] = 1
		}
	}
	if targets {
		w.StartPos, w.EndPos = n/2, n-1
	}
	return w
}

func TestCollate(t *testing.T) {
	ws := []features.Window{win(3, 10, true, true), win(9, 20, true, true), win(5, 30, true, true)}
	b, err := Collate(ws, []int{2, 0}, Config{BatchSize: 2, PadID: 1})
	require.NoError(t, err)
	assert.Equal(t, 2, b.B)
	assert.Equal(t, 8, b.L, "longest 5 rounded up to 8")
	assert.Equal(t, []int64{30, 31, 32, 33, 34, 1, 1, 1, 10, 11, 12, 1, 1, 1, 1, 1}, b.IDs)
	assert.Equal(t, []int64{1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0}, b.Mask)
	assert.Equal(t, []int64{0, 0, 1, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0}, b.TypeIDs)
	assert.Equal(t, []int64{2, 1}, b.StartPos)
	assert.Equal(t, []int64{4, 2}, b.EndPos)
	assert.Equal(t, []int{2, 0}, b.Windows)

	b, err = Collate(ws, []int{0, 1}, Config{BatchSize: 2})
	require.NoError(t, err)
	assert.Equal(t, 16, b.L)

	// evaluation windows without token types: no TypeIDs, no targets
	ev := []features.Window{win(4, 1, false, false), win(2, 1, false, false)}
	b, err = Collate(ev, []int{0, 1}, Config{BatchSize: 2, PadMultiple: 1})
	require.NoError(t, err)
	assert.Equal(t, 4, b.L)
	assert.Nil(t, b.TypeIDs)
	assert.Nil(t, b.StartPos)
	assert.Nil(t, b.EndPos)

	for _, c := range []struct {
		ws   []features.Window
		idx  []int
		want string
	}{
		{ws, nil, "empty batch"},
		{ws, []int{3}, "out of range"},
		{append(ws[:1:1], win(3, 0, false, true)), []int{0, 1}, "differs from window 0"},
		{append(ws[:1:1], win(3, 0, true, false)), []int{0, 1}, "differs from window 0"},
		{[]features.Window{{IDs: []int64{1, 2}, Mask: []int64{1}, StartPos: -1}}, []int{0}, "2 ids, 1 mask values"},
		{[]features.Window{{IDs: []int64{1, 2}, Mask: []int64{1, 1}, StartPos: 0, EndPos: 2}}, []int{0}, "targets 0..2 outside 2 tokens"},
	} {
		_, err := Collate(c.ws, c.idx, Config{BatchSize: 2})
		assert.ErrorContains(t, err, c.want)
	}
}

// TestCollateGlobalMask: the question global mask comes from the sequence ids, so a separator id
// inside the context (a literal "</s>" in the text) does not move it.
func TestCollateGlobalMask(t *testing.T) {
	const sep = 2
	// <s> q q </s> </s> c </s>(literal, context) c </s>
	literal := features.Window{
		IDs:         []int64{0, 10, 11, sep, sep, 20, sep, 21, sep},
		Mask:        []int64{1, 1, 1, 1, 1, 1, 1, 1, 1},
		SequenceIDs: []int{-1, 0, 0, -1, -1, 1, 1, 1, -1},
		StartPos:    5, EndPos: 7,
	}
	// <s> q </s> </s> c </s>
	plain := features.Window{
		IDs:         []int64{0, 10, sep, sep, 20, sep},
		Mask:        []int64{1, 1, 1, 1, 1, 1},
		SequenceIDs: []int{-1, 0, -1, -1, 1, -1},
		StartPos:    4, EndPos: 4,
	}
	ws := []features.Window{literal, plain}
	b, err := Collate(ws, []int{1, 0}, Config{BatchSize: 2, PadID: 1, PadMultiple: 1})
	require.NoError(t, err)
	assert.Equal(t, []int64{
		1, 1, 0, 0, 0, 0, 0, 0, 0,
		1, 1, 1, 0, 0, 0, 0, 0, 0,
	}, b.GlobalMask)

	// Windows read from JSON Lines carry no sequence ids: no mask, the model derives it.
	b, err = Collate([]features.Window{win(4, 1, false, false)}, []int{0}, Config{BatchSize: 1})
	require.NoError(t, err)
	assert.Nil(t, b.GlobalMask)

	_, err = Collate(append(ws[:1:1], win(3, 0, false, true)), []int{0, 1}, Config{BatchSize: 2})
	assert.ErrorContains(t, err, "differs from window 0 in token types, sequence ids or targets")
	bad := plain
	bad.SequenceIDs = bad.SequenceIDs[:5]
	_, err = Collate([]features.Window{bad}, []int{0}, Config{BatchSize: 1})
	assert.ErrorContains(t, err, "5 sequence ids")
}

func TestPaddedLength(t *testing.T) {
	c := Config{PadMultiple: 8}
	assert.Equal(t, []int{8, 8, 16, 384}, []int{c.PaddedLength(1), c.PaddedLength(8), c.PaddedLength(9), c.PaddedLength(381)})
	c.MaxLength = 383
	assert.Equal(t, 383, c.PaddedLength(381), "rounding stops at MaxLength")
	assert.Equal(t, 376, c.PaddedLength(370))
	c.MaxLength = 100
	assert.Equal(t, 130, c.PaddedLength(130), "never below the longest window")
}

func lengthsOf(n int, seed uint64) []int {
	r := newRNG(seed, 0)
	ls := make([]int, n)
	for i := range ls {
		ls[i] = 20 + r.intn(365)
	}
	return ls
}

func TestOrderEval(t *testing.T) {
	got := Order(lengthsOf(10, 1), Config{BatchSize: 4}, 3)
	assert.Equal(t, [][]int{{0, 1, 2, 3}, {4, 5, 6, 7}, {8, 9}}, got)
	got = Order(lengthsOf(10, 1), Config{BatchSize: 4, DropLast: true}, 0)
	assert.Equal(t, [][]int{{0, 1, 2, 3}, {4, 5, 6, 7}}, got)
}

func padded(ls []int, order [][]int) (real, total int) {
	for _, b := range order {
		m := 0
		for _, i := range b {
			real += ls[i]
			m = max(m, ls[i])
		}
		total += len(b) * (m + 7) / 8 * 8
	}
	return
}

func TestOrderTrain(t *testing.T) {
	ls := lengthsOf(1000, 7)
	cfg := Config{BatchSize: 16, Shuffle: true, Seed: 42, BucketBatches: 10}
	o1 := Order(ls, cfg, 0)
	assert.Equal(t, o1, Order(ls, cfg, 0), "same seed and epoch, same order")
	assert.NotEqual(t, o1, Order(ls, cfg, 1), "each epoch differs")
	cfg2 := cfg
	cfg2.Seed = 43
	assert.NotEqual(t, o1, Order(ls, cfg2, 0), "each seed differs")

	var all []int
	partial := 0
	for _, b := range o1 {
		all = append(all, b...)
		if len(b) != 16 {
			partial++
		}
	}
	slices.Sort(all)
	for i := range all {
		require.Equal(t, i, all[i], "every window exactly once")
	}
	assert.Equal(t, 1, partial, "1000 = 62*16 + 8")
	assert.Len(t, o1, 63)

	// length bucketing pads much less than a random order
	real, bucketed := padded(ls, o1)
	r := newRNG(9, 9)
	perm := make([]int, len(ls))
	for i := range perm {
		perm[i] = i
	}
	shuffle(r, perm)
	var random [][]int
	for lo := 0; lo < len(perm); lo += 16 {
		random = append(random, perm[lo:min(lo+16, len(perm))])
	}
	_, unbucketed := padded(ls, random)
	t.Logf("padding: bucketed %.1f%%, random %.1f%%", 100*float64(bucketed-real)/float64(bucketed), 100*float64(unbucketed-real)/float64(unbucketed))
	assert.Less(t, bucketed-real, (unbucketed-real)/4)

	cfg.DropLast = true
	o := Order(ls, cfg, 0)
	assert.Len(t, o, 62)
	for _, b := range o {
		assert.Len(t, b, 16)
	}
}

// The order of a given seed is pinned: a change would silently break resumed runs.
func TestOrderPinned(t *testing.T) {
	o := Order([]int{5, 9, 1, 7, 3, 8, 2, 6, 4, 10}, Config{BatchSize: 3, Shuffle: true, Seed: 1, BucketBatches: 2}, 0)
	assert.Equal(t, [][]int{{9, 7, 8}, {6}, {1, 5, 3}, {0, 4, 2}}, o)
}

func collectEpoch(t *testing.T, it *Iterator) []*Batch {
	t.Helper()
	var out []*Batch
	for {
		b, err := it.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		out = append(out, b)
	}
}

func TestLoader(t *testing.T) {
	var ws []features.Window
	for i, n := range lengthsOf(203, 3) {
		ws = append(ws, win(n, int64(i), true, true))
	}
	cfg := Config{BatchSize: 8, PadID: 0, Shuffle: true, Seed: 5, Prefetch: 3, Workers: 3}
	l, err := NewLoader(ws, cfg)
	require.NoError(t, err)
	assert.Equal(t, 26, l.NumBatches())
	for epoch := range 2 {
		got := collectEpoch(t, l.Epoch(context.Background(), epoch, 0))
		order := l.Order(epoch)
		require.Len(t, got, len(order))
		for i, b := range got {
			assert.Equal(t, Position{Epoch: epoch, Batch: i}, b.Pos)
			want, err := Collate(ws, order[i], l.cfg)
			require.NoError(t, err)
			want.Pos = b.Pos
			assert.Equal(t, want, b)
		}
		// resuming after batch 10 continues exactly
		rest := collectEpoch(t, l.Epoch(context.Background(), epoch, 11))
		assert.Equal(t, got[11:], rest)
	}
	_, err = NewLoader(ws, Config{})
	assert.Error(t, err)
}

func TestLoaderCancel(t *testing.T) {
	var ws []features.Window
	for i, n := range lengthsOf(500, 4) {
		ws = append(ws, win(n, int64(i), false, false))
	}
	before := runtime.NumGoroutine()
	l, err := NewLoader(ws, Config{BatchSize: 4})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	it := l.Epoch(ctx, 0, 0)
	for range 3 {
		_, err := it.Next()
		require.NoError(t, err)
	}
	cancel()
	_, err = it.Next()
	assert.ErrorIs(t, err, context.Canceled)
	_, err = it.Next()
	assert.ErrorIs(t, err, context.Canceled, "sticky")

	it = l.Epoch(context.Background(), 0, 0)
	_, err = it.Next()
	require.NoError(t, err)
	it.Close()
	_, err = it.Next()
	assert.Error(t, err)

	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	assert.LessOrEqual(t, runtime.NumGoroutine(), before, "the goroutines end")
}

// On SQuAD dev windows (BERT), length bucketing cuts padding; evaluation keeps the order.
func TestDevBatches(t *testing.T) {
	tok, err := tokenize.Load(fixtures.Tokenizers(t, "bert-base-uncased"))
	require.NoError(t, err)
	exs, _, err := squad.ReadJSON(fixtures.Data(t, "squad", "v1.1", "dev-v1.1.json"), squad.Options{})
	require.NoError(t, err)
	ws, err := features.Train(exs[:2000], tok, features.DefaultOptions)
	require.NoError(t, err)
	for _, shuffle := range []bool{false, true} {
		l, err := NewLoader(ws, Config{BatchSize: 32, PadID: tok.PadID(), Shuffle: shuffle, Seed: 1, MaxLength: 384})
		require.NoError(t, err)
		real, total, seen := 0, 0, 0
		for _, b := range collectEpoch(t, l.Epoch(context.Background(), 0, 0)) {
			require.LessOrEqual(t, b.L, 384)
			require.Zero(t, b.L%8)
			total += b.B * b.L
			for _, i := range b.Windows {
				real += len(ws[i].IDs)
				if !shuffle {
					require.Equal(t, seen, i, "evaluation order")
				}
				seen++
			}
		}
		require.Equal(t, len(ws), seen)
		t.Logf("shuffle=%v: %d windows, padding %.1f%% of %d tokens", shuffle, len(ws), 100*float64(total-real)/float64(total), total)
	}
}
