package torch

/*
#include "cbridge.h"
*/
import "C"

// Element-wise operations: each returns a new tensor in the scope of its first scoped operand
// and panics with *Error when libtorch rejects the operands (see Catch).

// Neg returns -t.
func (t *Tensor) Neg() *Tensor {
	var out C.spq_tensor
	check("neg", C.spq_neg(t.handle(), &out))
	return wrap(out, scopeOf(t))
}

// Exp returns e^t.
func (t *Tensor) Exp() *Tensor {
	var out C.spq_tensor
	check("exp", C.spq_exp(t.handle(), &out))
	return wrap(out, scopeOf(t))
}

// Log returns the natural logarithm.
func (t *Tensor) Log() *Tensor {
	var out C.spq_tensor
	check("log", C.spq_log(t.handle(), &out))
	return wrap(out, scopeOf(t))
}

// Sqrt returns the square root.
func (t *Tensor) Sqrt() *Tensor {
	var out C.spq_tensor
	check("sqrt", C.spq_sqrt(t.handle(), &out))
	return wrap(out, scopeOf(t))
}

// Rsqrt returns 1/sqrt(t).
func (t *Tensor) Rsqrt() *Tensor {
	var out C.spq_tensor
	check("rsqrt", C.spq_rsqrt(t.handle(), &out))
	return wrap(out, scopeOf(t))
}

// Tanh returns tanh.
func (t *Tensor) Tanh() *Tensor {
	var out C.spq_tensor
	check("tanh", C.spq_tanh(t.handle(), &out))
	return wrap(out, scopeOf(t))
}

// Sigmoid returns the logistic sigmoid.
func (t *Tensor) Sigmoid() *Tensor {
	var out C.spq_tensor
	check("sigmoid", C.spq_sigmoid(t.handle(), &out))
	return wrap(out, scopeOf(t))
}

// Relu returns max(t,0).
func (t *Tensor) Relu() *Tensor {
	var out C.spq_tensor
	check("relu", C.spq_relu(t.handle(), &out))
	return wrap(out, scopeOf(t))
}

// Gelu returns exact (erf) GELU, HF's "gelu".
func (t *Tensor) Gelu() *Tensor {
	var out C.spq_tensor
	check("gelu", C.spq_gelu(t.handle(), &out))
	return wrap(out, scopeOf(t))
}

// GeluTanh returns the tanh approximation of GELU ("gelu_new").
func (t *Tensor) GeluTanh() *Tensor {
	var out C.spq_tensor
	check("gelu_tanh", C.spq_gelu_tanh(t.handle(), &out))
	return wrap(out, scopeOf(t))
}

// Abs returns |t|.
func (t *Tensor) Abs() *Tensor {
	var out C.spq_tensor
	check("abs", C.spq_abs(t.handle(), &out))
	return wrap(out, scopeOf(t))
}

// Ceil returns ceil.
func (t *Tensor) Ceil() *Tensor {
	var out C.spq_tensor
	check("ceil", C.spq_ceil(t.handle(), &out))
	return wrap(out, scopeOf(t))
}

// Sign returns the sign.
func (t *Tensor) Sign() *Tensor {
	var out C.spq_tensor
	check("sign", C.spq_sign(t.handle(), &out))
	return wrap(out, scopeOf(t))
}

// LogicalNot returns logical not.
func (t *Tensor) LogicalNot() *Tensor {
	var out C.spq_tensor
	check("logical_not", C.spq_logical_not(t.handle(), &out))
	return wrap(out, scopeOf(t))
}

// Contiguous returns a contiguous copy (t itself when already contiguous).
func (t *Tensor) Contiguous() *Tensor {
	var out C.spq_tensor
	check("contiguous", C.spq_contiguous(t.handle(), &out))
	return wrap(out, scopeOf(t))
}

// Clone returns a copy.
func (t *Tensor) Clone() *Tensor {
	var out C.spq_tensor
	check("clone", C.spq_clone(t.handle(), &out))
	return wrap(out, scopeOf(t))
}

// Sum returns the sum of all elements.
func (t *Tensor) Sum() *Tensor {
	var out C.spq_tensor
	check("sum_all", C.spq_sum_all(t.handle(), &out))
	return wrap(out, scopeOf(t))
}

// Mean returns the mean of all elements.
func (t *Tensor) Mean() *Tensor {
	var out C.spq_tensor
	check("mean_all", C.spq_mean_all(t.handle(), &out))
	return wrap(out, scopeOf(t))
}

// Norm returns the L2 norm of all elements.
func (t *Tensor) Norm() *Tensor {
	var out C.spq_tensor
	check("norm_all", C.spq_norm_all(t.handle(), &out))
	return wrap(out, scopeOf(t))
}

// Square returns t*t.
func (t *Tensor) Square() *Tensor {
	var out C.spq_tensor
	check("square", C.spq_square(t.handle(), &out))
	return wrap(out, scopeOf(t))
}

