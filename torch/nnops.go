package torch

/*
#include "cbridge.h"
*/
import "C"

// Neural-network operations (the functional forms; torch/nn wraps them in layers).

func handleOrNil(t *Tensor) C.spq_tensor {
	if t == nil {
		return nil
	}
	return t.handle()
}

// Linear returns x @ w^T + b (b may be nil), with w shaped [out, in] as in nn.Linear.
func Linear(x, w, b *Tensor) *Tensor {
	var out C.spq_tensor
	check("linear", C.spq_linear(x.handle(), w.handle(), handleOrNil(b), &out))
	return wrap(out, scopeOf(x, w, b))
}

// Embedding looks up rows of weight at ids. Row paddingIdx (when >= 0) gets no gradient, as in
// nn.Embedding(padding_idx=...).
func Embedding(weight, ids *Tensor, paddingIdx int64) *Tensor {
	var out C.spq_tensor
	check("embedding", C.spq_embedding(weight.handle(), ids.handle(), C.int64_t(paddingIdx), &out))
	return wrap(out, scopeOf(ids, weight))
}

// LayerNorm normalises over the last dimension with affine w, b (either may be nil).
func LayerNorm(x, w, b *Tensor, eps float64) *Tensor {
	var out C.spq_tensor
	check("layer_norm", C.spq_layer_norm(x.handle(), 1, handleOrNil(w), handleOrNil(b), C.double(eps), &out))
	return wrap(out, scopeOf(x, w, b))
}

// Softmax along dim.
func (t *Tensor) Softmax(dim int64) *Tensor {
	var out C.spq_tensor
	check("softmax", C.spq_softmax(t.handle(), C.int64_t(dim), &out))
	return wrap(out, scopeOf(t))
}

// SoftmaxAs is Softmax computed in, and returned as, dt (softmax(dim, dtype=dt)): float32
// probabilities from bfloat16 scores under autocast, which keeps softmax in the scores' dtype.
func (t *Tensor) SoftmaxAs(dim int64, dt DType) *Tensor {
	var out C.spq_tensor
	check("softmax", C.spq_softmax_as(t.handle(), C.int64_t(dim), C.int(dt), &out))
	return wrap(out, scopeOf(t))
}

// LogSoftmax along dim.
func (t *Tensor) LogSoftmax(dim int64) *Tensor {
	var out C.spq_tensor
	check("log_softmax", C.spq_log_softmax(t.handle(), C.int64_t(dim), &out))
	return wrap(out, scopeOf(t))
}

// Dropout zeroes elements with probability p and scales the rest by 1/(1-p) when train is
// true; otherwise it returns t unchanged (as a new handle).
func (t *Tensor) Dropout(p float64, train bool) *Tensor {
	var out C.spq_tensor
	check("dropout", C.spq_dropout(t.handle(), C.double(p), cbool(train), &out))
	return wrap(out, scopeOf(t))
}

// Attention is softmax(q kᵀ / sqrt(headDim) + mask) v, with dropout p on the probabilities
// when train: q, k, v [B, heads, L, headDim], mask additive and broadcastable to
// [B, heads, L, L] (nil for none). On libtorch 2.x it is one fused scaled_dot_product_attention
// call (what HF's default "sdpa" attention runs), which never materialises the probabilities
// when it can avoid it; on 1.13 it is the explicit sequence of operations.
func Attention(q, k, v, mask *Tensor, p float64, train bool) *Tensor {
	var out C.spq_tensor
	check("attention", C.spq_attention(q.handle(), k.handle(), v.handle(), handleOrNil(mask), C.double(p), cbool(train), &out))
	return wrap(out, scopeOf(q, k, v))
}

// Reduction says how a loss combines per-sample values.
type Reduction int

// Reductions, with torch's codes.
const (
	ReduceNone Reduction = 0
	ReduceMean Reduction = 1
	ReduceSum  Reduction = 2
)

// CrossEntropy is torch.nn.functional.cross_entropy of logits [N, C] against int64 class
// targets [N]; targets equal to ignoreIndex are left out (and out of the mean).
func CrossEntropy(logits, target *Tensor, ignoreIndex int64, red Reduction) *Tensor {
	var out C.spq_tensor
	check("cross_entropy", C.spq_cross_entropy(logits.handle(), target.handle(), C.int64_t(ignoreIndex), C.int(red), &out))
	return wrap(out, scopeOf(logits, target))
}

// Conv1d is a 1-D convolution of x [N, Cin, L] with w [Cout, Cin/groups, K] and bias b (may be nil).
func Conv1d(x, w, b *Tensor, stride, padding, groups int64) *Tensor {
	var out C.spq_tensor
	check("conv1d", C.spq_conv1d(x.handle(), w.handle(), handleOrNil(b), C.int64_t(stride), C.int64_t(padding), C.int64_t(groups), &out))
	return wrap(out, scopeOf(x, w, b))
}

// Clamp limits values to [min, max]; pass nil for an open side.
func (t *Tensor) Clamp(min, max *float64) *Tensor {
	var out C.spq_tensor
	var lo, hi float64
	if min != nil {
		lo = *min
	}
	if max != nil {
		hi = *max
	}
	check("clamp", C.spq_clamp(t.handle(), cbool(min != nil), C.double(lo), cbool(max != nil), C.double(hi), &out))
	return wrap(out, scopeOf(t))
}

// ClampRange limits values to [lo, hi].
func (t *Tensor) ClampRange(lo, hi float64) *Tensor { return t.Clamp(&lo, &hi) }

// MaskedFill returns t with value where mask (bool, broadcastable) is true.
func (t *Tensor) MaskedFill(mask *Tensor, value float64) *Tensor {
	var out C.spq_tensor
	check("masked_fill", C.spq_masked_fill(t.handle(), mask.handle(), C.double(value), &out))
	return wrap(out, scopeOf(t, mask))
}

// Where picks a where cond is true, else b.
func Where(cond, a, b *Tensor) *Tensor {
	var out C.spq_tensor
	check("where", C.spq_where(cond.handle(), a.handle(), b.handle(), &out))
	return wrap(out, scopeOf(cond, a, b))
}
