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
	return stepSync(m, opt, micro, lr, maxGradNorm, prec, nil)
}

// stepSync is StepWith for data-parallel training when sync is not nil ([dist]: see
// distributed.go): micro-batch losses weighted by sync, the gradients reduced across ranks
// between the last backward and the unscaling and clipping, and no micro-batch at all allowed
// (a rank without rows in a short last batch still takes part in the reduction).
func stepSync(m models.QAModel, opt *AdamW, micro []MicroBatch, lr, maxGradNorm float64, prec *Precision, sync GradSync) (res StepResult, err error) {
	if len(micro) == 0 && sync == nil {
		return res, fmt.Errorf("train: step with no batches")
	}
	res.LR = lr
	// One OS thread for forward and backward: see models.Forward.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var syncErr error
	err = torch.Catch(func() {
		for i, mb := range micro {
			torch.WithScope(func(s *torch.Scope) {
				var out models.Output
				prec.run(func() { out = m.Forward(mb(s), true) })
				if out.Loss == nil {
					panic(&torch.Error{Op: "train", Msg: "batch has no start/end positions"})
				}
				loss := out.Loss
				if sync != nil { // [dist] this rank's share of the global batch
					w := sync.LossWeight(i)
					res.Loss += out.Loss.Item() * w
					loss = loss.MulScalar(w)
				} else {
					res.Loss += out.Loss.Item() / float64(len(micro))
					if len(micro) > 1 {
						loss = loss.DivScalar(float64(len(micro)))
					}
				}
				if prec != nil && prec.Scaler != nil {
					loss = loss.MulScalar(prec.Scaler.Scale)
				}
				if sync != nil { // [dist] arms the bucketed all-reduce before the last backward
					if err := sync.BeforeBackward(i); err != nil {
						panic(&torch.Error{Op: "train", Msg: err.Error()})
					}
				}
				loss.Backward()
			})
		}
		if sync != nil { // [dist] the global batch's gradients and loss on every rank
			if res.Loss, syncErr = sync.Reduce(res.Loss); syncErr != nil {
				return
			}
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
	if err == nil {
		err = syncErr
	}
	if err != nil {
		m.Params().ZeroGrad()
		return res, fmt.Errorf("train: step %d: %w", opt.Step+1, err)
	}
	if math.IsNaN(res.Loss) || math.IsInf(res.Loss, 0) {
		return res, fmt.Errorf("train: step %d: loss is %v", opt.Step, res.Loss)
	}
	return res, nil
}