// AllFinite returns a bool scalar: whether every element is finite.
func (t *Tensor) AllFinite() *Tensor {
	var out C.spq_tensor
	check("isfinite_all", C.spq_isfinite_all(t.handle(), &out))
	return wrap(out, scopeOf(t))
}

// Add returns a+b.
func (t *Tensor) Add(o *Tensor) *Tensor {
	var out C.spq_tensor
	check("add", C.spq_add(t.handle(), o.handle(), &out))
	return wrap(out, scopeOf(t, o))
}

// Sub returns a-b.
func (t *Tensor) Sub(o *Tensor) *Tensor {
	var out C.spq_tensor
	check("sub", C.spq_sub(t.handle(), o.handle(), &out))
	return wrap(out, scopeOf(t, o))
}

// Mul returns a*b.
func (t *Tensor) Mul(o *Tensor) *Tensor {
	var out C.spq_tensor
	check("mul", C.spq_mul(t.handle(), o.handle(), &out))
	return wrap(out, scopeOf(t, o))
}

// Div returns a/b.
func (t *Tensor) Div(o *Tensor) *Tensor {
	var out C.spq_tensor
	check("div", C.spq_div(t.handle(), o.handle(), &out))
	return wrap(out, scopeOf(t, o))
}

// Matmul returns the matrix product (broadcasting batch dims).
func (t *Tensor) Matmul(o *Tensor) *Tensor {
	var out C.spq_tensor
	check("matmul", C.spq_matmul(t.handle(), o.handle(), &out))
	return wrap(out, scopeOf(t, o))
}

// Bmm returns the batched matrix product of 3-D tensors.
func (t *Tensor) Bmm(o *Tensor) *Tensor {
	var out C.spq_tensor
	check("bmm", C.spq_bmm(t.handle(), o.handle(), &out))
	return wrap(out, scopeOf(t, o))
}

// LogicalAnd returns a&&b.
func (t *Tensor) LogicalAnd(o *Tensor) *Tensor {
	var out C.spq_tensor
	check("logical_and", C.spq_logical_and(t.handle(), o.handle(), &out))
	return wrap(out, scopeOf(t, o))
}

// AddScalar returns t+s.
func (t *Tensor) AddScalar(s float64) *Tensor {
	var out C.spq_tensor
	check("add_scalar", C.spq_add_scalar(t.handle(), C.double(s), &out))
	return wrap(out, scopeOf(t))
}

// MulScalar returns t*s.
func (t *Tensor) MulScalar(s float64) *Tensor {
	var out C.spq_tensor
	check("mul_scalar", C.spq_mul_scalar(t.handle(), C.double(s), &out))
	return wrap(out, scopeOf(t))
}

// DivScalar returns t/s.
func (t *Tensor) DivScalar(s float64) *Tensor {
	var out C.spq_tensor
	check("div_scalar", C.spq_div_scalar(t.handle(), C.double(s), &out))
	return wrap(out, scopeOf(t))
}

// PowScalar returns t**s.
func (t *Tensor) PowScalar(s float64) *Tensor {
	var out C.spq_tensor
	check("pow_scalar", C.spq_pow_scalar(t.handle(), C.double(s), &out))
	return wrap(out, scopeOf(t))
}

// RSubScalar returns s-t.
func (t *Tensor) RSubScalar(s float64) *Tensor {
	var out C.spq_tensor
	check("rsub_scalar", C.spq_rsub_scalar(t.handle(), C.double(s), &out))
	return wrap(out, scopeOf(t))
}

// EqScalar returns t==s.
func (t *Tensor) EqScalar(s float64) *Tensor {
	var out C.spq_tensor
	check("eq_scalar", C.spq_eq_scalar(t.handle(), C.double(s), &out))
	return wrap(out, scopeOf(t))
}

// NeScalar returns t!=s.
func (t *Tensor) NeScalar(s float64) *Tensor {
	var out C.spq_tensor
	check("ne_scalar", C.spq_ne_scalar(t.handle(), C.double(s), &out))
	return wrap(out, scopeOf(t))
}

// LtScalar returns t<s.
func (t *Tensor) LtScalar(s float64) *Tensor {
	var out C.spq_tensor
	check("lt_scalar", C.spq_lt_scalar(t.handle(), C.double(s), &out))
	return wrap(out, scopeOf(t))
}

// LeScalar returns t<=s.
func (t *Tensor) LeScalar(s float64) *Tensor {
	var out C.spq_tensor
	check("le_scalar", C.spq_le_scalar(t.handle(), C.double(s), &out))
	return wrap(out, scopeOf(t))
}

// GtScalar returns t>s.
func (t *Tensor) GtScalar(s float64) *Tensor {
	var out C.spq_tensor
	check("gt_scalar", C.spq_gt_scalar(t.handle(), C.double(s), &out))
	return wrap(out, scopeOf(t))
}
