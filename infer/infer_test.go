package infer_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spanqa/spanqa/data/batch"
	"github.com/spanqa/spanqa/data/features"
	"github.com/spanqa/spanqa/eval"
	"github.com/spanqa/spanqa/infer"
	"github.com/spanqa/spanqa/internal/fixtures"
	"github.com/spanqa/spanqa/models"
	"github.com/spanqa/spanqa/torch"
)

// Longformer's fixture ids: <s> 0, <pad> 1, </s> 2 (vocab of 1000).
const bos, pad, sep = 0, 1, 2

// withLiteralSep is a window whose context holds a literal "</s>": the tokenizer gives it the
// separator id, but it is context (sequence id 1). Counting separators finds four.
func withLiteralSep(targets bool) features.Window {
	w := features.Window{
		//           <s> q    q    q   </s> </s> c   </s> c    c   </s>
		IDs:         []int64{bos, 310, 311, 312, sep, sep, 320, sep, 321, 322, sep},
		SequenceIDs: []int{-1, 0, 0, 0, -1, -1, 1, 1, 1, 1, -1},
		StartPos:    -1, EndPos: -1,
	}
	w.Mask = make([]int64, len(w.IDs))
	for i := range w.Mask {
		w.Mask[i] = 1
	}
	if targets {
		w.StartPos, w.EndPos = 6, 8
	}
	return w
}

// plainPair is an ordinary question/context window: three separators.
func plainPair(targets bool) features.Window {
	w := features.Window{
		IDs:         []int64{bos, 410, 411, sep, sep, 420, 421, sep},
		Mask:        []int64{1, 1, 1, 1, 1, 1, 1, 1},
		SequenceIDs: []int{-1, 0, 0, -1, -1, 1, 1, -1},
		StartPos:    -1, EndPos: -1,
	}
	if targets {
		w.StartPos, w.EndPos = 5, 6
	}
	return w
}

// questionMask is the global attention HF's LongformerForQuestionAnswering wants for rows of
// length l: <s> and the question tokens (sequence id 0), nothing else.
func questionMask(ws []features.Window, rows []int, l int) []int64 {
	out := make([]int64, len(rows)*l)
	for r, i := range rows {
		for k, s := range ws[i].SequenceIDs {
			if k == 0 || s == 0 {
				out[r*l+k] = 1
			}
		}
	}
	return out
}

func loadLongformer(t *testing.T) models.QAModel {
	t.Helper()
	m, err := models.Load(fixtures.Models(t, "longformer"), models.LoadOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { m.Params().Free() })
	return m
}

// recorder is a QAModel that keeps the global attention mask of each forward pass.
type recorder struct {
	models.QAModel
	mu     sync.Mutex
	global [][]int64
}

func (r *recorder) Forward(in models.Inputs, train bool) models.Output {
	var g []int64
	if in.GlobalMask != nil {
		g = in.GlobalMask.Int64s()
	}
	r.mu.Lock()
	r.global = append(r.global, g)
	r.mu.Unlock()
	return r.QAModel.Forward(in, train)
}

