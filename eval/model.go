package eval

import (
	"context"

	"github.com/spanqa/spanqa/data/features"
	"github.com/spanqa/spanqa/infer"
	"github.com/spanqa/spanqa/models"
)

// ModelPredictor runs a QA model (eval mode, no gradients) over padded batches of windows. It
// is the Predictor `spanqa eval` and per-epoch evaluation during training use.
type ModelPredictor struct {
	Model models.QAModel
	PadID int64
}

// Logits implements Predictor. Rows span the batch's padded length, as HF's evaluation loop
// hands them to post-processing.
func (p *ModelPredictor) Logits(ctx context.Context, ws []features.Window) (start, end [][]float32, err error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	l, err := infer.Forward(p.Model, ws, p.PadID)
	if err != nil {
		return nil, nil, err
	}
	start, end = l.Padded()
	return start, end, nil
}
