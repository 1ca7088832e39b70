package torch

/*
#include "cbridge.h"
*/
import "C"

import "unsafe"

// Shape and indexing operations. Views share storage with their input, as in PyTorch.

type shapeFn func(a C.spq_tensor, p *C.int64_t, n C.int, out *C.spq_tensor) *C.spq_error

func (t *Tensor) withShape(op string, fn shapeFn, shape []int64) *Tensor {
	var out C.spq_tensor
	sp, n := cshape(shape)
	check(op, fn(t.handle(), sp, n, &out))
	return wrap(out, scopeOf(t))
}

// Reshape returns t with a new shape (a view when possible); one size may be -1.
func (t *Tensor) Reshape(shape ...int64) *Tensor {
	return t.withShape("reshape", func(a C.spq_tensor, p *C.int64_t, n C.int, o *C.spq_tensor) *C.spq_error {
		return C.spq_reshape(a, p, n, o)
	}, shape)
}

// View returns a view with a new shape; t must be compatible (see PyTorch's view).
func (t *Tensor) View(shape ...int64) *Tensor {
	return t.withShape("view", func(a C.spq_tensor, p *C.int64_t, n C.int, o *C.spq_tensor) *C.spq_error {
		return C.spq_view(a, p, n, o)
	}, shape)
}

// Permute reorders dimensions.
func (t *Tensor) Permute(dims ...int64) *Tensor {
	return t.withShape("permute", func(a C.spq_tensor, p *C.int64_t, n C.int, o *C.spq_tensor) *C.spq_error {
		return C.spq_permute(a, p, n, o)
	}, dims)
}

// Expand broadcasts size-1 dimensions to shape (-1 keeps a size) without copying.
func (t *Tensor) Expand(shape ...int64) *Tensor {
	return t.withShape("expand", func(a C.spq_tensor, p *C.int64_t, n C.int, o *C.spq_tensor) *C.spq_error {
		return C.spq_expand(a, p, n, o)
	}, shape)
}

// Repeat tiles the tensor reps times along each dimension.
func (t *Tensor) Repeat(reps ...int64) *Tensor {
	return t.withShape("repeat", func(a C.spq_tensor, p *C.int64_t, n C.int, o *C.spq_tensor) *C.spq_error {
		return C.spq_repeat(a, p, n, o)
	}, reps)
}

// Flip reverses the order along dims.
func (t *Tensor) Flip(dims ...int64) *Tensor {
	return t.withShape("flip", func(a C.spq_tensor, p *C.int64_t, n C.int, o *C.spq_tensor) *C.spq_error {
		return C.spq_flip(a, p, n, o)
	}, dims)
}

// Transpose swaps two dimensions.
func (t *Tensor) Transpose(d0, d1 int64) *Tensor {
	var out C.spq_tensor
	check("transpose", C.spq_transpose(t.handle(), C.int64_t(d0), C.int64_t(d1), &out))
	return wrap(out, scopeOf(t))
}

// Unsqueeze inserts a size-1 dimension at dim.
func (t *Tensor) Unsqueeze(dim int64) *Tensor {
	var out C.spq_tensor
	check("unsqueeze", C.spq_unsqueeze(t.handle(), C.int64_t(dim), &out))
	return wrap(out, scopeOf(t))
}

// Squeeze removes dimension dim if it has size 1.
func (t *Tensor) Squeeze(dim int64) *Tensor {
	var out C.spq_tensor
	check("squeeze", C.spq_squeeze_dim(t.handle(), C.int64_t(dim), &out))
	return wrap(out, scopeOf(t))
}

// Flatten merges dimensions start..end (inclusive).
func (t *Tensor) Flatten(start, end int64) *Tensor {
	var out C.spq_tensor
	check("flatten", C.spq_flatten(t.handle(), C.int64_t(start), C.int64_t(end), &out))
	return wrap(out, scopeOf(t))
}

// Narrow returns the view t[..., start:start+length, ...] along dim.
func (t *Tensor) Narrow(dim, start, length int64) *Tensor {
	var out C.spq_tensor
	check("narrow", C.spq_narrow(t.handle(), C.int64_t(dim), C.int64_t(start), C.int64_t(length), &out))
	return wrap(out, scopeOf(t))
}

// Slice returns the view t[..., start:end:step, ...] along dim.
func (t *Tensor) Slice(dim, start, end, step int64) *Tensor {
	var out C.spq_tensor
	check("slice", C.spq_slice(t.handle(), C.int64_t(dim), C.int64_t(start), C.int64_t(end), C.int64_t(step), &out))
	return wrap(out, scopeOf(t))
}