// TestQuestionGlobalMaskEveryStage: a Longformer window whose context holds a literal "</s>"
// gets global attention exactly on the question, from its sequence ids, in training batches,
// in evaluation and through Forward (the path serving takes; serve's own test checks it end to
// end). Counting separators, the model's rule when it is given no mask, refuses such a row.
func TestQuestionGlobalMaskEveryStage(t *testing.T) {
	m := loadLongformer(t)

	t.Run("train", func(t *testing.T) {
		ws := []features.Window{plainPair(true), withLiteralSep(true), plainPair(true)}
		loader, err := batch.NewLoader(ws, batch.Config{BatchSize: 3, PadID: pad, Shuffle: true, Seed: 3})
		require.NoError(t, err)
		it := loader.Epoch(context.Background(), 0, 0)
		defer it.Close()
		b, err := it.Next()
		require.NoError(t, err)
		torch.WithScope(func(s *torch.Scope) {
			in := infer.Inputs(s, b, torch.CPU)
			require.NotNil(t, in.GlobalMask)
			assert.Equal(t, questionMask(ws, b.Windows, b.L), in.GlobalMask.Int64s())
			out, err := models.Forward(m, in, true)
			require.NoError(t, err)
			require.NotNil(t, out.Loss)

			in.GlobalMask = nil
			_, err = models.Forward(m, in, true)
			assert.ErrorContains(t, err, "separator tokens", "the literal </s> defeats the separator count")
		})
	})

	t.Run("eval", func(t *testing.T) {
		ws := []features.Window{withLiteralSep(false), plainPair(false)}
		rec := &recorder{QAModel: m}
		start, end, err := (&eval.ModelPredictor{Model: rec, PadID: pad}).Logits(context.Background(), ws)
		require.NoError(t, err)
		require.Len(t, rec.global, 1)
		l := len(start[0])
		assert.Equal(t, questionMask(ws, []int{0, 1}, l), rec.global[0])
		assert.Len(t, end[1], l, "evaluation rows span the padded length")
	})

	t.Run("forward", func(t *testing.T) {
		ws := []features.Window{plainPair(false), withLiteralSep(false)}
		rec := &recorder{QAModel: m}
		lg, err := infer.Forward(rec, ws, pad)
		require.NoError(t, err)
		require.Len(t, rec.global, 1)
		assert.Equal(t, questionMask(ws, []int{0, 1}, lg.L), rec.global[0])
	})
}

// TestSequenceIDMaskMatchesSeparatorRule: on ordinary windows the mask from sequence ids is the
// one the model derives from the ids, so giving it changes no logit (parity with runs that
// passed none).
func TestSequenceIDMaskMatchesSeparatorRule(t *testing.T) {
	m := loadLongformer(t)
	ws := []features.Window{plainPair(false), plainPair(false)}
	ws[1].IDs = ws[1].IDs[:7:7] // a shorter row, so that padding is involved
	ws[1].IDs[6] = sep
	ws[1].Mask, ws[1].SequenceIDs = ws[1].Mask[:7], []int{-1, 0, 0, -1, -1, 1, -1}
	b, err := batch.Collate(ws, []int{0, 1}, batch.Config{BatchSize: 2, PadID: pad})
	require.NoError(t, err)
	var with, without []float32
	torch.WithScope(func(s *torch.Scope) {
		torch.NoGrad(func() {
			in := infer.Inputs(s, b, torch.CPU)
			require.NotNil(t, in.GlobalMask)
			out, err := models.Forward(m, in, false)
			require.NoError(t, err)
			with = out.StartLogits.Float32s()
			in.GlobalMask = nil
			out, err = models.Forward(m, in, false)
			require.NoError(t, err)
			without = out.StartLogits.Float32s()
		})
	})
	assert.Equal(t, without, with)
}

// TestRows: Padded rows span the batch's length, Trimmed rows are their prefixes of each
// window's length, and neither can grow into its neighbour.
func TestRows(t *testing.T) {
	m := loadLongformer(t)
	ws := []features.Window{withLiteralSep(false), plainPair(false)}
	lg, err := infer.Forward(m, ws, pad)
	require.NoError(t, err)
	assert.Equal(t, 2, lg.B)
	assert.Equal(t, 16, lg.L, "11 tokens padded to a multiple of 8")
	ps, pe := lg.Padded()
	ts, te := lg.Trimmed(ws)
	for i, w := range ws {
		require.Len(t, ps[i], lg.L)
		require.Len(t, pe[i], lg.L)
		require.Len(t, ts[i], len(w.IDs))
		require.Len(t, te[i], len(w.IDs))
		assert.Equal(t, ps[i][:len(w.IDs)], ts[i])
		assert.Equal(t, pe[i][:len(w.IDs)], te[i])
		assert.Equal(t, len(ts[i]), cap(ts[i]))
		assert.Equal(t, len(ps[i]), cap(ps[i]))
	}

	// Training targets are dropped: inference asks for no loss, so they need not fit.
	tw := []features.Window{plainPair(true)}
	_, err = infer.Forward(m, tw, pad)
	require.NoError(t, err)

	// A collation error gives no Logits; its message names the batch package.
	bad := plainPair(false)
	bad.Mask = bad.Mask[:3]
	lg, err = infer.Forward(m, []features.Window{bad}, pad)
	assert.Nil(t, lg)
	assert.ErrorContains(t, err, "batch: window 0")
}
