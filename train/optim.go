// Package train is spanqa's training stage: a training loop with HF Trainer's semantics
// (AdamW with its decay groups, schedules, clipping, accumulation), checkpoints that resume
// exactly, per-epoch evaluation, and the embedded synthetic default that `make train` runs.
// Read trainer.go's loop, epoch and step, then step.go's Step: the whole optimizer step.
package train

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/spanqa/spanqa/torch"
	"github.com/spanqa/spanqa/torch/nn"
	"github.com/spanqa/spanqa/torch/weights"
)

// AdamW is torch.optim.AdamW as HF's Trainer configures it: two parameter groups, with weight
// decay on every parameter except biases and LayerNorm weights. The bookkeeping (groups, step
// counts, learning rate) is Go; the per-tensor arithmetic is a libtorch op sequence in cbridge
// (see Apply for the update it computes).
type AdamW struct {
	Beta1, Beta2, Eps, WeightDecay float64
	// Step is the number of optimizer steps taken so far.
	Step int64

	params   *nn.Params
	names    []string
	tensors  []*torch.Tensor
	decay    []bool
	expAvg   []*torch.Tensor
	expAvgSq []*torch.Tensor
	// steps counts each parameter's own updates (torch's state["step"]): torch.optim.AdamW skips
	// a parameter without a gradient, bias correction included, so a parameter that sat out a
	// step (Longformer's global projections on a batch without global tokens) is corrected for
	// fewer steps than Step.
	steps []int64
}

// NoDecay is HF Trainer's rule: parameters of LayerNorm modules and anything named "bias".
func NoDecay(p *nn.Params, name string) bool {
	return p.IsNorm(name) || strings.Contains(name, "bias")
}

// NewAdamW makes the optimizer over all of p's parameters, with zeroed moment buffers.
func NewAdamW(p *nn.Params, beta1, beta2, eps, weightDecay float64) *AdamW {
	o := &AdamW{Beta1: beta1, Beta2: beta2, Eps: eps, WeightDecay: weightDecay, params: p}
	for _, name := range p.Names() {
		t := p.Get(name)
		o.names = append(o.names, name)
		o.tensors = append(o.tensors, t)
		o.decay = append(o.decay, !NoDecay(p, name))
		var m, v *torch.Tensor
		torch.NoGrad(func() {
			m = torch.Zeros(nil, t.DType(), t.Device(), t.Shape()...)
			v = torch.Zeros(nil, t.DType(), t.Device(), t.Shape()...)
		})
		o.expAvg = append(o.expAvg, m)
		o.expAvgSq = append(o.expAvgSq, v)
		o.steps = append(o.steps, 0)
	}
	return o
}

// DecayNames and NoDecayNames list the two parameter groups.
func (o *AdamW) DecayNames() (decay, noDecay []string) {
	for i, n := range o.names {
		if o.decay[i] {
			decay = append(decay, n)
		} else {
			noDecay = append(noDecay, n)
		}
	}
	return decay, noDecay
}

// Apply performs one update at learning rate lr from the parameters' current gradients;
// parameters without a gradient are left alone, their step counts included, as torch does.
//
// The update is torch.optim.AdamW's, computed by libtorch ops in cbridge: spq_adamw_step, one
// parameter at a time, on the CPU (torch's single-tensor path, its CPU default), and
// spq_adamw_step_foreach, _foreach kernels over the parameters that share wd and t, on CUDA
// (torch's multi-tensor path, its CUDA default). For a parameter p with gradient g, moments m
// and v, its group's weight decay wd, and t the number of updates p has had (this one
// included), the ops compute, in this order:
//
//	p = p * (1 - lr*wd)                                  decoupled weight decay, first
//	m = m + (g - m) * (1 - beta1)                        lerp_, = beta1*m + (1-beta1)*g
//	v = v*beta2 + g*g * (1 - beta2)
//	p = p - lr/(1 - beta1^t) * m / (sqrt(v)/sqrt(1 - beta2^t) + eps)
//
// That is llm.c's p -= lr*(mhat/(sqrt(vhat) + eps) + wd*p), with mhat = m/(1 - beta1^t),
// vhat = v/(1 - beta2^t) and the old p in the decay term, but in torch's rounding: the decay
// scales p before the Adam term, and eps is added after sqrt(v) is divided by
// sqrt(1 - beta2^t). Keeping torch's order is what makes the two paths match torch bit for
// bit; with libtorch 1.x (no lerp_) m is computed as m*beta1 + g*(1 - beta1), as torch 1.x did.
func (o *AdamW) Apply(lr float64) {
	o.Step++
	type group struct {
		wd   float64
		step int64
	}
	var order []group
	batches := map[group][3][]*torch.Tensor{}
	for i, p := range o.tensors {
		if !p.HasGrad() {
			continue
		}
		o.steps[i]++
		wd := 0.0
		if o.decay[i] {
			wd = o.WeightDecay
		}
		if p.Device().Type != torch.CUDADevice {
			torch.AdamWStep(p, o.expAvg[i], o.expAvgSq[i], lr, o.Beta1, o.Beta2, o.Eps, wd, o.steps[i])
			continue
		}
		g := group{wd, o.steps[i]}
		b, ok := batches[g]
		if !ok {
			order = append(order, g)
		}
		batches[g] = [3][]*torch.Tensor{append(b[0], p), append(b[1], o.expAvg[i]), append(b[2], o.expAvgSq[i])}
	}
	for _, g := range order {
		b := batches[g]
		torch.AdamWStepForeach(b[0], b[1], b[2], lr, o.Beta1, o.Beta2, o.Eps, g.wd, g.step)
	}
}

