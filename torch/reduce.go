package torch

/*
#include "cbridge.h"
*/
import "C"

// SumDims sums over dims.
func (t *Tensor) SumDims(keepdim bool, dims ...int64) *Tensor {
	var out C.spq_tensor
	p, n := cshape(dims)
	check("sum", C.spq_sum_dim(t.handle(), p, n, cbool(keepdim), &out))
	return wrap(out, scopeOf(t))
}

// MeanDims averages over dims.
func (t *Tensor) MeanDims(keepdim bool, dims ...int64) *Tensor {
	var out C.spq_tensor
	p, n := cshape(dims)
	check("mean", C.spq_mean_dim(t.handle(), p, n, cbool(keepdim), &out))
	return wrap(out, scopeOf(t))
}

// MaxDim returns the maxima along dim and their indices.
func (t *Tensor) MaxDim(dim int64, keepdim bool) (values, indices *Tensor) {
	var v, i C.spq_tensor
	check("max", C.spq_max_dim(t.handle(), C.int64_t(dim), cbool(keepdim), &v, &i))
	s := scopeOf(t)
	return wrap(v, s), wrap(i, s)
}

// Max returns the largest element as a 0-d tensor.
func (t *Tensor) Max() *Tensor {
	var out C.spq_tensor
	check("max", C.spq_max_all(t.handle(), &out))
	return wrap(out, scopeOf(t))
}

// Cumsum is the running sum along dim.
func (t *Tensor) Cumsum(dim int64) *Tensor {
	var out C.spq_tensor
	check("cumsum", C.spq_cumsum(t.handle(), C.int64_t(dim), &out))
	return wrap(out, scopeOf(t))
}
