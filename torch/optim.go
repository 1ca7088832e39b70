package torch

/*
#include "cbridge.h"
*/
import "C"

import "unsafe"

// Optimisation steps. The optimizer's logic (which parameters decay, learning-rate schedule,
// step counting, clipping policy) lives in Go (package train); these are the per-tensor
// arithmetic it needs, each one C call into cbridge that runs torch's sequence of libtorch
// operations (not a fused kernel) instead of a dozen calls from Go.

// AdamWStep applies one torch.optim.AdamW update (decoupled weight decay, bias correction) to p
// from p's gradient, updating the moment buffers in place. step counts from 1. Parameters
// without a gradient are left alone.
func AdamWStep(p, expAvg, expAvgSq *Tensor, lr, beta1, beta2, eps, weightDecay float64, step int64) {
	check("adamw_step", C.spq_adamw_step(p.handle(), expAvg.handle(), expAvgSq.handle(), C.double(lr),
		C.double(beta1), C.double(beta2), C.double(eps), C.double(weightDecay), C.int64_t(step)))
}

// AdamWStepForeach applies AdamWStep to every parameter of params at once with libtorch's
// _foreach kernels, as torch.optim.AdamW does by default for CUDA parameters: a few kernel
// launches per step instead of a dozen per parameter. expAvgs and expAvgSqs pair with params.
func AdamWStepForeach(params, expAvgs, expAvgSqs []*Tensor, lr, beta1, beta2, eps, weightDecay float64, step int64) {
	if len(params) == 0 {
		return
	}
	if len(expAvgs) != len(params) || len(expAvgSqs) != len(params) {
		panic(&Error{Op: "adamw_step_foreach", Msg: "params and moment buffers differ in number"})
	}
	ps, ms, vs := handles(params), handles(expAvgs), handles(expAvgSqs)
	check("adamw_step_foreach", C.spq_adamw_step_foreach(handlePtr(ps), handlePtr(ms), handlePtr(vs), C.int(len(ps)),
		C.double(lr), C.double(beta1), C.double(beta2), C.double(eps), C.double(weightDecay), C.int64_t(step)))
}

// GradNorms returns the float64 L2 norm of each parameter's gradient and whether it has one.
func GradNorms(params []*Tensor) (norms []float64, has []bool) {
	n := len(params)
	norms = make([]float64, n)
	has = make([]bool, n)
	if n == 0 {
		return
	}
	hs := handles(params)
	flags := make([]C.int, n)
	check("grad_norms", C.spq_grad_norms(handlePtr(hs), C.int(n), (*C.double)(unsafe.Pointer(&norms[0])), &flags[0]))
	for i, f := range flags {
		has[i] = f != 0
	}
	return norms, has
}

// ClipGradNorm scales all gradients so their global L2 norm is at most maxNorm, exactly as
// torch.nn.utils.clip_grad_norm_ does, and returns the norm before clipping.
func ClipGradNorm(params []*Tensor, maxNorm float64) float64 {
	if len(params) == 0 {
		return 0
	}
	hs := handles(params)
	var total C.double
	check("clip_grad_norm", C.spq_clip_grad_norm(handlePtr(hs), C.int(len(hs)), C.double(maxNorm), &total))
	return float64(total)
}

// ScaleGrads multiplies every existing gradient by s.
func ScaleGrads(params []*Tensor, s float64) {
	if len(params) == 0 {
		return
	}
	hs := handles(params)
	check("scale_grads", C.spq_scale_grads(handlePtr(hs), C.int(len(hs)), C.double(s)))
}
