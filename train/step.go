package train

import (
	"fmt"
	"math"
	"runtime"

	"github.com/spanqa/spanqa/models"
	"github.com/spanqa/spanqa/torch"
)

// StepResult is what one optimizer step reports.
type StepResult struct {
	Loss     float64 // mean loss over the accumulated micro-batches
	GradNorm float64 // global gradient norm before clipping
	LR       float64 // learning rate used by the update
	// Skipped is set when fp16 gradients overflowed and the update was skipped.
	Skipped bool
}

// MicroBatch builds one micro-batch's inputs in the given scope.
type MicroBatch func(s *torch.Scope) models.Inputs

// Step runs one optimizer step the way HF's Trainer does: for each micro-batch a forward in
// training mode and a backward of loss/len(micro); then global-norm clipping (maxGradNorm <= 0
// disables it), the AdamW update at lr, and gradients dropped.
func Step(m models.QAModel, opt *AdamW, micro []MicroBatch, lr, maxGradNorm float64) (res StepResult, err error) {
	return StepWith(m, opt, micro, lr, maxGradNorm, nil)
}

// StepWith is Step with mixed precision: forwards under autocast and, for fp16, the loss
// scaled before backward and the gradients unscaled (and the update skipped on overflow)
// before clipping.
func StepWith(m models.QAModel, opt *AdamW, micro []MicroBatch, lr, maxGradNorm float64, prec *Precision) (res StepResult, err error) {
	if len(micro) == 0 {
		return res, fmt.Errorf("train: step with no batches")
	}
	res.LR = lr
	// One OS thread for forward and backward: see models.Forward.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	err = torch.Catch(func() {
		for _, mb := range micro {
			torch.WithScope(func(s *torch.Scope) {
				var out models.Output
				prec.run(func() { out = m.Forward(mb(s), true) })
				if out.Loss == nil {
					panic(&torch.Error{Op: "train", Msg: "batch has no start/end positions"})
				}
				res.Loss += out.Loss.Item() / float64(len(micro))
				loss := out.Loss
				if len(micro) > 1 {
					loss = loss.DivScalar(float64(len(micro)))
				}
				if prec != nil && prec.Scaler != nil {
					loss = loss.MulScalar(prec.Scaler.Scale)
				}
				loss.Backward()
			})
		}
		if prec != nil && prec.Scaler != nil && !prec.Scaler.unscale(opt.Params()) {
			res.Skipped = true
			res.GradNorm = math.Inf(1)
			m.Params().ZeroGrad()
			return
		}
		if maxGradNorm > 0 {
			res.GradNorm = torch.ClipGradNorm(opt.Params(), maxGradNorm)
		} else {
			res.GradNorm = torch.ClipGradNorm(opt.Params(), math.Inf(1))
		}
		opt.Apply(lr)
		m.Params().ZeroGrad()
	})
	if err != nil {
		m.Params().ZeroGrad()
		return res, fmt.Errorf("train: step %d: %w", opt.Step+1, err)
	}
	if math.IsNaN(res.Loss) || math.IsInf(res.Loss, 0) {
		return res, fmt.Errorf("train: step %d: loss is %v", opt.Step, res.Loss)
	}
	return res, nil
}
