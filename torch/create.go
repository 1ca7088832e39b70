package torch

/*
#include <stdlib.h>
#include "cbridge.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// Element is a Go type that maps to a tensor dtype.
type Element interface {
	~float32 | ~float64 | ~int64 | ~int32 | ~bool | ~uint8 | ~int8
}

// dtypeOf gives the dtype for Go element type E.
func dtypeOf[E Element]() DType {
	var z E
	switch any(z).(type) {
	case float32:
		return Float32
	case float64:
		return Float64
	case int64:
		return Int64
	case int32:
		return Int32
	case bool:
		return Bool
	case uint8:
		return Uint8
	case int8:
		return Int8
	}
	panic("unreachable")
}

func numelOf(shape []int64) int64 {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	return n
}

// FromSlice copies data into a new CPU tensor of the given shape (default: 1-D), owned by s
// (nil: loose). The dtype follows the Go element type.
func FromSlice[E Element](s *Scope, data []E, shape ...int64) *Tensor {
	if shape == nil {
		shape = []int64{int64(len(data))}
	}
	if numelOf(shape) != int64(len(data)) {
		panic(&Error{Op: "from_slice", Msg: fmt.Sprintf("%d values do not fill shape %v", len(data), shape)})
	}
	var p unsafe.Pointer
	var one [1]E
	if len(data) > 0 {
		p = unsafe.Pointer(&data[0])
	} else {
		p = unsafe.Pointer(&one[0]) // from_blob needs a non-null pointer even for 0 elements
	}
	return fromRaw(s, dtypeOf[E](), p, shape)
}

// FromBytes copies little-endian raw element bytes (any dtype, e.g. f16/bf16 weights) into a new
// CPU tensor.
func FromBytes(s *Scope, dt DType, raw []byte, shape ...int64) *Tensor {
	if numelOf(shape)*int64(dt.Size()) != int64(len(raw)) {
		panic(&Error{Op: "from_bytes", Msg: fmt.Sprintf("%d bytes do not fill %v shape %v", len(raw), dt, shape)})
	}
	var one [8]byte
	p := unsafe.Pointer(&one[0])
	if len(raw) > 0 {
		p = unsafe.Pointer(&raw[0])
	}
	return fromRaw(s, dt, p, shape)
}

func fromRaw(s *Scope, dt DType, p unsafe.Pointer, shape []int64) *Tensor {
	var out C.spq_tensor
	sp, n := cshape(shape)
	check("from_slice", C.spq_from_data(p, C.int(dt), sp, n, &out))
	return wrap(out, s)
}

type creator func(shape *C.int64_t, ndim C.int, dtype, devType, devIndex C.int, out *C.spq_tensor) *C.spq_error

func create(op string, fn creator, s *Scope, dt DType, dev Device, shape []int64) *Tensor {
	var out C.spq_tensor
	sp, n := cshape(shape)
	check(op, fn(sp, n, C.int(dt), C.int(dev.Type), C.int(dev.Index), &out))
	return wrap(out, s)
}

// Zeros makes a tensor of zeros.
func Zeros(s *Scope, dt DType, dev Device, shape ...int64) *Tensor {
	return create("zeros", func(a *C.int64_t, b C.int, c, d, e C.int, o *C.spq_tensor) *C.spq_error {
		return C.spq_zeros(a, b, c, d, e, o)
	}, s, dt, dev, shape)
}

// Ones makes a tensor of ones.
func Ones(s *Scope, dt DType, dev Device, shape ...int64) *Tensor {
	return create("ones", func(a *C.int64_t, b C.int, c, d, e C.int, o *C.spq_tensor) *C.spq_error {
		return C.spq_ones(a, b, c, d, e, o)
	}, s, dt, dev, shape)
}

// Empty makes an uninitialised tensor.
func Empty(s *Scope, dt DType, dev Device, shape ...int64) *Tensor {
	return create("empty", func(a *C.int64_t, b C.int, c, d, e C.int, o *C.spq_tensor) *C.spq_error {
		return C.spq_empty(a, b, c, d, e, o)
	}, s, dt, dev, shape)
}

// Randn draws from N(0,1) with the global generator (see ManualSeed).
func Randn(s *Scope, dt DType, dev Device, shape ...int64) *Tensor {
	return create("randn", func(a *C.int64_t, b C.int, c, d, e C.int, o *C.spq_tensor) *C.spq_error {
		return C.spq_randn(a, b, c, d, e, o)
	}, s, dt, dev, shape)
}

// Full makes a tensor filled with v.
func Full(s *Scope, v float64, dt DType, dev Device, shape ...int64) *Tensor {
	var out C.spq_tensor
	sp, n := cshape(shape)
	check("full", C.spq_full(sp, n, C.double(v), C.int(dt), C.int(dev.Type), C.int(dev.Index), &out))
	return wrap(out, s)
}

// Arange is [start, end) in steps of step.
func Arange(s *Scope, start, end, step float64, dt DType, dev Device) *Tensor {
	var out C.spq_tensor
	check("arange", C.spq_arange(C.double(start), C.double(end), C.double(step), C.int(dt), C.int(dev.Type), C.int(dev.Index), &out))
	return wrap(out, s)
}

// ZerosLike makes zeros with t's shape, dtype and device, in t's scope.
func (t *Tensor) ZerosLike() *Tensor {
	var out C.spq_tensor
	check("zeros_like", C.spq_zeros_like(t.handle(), &out))
	return wrap(out, scopeOf(t))
}

// OnesLike makes ones with t's shape, dtype and device, in t's scope.
func (t *Tensor) OnesLike() *Tensor {
	var out C.spq_tensor
	check("ones_like", C.spq_ones_like(t.handle(), &out))
	return wrap(out, scopeOf(t))
}

// To converts dtype and/or moves to a device (a no-op view when nothing changes).
func (t *Tensor) To(dt DType, dev Device) *Tensor {
	var out C.spq_tensor
	check("to", C.spq_to(t.handle(), C.int(dt), C.int(dev.Type), C.int(dev.Index), &out))
	return wrap(out, scopeOf(t))
}

// ToDType converts the element type, keeping the device.
func (t *Tensor) ToDType(dt DType) *Tensor { return t.To(dt, t.Device()) }

// ToDevice moves to dev, keeping the dtype.
func (t *Tensor) ToDevice(dev Device) *Tensor { return t.To(t.DType(), dev) }

// Item returns the single value of a one-element tensor as float64.
func (t *Tensor) Item() float64 {
	var v C.double
	check("item", C.spq_item(t.handle(), &v))
	return float64(v)
}

// copyOut copies t (converted to dt if needed) into dst.
func copyOut[E Element](t *Tensor, dst []E) {
	src := t
	dt := dtypeOf[E]()
	if t.DType() != dt {
		src = t.To(dt, CPU)
		defer src.Free()
	}
	var z E
	nbytes := int64(len(dst)) * int64(unsafe.Sizeof(z))
	var p unsafe.Pointer
	var one [8]byte
	p = unsafe.Pointer(&one[0])
	if len(dst) > 0 {
		p = unsafe.Pointer(&dst[0])
	}
	check("copy_to_host", C.spq_copy_to_host(src.handle(), p, C.int64_t(nbytes)))
}

// ToSlice copies the tensor's values (converted to E's dtype, moved to the host) into a new
// slice in row-major order.
func ToSlice[E Element](t *Tensor) []E {
	out := make([]E, t.Numel())
	copyOut(t, out)
	return out
}

// Float32s copies the values as float32.
func (t *Tensor) Float32s() []float32 { return ToSlice[float32](t) }

// Float64s copies the values as float64.
func (t *Tensor) Float64s() []float64 { return ToSlice[float64](t) }

// Int64s copies the values as int64.
func (t *Tensor) Int64s() []int64 { return ToSlice[int64](t) }

// Bytes copies the raw little-endian element bytes (any dtype).
func (t *Tensor) Bytes() []byte {
	n := t.Numel() * int64(t.DType().Size())
	out := make([]byte, n)
	var one [8]byte
	p := unsafe.Pointer(&one[0])
	if n > 0 {
		p = unsafe.Pointer(&out[0])
	}
	check("copy_to_host", C.spq_copy_to_host(t.handle(), p, C.int64_t(n)))
	return out
}
