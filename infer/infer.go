// Package infer is the one path from padded windows to a QA model's logits, shared by training,
// evaluation and serving: Inputs turns a collated batch into model inputs, and Forward runs the
// model without gradients over windows and returns their logit rows.
//
// Inputs sets the question global-attention mask for every architecture (models without global
// attention ignore it), so no stage switches on the architecture.
package infer

import (
	"fmt"

	"github.com/spanqa/spanqa/data/batch"
	"github.com/spanqa/spanqa/data/features"
	"github.com/spanqa/spanqa/models"
	"github.com/spanqa/spanqa/torch"
)

// Inputs makes the model inputs of collated batch b in scope s, on device dev: ids, attention
// mask, token types, the question global-attention mask (from the windows' sequence ids; nil,
// so the model derives it from the ids, when the windows carry none) and, for training
// batches, the start and end positions that ask the model for its loss.
func Inputs(s *torch.Scope, b *batch.Batch, dev torch.Device) models.Inputs {
	mk := func(v []int64) *torch.Tensor {
		if v == nil {
			return nil
		}
		t := torch.FromSlice(s, v, int64(b.B), int64(b.L))
		if dev != torch.CPU {
			t = t.ToDevice(dev)
		}
		return t
	}
	in := models.Inputs{IDs: mk(b.IDs), Mask: mk(b.Mask), TypeIDs: mk(b.TypeIDs), GlobalMask: mk(b.GlobalMask)}
	if b.StartPos != nil {
		in.StartPositions = torch.FromSlice(s, b.StartPos).ToDevice(dev)
		in.EndPositions = torch.FromSlice(s, b.EndPos).ToDevice(dev)
	}
	return in
}

// Logits are the start and end logits of one forward pass over B windows padded to length L,
// [B, L] row-major.
type Logits struct {
	Start, End []float32
	B, L       int
}

// Forward runs m (eval mode, no gradients) over ws padded with padID into one batch. Training
// targets the windows carry are dropped: inference computes no loss.
//
// Errors are left for the caller to wrap: those of collation (bad windows, nil Logits) and of
// the forward pass (bad shapes, out of memory) name their package already. When the forward
// pass fails, the Logits returned with the error still give the batch's shape (B, L), for
// callers that report it, and hold no logits.
func Forward(m models.QAModel, ws []features.Window, padID int64) (*Logits, error) {
	idx := make([]int, len(ws))
	for i := range idx {
		idx[i] = i
	}
	b, err := batch.Collate(ws, idx, batch.Config{BatchSize: len(ws), PadID: padID})
	if err != nil {
		return nil, err
	}
	b.StartPos, b.EndPos = nil, nil
	l := &Logits{B: b.B, L: b.L}
	torch.WithScope(func(s *torch.Scope) {
		torch.NoGrad(func() {
			var out models.Output
			out, err = models.Forward(m, Inputs(s, b, m.Params().Device()), false)
			if err != nil {
				return
			}
			err = torch.Catch(func() {
				l.Start, l.End = out.StartLogits.Float32s(), out.EndLogits.Float32s()
			})
		})
	})
	if err != nil {
		return &Logits{B: b.B, L: b.L}, err
	}
	if len(l.Start) != b.B*b.L || len(l.End) != b.B*b.L {
		return &Logits{B: b.B, L: b.L}, fmt.Errorf("model returned %d and %d logits for a %dx%d batch", len(l.Start), len(l.End), b.B, b.L)
	}
	return l, nil
}

// Padded returns each window's rows over the batch's padded length L, as HF's evaluation loop
// hands them to post-processing (padding positions take part in its top-n selection).
func (l *Logits) Padded() (start, end [][]float32) {
	return l.rows(func(int) int { return l.L })
}

// Trimmed returns each window's rows cut to the window's own length (ws are the windows given to
// Forward): padding positions do not compete with real tokens, so an answer does not depend on
// the windows that happened to share its batch.
func (l *Logits) Trimmed(ws []features.Window) (start, end [][]float32) {
	return l.rows(func(i int) int { return len(ws[i].IDs) })
}

// rows cuts Start and End into one row a window, row i keeping its first n(i) logits; the rows
// are capped so that appending to one never writes into the next.
func (l *Logits) rows(n func(i int) int) (start, end [][]float32) {
	start, end = make([][]float32, l.B), make([][]float32, l.B)
	for i := range start {
		lo := i * l.L
		hi := lo + n(i)
		start[i], end[i] = l.Start[lo:hi:hi], l.End[lo:hi:hi]
	}
	return start, end
}