// Select returns the view t[..., index, ...] along dim (that dimension removed).
func (t *Tensor) Select(dim, index int64) *Tensor {
	var out C.spq_tensor
	check("select", C.spq_select(t.handle(), C.int64_t(dim), C.int64_t(index), &out))
	return wrap(out, scopeOf(t))
}

// IndexSelect gathers whole slices along dim at the int64 positions in index.
func (t *Tensor) IndexSelect(dim int64, index *Tensor) *Tensor {
	var out C.spq_tensor
	check("index_select", C.spq_index_select(t.handle(), C.int64_t(dim), index.handle(), &out))
	return wrap(out, scopeOf(t, index))
}

// Gather picks elements along dim at index (same rank as t).
func (t *Tensor) Gather(dim int64, index *Tensor) *Tensor {
	var out C.spq_tensor
	check("gather", C.spq_gather(t.handle(), C.int64_t(dim), index.handle(), &out))
	return wrap(out, scopeOf(t, index))
}

func handles(ts []*Tensor) []C.spq_tensor {
	hs := make([]C.spq_tensor, len(ts))
	for i, t := range ts {
		hs[i] = t.handle()
	}
	return hs
}

// handlePtr pins a C array of handles: the handles are C pointers, so a Go slice of them may be
// passed to C.
func handlePtr(hs []C.spq_tensor) *C.spq_tensor {
	if len(hs) == 0 {
		return nil
	}
	return (*C.spq_tensor)(unsafe.Pointer(&hs[0]))
}

// Cat concatenates tensors along dim.
func Cat(ts []*Tensor, dim int64) *Tensor {
	var out C.spq_tensor
	hs := handles(ts)
	check("cat", C.spq_cat(handlePtr(hs), C.int(len(hs)), C.int64_t(dim), &out))
	return wrap(out, scopeOf(ts...))
}

// Stack joins tensors of equal shape along a new dimension dim.
func Stack(ts []*Tensor, dim int64) *Tensor {
	var out C.spq_tensor
	hs := handles(ts)
	check("stack", C.spq_stack(handlePtr(hs), C.int(len(hs)), C.int64_t(dim), &out))
	return wrap(out, scopeOf(ts...))
}

// Split cuts t into pieces of size along dim (the last may be smaller).
func (t *Tensor) Split(size, dim int64) []*Tensor {
	if size <= 0 {
		panic(&Error{Op: "split", Msg: "split size must be positive"})
	}
	n := t.Size(int(dim))
	parts := int((n + size - 1) / size)
	outs := make([]C.spq_tensor, parts+1)
	var got C.int
	check("split", C.spq_split(t.handle(), C.int64_t(size), C.int64_t(dim), handlePtr(outs), C.int(len(outs)), &got))
	return t.wrapAll(outs[:got])
}

func (t *Tensor) wrapAll(hs []C.spq_tensor) []*Tensor {
	s := scopeOf(t)
	res := make([]*Tensor, len(hs))
	for i, h := range hs {
		res[i] = wrap(h, s)
	}
	return res
}

// AsStrided returns a view with explicit sizes, strides (in elements) and storage offset, the
// primitive Longformer's banded attention is built on.
func (t *Tensor) AsStrided(size, stride []int64, offset int64) *Tensor {
	if len(size) != len(stride) {
		panic(&Error{Op: "as_strided", Msg: "size and stride differ in length"})
	}
	var out C.spq_tensor
	sp, n := cshape(size)
	st, _ := cshape(stride)
	check("as_strided", C.spq_as_strided(t.handle(), sp, st, n, C.int64_t(offset), &out))
	return wrap(out, scopeOf(t))
}

// Unfold returns sliding windows of size with step along dim, as a new last dimension.
func (t *Tensor) Unfold(dim, size, step int64) *Tensor {
	var out C.spq_tensor
	check("unfold", C.spq_unfold(t.handle(), C.int64_t(dim), C.int64_t(size), C.int64_t(step), &out))
	return wrap(out, scopeOf(t))
}

// Pad pads with a constant; pad lists (before, after) pairs starting from the LAST dimension,
// as torch.nn.functional.pad does.
func (t *Tensor) Pad(pad []int64, value float64) *Tensor {
	var out C.spq_tensor
	p, n := cshape(pad)
	check("pad", C.spq_pad(t.handle(), p, n, C.double(value), &out))
	return wrap(out, scopeOf(t))
}

// Tril keeps the lower triangle (diagonal offset k).
func (t *Tensor) Tril(k int64) *Tensor {
	var out C.spq_tensor
	check("tril", C.spq_tril(t.handle(), C.int64_t(k), &out))
	return wrap(out, scopeOf(t))
}
