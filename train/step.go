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

// MicroBatch builds one micro-batch's inputs in scope s. Step calls it inside the scope that
// frees the micro-batch's tensors after its backward, so that only one micro-batch's
// activations are alive at a time.
type MicroBatch func(s *torch.Scope) models.Inputs

// StepOptions are the settings of an optimizer step other than its learning rate; the zero
// value is a float32 step in a single process without clipping.
type StepOptions struct {
	// MaxGradNorm clips the gradients' global L2 norm (HF's max_grad_norm); <= 0 disables
	// clipping (the norm is still measured and reported).
	MaxGradNorm float64
	// Precision, when set, runs the forwards under autocast and, for fp16, scales the loss
	// before backward and unscales the gradients before clipping, skipping the update when
	// they overflowed (torch.cuda.amp.GradScaler).
	Precision *Precision
	// Sync, when set, makes the step this rank's share of a data-parallel step (see
	// distributed.go): each micro-batch's loss is weighted by Sync.LossWeight instead of
	// 1/len(micro), the gradients are reduced across ranks between the last backward and the
	// clipping, and no micro-batch at all is allowed (a rank without rows in a short last
	// batch still takes part in the reduction).
	Sync GradSync
}

// Step runs one optimizer step the way HF's Trainer does: for each micro-batch a forward in
// training mode and a backward of its share of the mean loss, so that the gradients add up to
// those of the whole batch; then the gradient sync across ranks ([dist]), global-norm
// clipping, the AdamW update at learning rate lr, and the gradients dropped. The caller picks
// lr from the schedule: the step does not know which update of the run it is.
func Step(m models.QAModel, opt *AdamW, micro []MicroBatch, lr float64, o StepOptions) (StepResult, error) {
	res := StepResult{LR: lr}
	if len(micro) == 0 && o.Sync == nil {
		return res, fmt.Errorf("train: step with no batches")
	}
	// One OS thread for forward and backward: see models.Forward.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	fail := func(err error) (StepResult, error) {
		m.Params().ZeroGrad() // the next step must not add its gradients to this one's
		return res, fmt.Errorf("train: step %d: %w", opt.Step+1, err)
	}

	err := torch.Catch(func() {
		for i, mb := range micro {
			res.Loss += forwardBackward(m, mb, i, len(micro), o)
		}
	})
	if err != nil {
		return fail(err)
	}
	if o.Sync != nil { // [dist] every rank now holds the global batch's gradients and loss
		if res.Loss, err = o.Sync.Reduce(res.Loss); err != nil {
			return fail(err)
		}
	}
	err = torch.Catch(func() {
		if o.Precision != nil && o.Precision.Scaler != nil && !o.Precision.Scaler.unscale(opt.Params()) {
			res.Skipped, res.GradNorm = true, math.Inf(1)
		} else {
			maxNorm := o.MaxGradNorm
			if maxNorm <= 0 {
				maxNorm = math.Inf(1) // measures the norm and scales by exactly 1
			}
			res.GradNorm = torch.ClipGradNorm(opt.Params(), maxNorm)
			opt.Apply(lr)
		}
		m.Params().ZeroGrad()
	})
	if err != nil {
		return fail(err)
	}
	if math.IsNaN(res.Loss) || math.IsInf(res.Loss, 0) {
		return res, fmt.Errorf("train: step %d: loss is %v", opt.Step, res.Loss)
	}
	return res, nil
}

// forwardBackward runs micro-batch i of n: a forward in training mode and the backward of its
// share of the step's loss, which it returns as a number. The share is the micro-batch's mean
// loss divided by n in a single process, as HF's Trainer divides it by the accumulation steps,
// and weighted by Sync.LossWeight(i) in a data-parallel step.
func forwardBackward(m models.QAModel, mb MicroBatch, i, n int, o StepOptions) (share float64) {
	torch.WithScope(func(s *torch.Scope) {
		var out models.Output
		o.Precision.run(func() { out = m.Forward(mb(s), true) })
		if out.Loss == nil {
			panic(&torch.Error{Op: "train", Msg: "batch has no start/end positions"})
		}
		loss := out.Loss
		if o.Sync != nil {
			w := o.Sync.LossWeight(i)
			share = out.Loss.Item() * w
			loss = loss.MulScalar(w)
		} else {
			share = out.Loss.Item() / float64(n)
			if n > 1 {
				loss = loss.DivScalar(float64(n))
			}
		}
		if o.Precision != nil && o.Precision.Scaler != nil {
			loss = loss.MulScalar(o.Precision.Scaler.Scale) // fp16: small gradients must not flush to zero
		}
		if o.Sync != nil { // [dist] arms the bucketed all-reduce before the last backward
			if err := o.Sync.BeforeBackward(i); err != nil {
				panic(&torch.Error{Op: "train", Msg: err.Error()})
			}
		}
		loss.Backward()
	})
	return share
}
