package torch

/*
#include "cbridge.h"
*/
import "C"

// In-place operations modify t and return it, creating no new handle. Autograd forbids most of
// them on leaves that require grad; use them on buffers, optimizer state and under NoGrad.

// Zero_ sets every element to 0.
func (t *Tensor) Zero_() *Tensor {
	check("zero_", C.spq_zero_(t.handle()))
	return t
}

// Fill_ sets every element to v.
func (t *Tensor) Fill_(v float64) *Tensor {
	check("fill_", C.spq_fill_(t.handle(), C.double(v)))
	return t
}

// Copy_ copies src's values into t (broadcasting, converting dtype and device).
func (t *Tensor) Copy_(src *Tensor) *Tensor {
	check("copy_", C.spq_copy_(t.handle(), src.handle()))
	return t
}

// Normal_ fills t from N(mean, std) with the global generator.
func (t *Tensor) Normal_(mean, std float64) *Tensor {
	check("normal_", C.spq_normal_(t.handle(), C.double(mean), C.double(std)))
	return t
}

// Uniform_ fills t from U[from, to).
func (t *Tensor) Uniform_(from, to float64) *Tensor {
	check("uniform_", C.spq_uniform_(t.handle(), C.double(from), C.double(to)))
	return t
}
