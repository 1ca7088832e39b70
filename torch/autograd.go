package torch

/*
#include "cbridge.h"
*/
import "C"

import "runtime"

// Backward computes gradients of the scalar t with respect to every leaf that requires grad,
// accumulating into their Grad.
func (t *Tensor) Backward() {
	check("backward", C.spq_backward(t.handle(), nil, 0))
}

// Grad returns a new loose handle to t's accumulated gradient (nil when there is none). The
// caller frees it (or Adopts it into a scope).
func (t *Tensor) Grad() *Tensor {
	var out C.spq_tensor
	check("grad", C.spq_grad(t.handle(), &out))
	if out == nil {
		return nil
	}
	return wrap(out, nil)
}

// HasGrad reports whether t has a gradient (Grad would return non-nil), without a handle to it.
func (t *Tensor) HasGrad() bool { return C.spq_has_grad(t.handle()) != 0 }

// ZeroGrad drops t's gradient (PyTorch's set_to_none=True).
func (t *Tensor) ZeroGrad() {
	check("zero_grad", C.spq_zero_grad(t.handle()))
}

// Detach returns a view that shares storage but is cut from the autograd graph.
func (t *Tensor) Detach() *Tensor {
	var out C.spq_tensor
	check("detach", C.spq_detach(t.handle(), &out))
	return wrap(out, scopeOf(t))
}

// NoGrad runs fn with gradient recording off. libtorch keeps this mode per OS thread, so the
// goroutine is pinned to its thread while fn runs; goroutines fn starts are not affected.
func NoGrad(fn func()) {
	withGradMode(false, fn)
}

// EnableGrad runs fn with gradient recording on (inside a NoGrad, say).
func EnableGrad(fn func()) {
	withGradMode(true, fn)
}

func withGradMode(on bool, fn func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	prev := C.spq_grad_enabled()
	C.spq_set_grad_enabled(cbool(on))
	defer C.spq_set_grad_enabled(prev)
	fn()
}

// GradEnabled reports whether gradient recording is on for the calling goroutine's current
// thread (meaningful inside NoGrad/EnableGrad, where the goroutine is pinned).
func GradEnabled() bool { return C.spq_grad_enabled() != 0 }

// SetData makes t use src's storage, dtype and device while keeping its identity (the same
// handle, still a leaf requiring grad), like `param.data = param.data.to(...)` in PyTorch.
func (t *Tensor) SetData(src *Tensor) {
	check("set_data", C.spq_set_data(t.handle(), src.handle()))
}