// Params returns the parameter tensors in HF order.
func (o *AdamW) Params() []*torch.Tensor { return o.tensors }

// Free releases the moment buffers.
func (o *AdamW) Free() {
	for i := range o.expAvg {
		o.expAvg[i].Free()
		o.expAvgSq[i].Free()
	}
}

// State returns the moment buffers as named host tensors ("exp_avg.<param>",
// "exp_avg_sq.<param>") and each parameter's update count ("step.<param>", an int64 scalar)
// for a checkpoint's optimizer file.
func (o *AdamW) State() ([]weights.Tensor, error) {
	var out []weights.Tensor
	err := torch.Catch(func() {
		for i, n := range o.names {
			step := make([]byte, 8)
			binary.LittleEndian.PutUint64(step, uint64(o.steps[i]))
			out = append(out, weights.Tensor{Name: "step." + n, DType: weights.I64, Shape: []int64{}, Data: step})
			for _, b := range []struct {
				prefix string
				t      *torch.Tensor
			}{{"exp_avg.", o.expAvg[i]}, {"exp_avg_sq.", o.expAvgSq[i]}} {
				out = append(out, weights.Tensor{Name: b.prefix + n, DType: weights.F32, Shape: b.t.Shape(), Data: float32Bytes(b.t)})
			}
		}
	})
	return out, err
}

// float32Bytes copies t's values to the host as float32. The converted tensor (a copy for half
// precision moments, a new handle on the same storage for float32 ones) is freed at once:
// left to GC cleanups, a bert-base checkpoint kept ~200 handles and, for half precision, their
// memory (on the GPU, where Go's collector cannot see it) alive after it returned.
func float32Bytes(t *torch.Tensor) []byte {
	if t.DType() == torch.Float32 {
		return t.Bytes()
	}
	c := t.ToDType(torch.Float32)
	defer c.Free()
	return c.Bytes()
}

// LoadState restores buffers saved by State. The optimizer's step count travels separately;
// a checkpoint written before per-parameter counts existed gives every parameter optimizerStep.
func (o *AdamW) LoadState(set weights.Set, optimizerStep int64) error {
	return torch.Catch(func() {
		torch.NoGrad(func() {
			for i, n := range o.names {
				o.steps[i] = optimizerStep
				if w, err := set.Get("step." + n); err == nil {
					if w.DType != weights.I64 || len(w.Data) != 8 {
						panic(&torch.Error{Op: "optimizer state", Msg: fmt.Sprintf("step.%s: want one int64, have %v %v", n, w.DType, w.Shape)})
					}
					o.steps[i] = int64(binary.LittleEndian.Uint64(w.Data))
				}
				for _, b := range []struct {
					prefix string
					t      *torch.Tensor
				}{{"exp_avg.", o.expAvg[i]}, {"exp_avg_sq.", o.expAvgSq[i]}} {
					w, err := set.Get(b.prefix + n)
					if err != nil {
						panic(&torch.Error{Op: "optimizer state", Msg: err.Error()})
					}
					src := torch.FromBytes(nil, torch.Float32, w.Data, w.Shape...)
					b.t.Copy_(src)
					src.Free()
				}
			}
		})
	})
}

// GradNormsByName returns each parameter's gradient L2 norm (float64) by name.
func (o *AdamW) GradNormsByName() map[string]float64 {
	norms, _ := torch.GradNorms(o.tensors)
	out := make(map[string]float64, len(norms))
	for i, n := range o.names {
		out[n] = norms[i]
	}
	return out
}

func (o *AdamW) String() string {
	d, nd := o.DecayNames()
	return fmt.Sprintf("AdamW(betas=(%g, %g), eps=%g, weight_decay=%g; %d decayed, %d not)", o.Beta1, o.Beta2, o.Eps, o.WeightDecay, len(d), len(nd))
}
