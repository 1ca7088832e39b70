package eval

import (
	"context"

	"github.com/spanqa/spanqa/data/batch"
	"github.com/spanqa/spanqa/data/features"
	"github.com/spanqa/spanqa/models"
	"github.com/spanqa/spanqa/torch"
)

// ModelPredictor runs a QA model (eval mode, no gradients) over padded batches of windows. It
// is the Predictor `spanqa eval` and per-epoch evaluation during training use.
type ModelPredictor struct {
	Model models.QAModel
	PadID int64
}

// BatchInputs makes model inputs from a collated batch in scope s, on the model's device.
func BatchInputs(s *torch.Scope, b *batch.Batch, dev torch.Device) models.Inputs {
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
	in := models.Inputs{IDs: mk(b.IDs), Mask: mk(b.Mask), TypeIDs: mk(b.TypeIDs)}
	if b.StartPos != nil {
		in.StartPositions = torch.FromSlice(s, b.StartPos).ToDevice(dev)
		in.EndPositions = torch.FromSlice(s, b.EndPos).ToDevice(dev)
	}
	return in
}

// Logits implements Predictor.
func (p *ModelPredictor) Logits(ctx context.Context, ws []features.Window) (start, end [][]float32, err error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	idx := make([]int, len(ws))
	for i := range idx {
		idx[i] = i
	}
	b, err := batch.Collate(ws, idx, batch.Config{BatchSize: len(ws), PadID: p.PadID})
	if err != nil {
		return nil, nil, err
	}
	b.StartPos, b.EndPos = nil, nil
	torch.WithScope(func(s *torch.Scope) {
		torch.NoGrad(func() {
			var out models.Output
			out, err = models.Forward(p.Model, BatchInputs(s, b, p.Model.Params().Device()), false)
			if err != nil {
				return
			}
			start = splitRows(out.StartLogits.Float32s(), b.B, b.L)
			end = splitRows(out.EndLogits.Float32s(), b.B, b.L)
		})
	})
	return start, end, err
}

func splitRows(v []float32, rows, cols int) [][]float32 {
	out := make([][]float32, rows)
	for i := range out {
		out[i] = v[i*cols : (i+1)*cols : (i+1)*cols]
	}
	return out
}
