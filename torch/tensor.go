package torch

/*
#include <stdlib.h>
#include "cbridge.h"
*/
import "C"

import (
	"fmt"
	"runtime"
	"sync"
	"time"
	"unsafe"
)

// Tensor is a handle to a libtorch tensor.
//
// Lifetime: a tensor is freed by the Scope that owns it (see Scope), by Free, or, as a safety
// net only, when the garbage collector finds the handle unreachable. A forward pass frees
// nothing by hand: every tensor created in a step belongs to that step's scope. Parameters,
// optimizer state and caches kept across steps are loose (owned by no scope) and freed by their
// owner.
type Tensor struct {
	mu      sync.Mutex
	h       C.spq_tensor
	scope   *Scope
	cleanup runtime.Cleanup
}

// Scope owns the tensors created inside it and frees them all at Close. Operations put their
// result in the scope of their first operand that has one, so a forward pass that starts from
// scoped inputs keeps every intermediate in that scope without naming it.
//
// A Scope may be used from one goroutine at a time per tensor chain; its bookkeeping is
// goroutine-safe.
type Scope struct {
	mu      sync.Mutex
	owned   []*Tensor
	onClose []func()
	closed  bool
}

// NewScope returns an empty scope.
func NewScope() *Scope { return &Scope{} }

// WithScope runs fn with a fresh scope and closes it afterwards, also on panic.
func WithScope(fn func(s *Scope)) {
	s := NewScope()
	defer s.Close()
	fn(s)
}

// Close frees every tensor the scope still owns. It is idempotent.
func (s *Scope) Close() {
	if s == nil {
		return
	}
	s.mu.Lock()
	owned, onClose := s.owned, s.onClose
	s.owned, s.onClose = nil, nil
	s.closed = true
	s.mu.Unlock()
	for _, t := range owned {
		t.mu.Lock()
		mine := t.scope == s
		t.mu.Unlock()
		if mine {
			t.Free()
		}
	}
	for _, fn := range onClose {
		fn()
	}
}

// OnClose makes Close call fn (after freeing the scope's tensors). It is how loose tensors are
// tied to a scope's lifetime without joining it: an operation would put its result in the
// scope of a scoped operand, and a loose one leaves that to the other operands. On a nil scope
// it does nothing.
func (s *Scope) OnClose(fn func()) {
	if s == nil {
		return
	}
	s.mu.Lock()
	closed := s.closed
	if !closed {
		s.onClose = append(s.onClose, fn)
	}
	s.mu.Unlock()
	if closed {
		fn()
	}
}

// Keep takes t out of the scope: it survives Close and the caller owns it (Free it, or hand it
// to another scope with Adopt). It returns t for chaining.
func (s *Scope) Keep(t *Tensor) *Tensor {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	if t.scope == s {
		t.scope = nil
	}
	t.mu.Unlock()
	return t
}

// Adopt puts a loose tensor (or one from another scope) into s. It returns t for chaining.
func (s *Scope) Adopt(t *Tensor) *Tensor {
	if t == nil || s == nil {
		return t
	}
	t.mu.Lock()
	t.scope = s
	t.mu.Unlock()
	s.add(t)
	return t
}

func (s *Scope) add(t *Tensor) {
	s.mu.Lock()
	closed := s.closed
	if !closed {
		s.owned = append(s.owned, t)
	}
	s.mu.Unlock()
	if closed {
		panic(&Error{Op: "scope", Msg: "tensor created in a closed scope"})
	}
}

func freeHandle(h C.spq_tensor) { C.spq_free(h) }

// wrap makes a Go handle for h owned by scope s (nil: loose).
func wrap(h C.spq_tensor, s *Scope) *Tensor {
	t := &Tensor{h: h, scope: s}
	t.cleanup = runtime.AddCleanup(t, freeHandle, h)
	if s != nil {
		s.add(t)
	}
	return t
}

// scopeOf picks the scope of the first operand that has one.
func scopeOf(ts ...*Tensor) *Scope {
	for _, t := range ts {
		if t == nil {
			continue
		}
		t.mu.Lock()
		s := t.scope
		t.mu.Unlock()
		if s != nil {
			return s
		}
	}
	return nil
}

// Free releases the tensor now. Using it afterwards panics with *Error; Free twice is harmless.
func (t *Tensor) Free() {
	if t == nil {
		return
	}
	t.mu.Lock()
	h := t.h
	t.h = nil
	t.scope = nil
	t.mu.Unlock()
	if h != nil {
		t.cleanup.Stop()
		C.spq_free(h)
	}
}

// handle returns the C handle or panics if the tensor was freed.
func (t *Tensor) handle() C.spq_tensor {
	if t == nil {
		panic(&Error{Op: "tensor", Msg: "nil tensor"})
	}
	h := t.h
	if h == nil {
		panic(&Error{Op: "tensor", Msg: "use of a freed tensor"})
	}
	return h
}

// Scope returns the scope that owns t, or nil for a loose tensor.
func (t *Tensor) Scope() *Scope {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.scope
}

// LiveTensors is the number of tensor handles alive in the C layer (created and not freed).
func LiveTensors() int64 { return int64(C.spq_live_tensors()) }

// SettledLiveTensors is LiveTensors once garbage collection has run the cleanups of tensors
// that are no longer reachable (the GC's safety net for handles nobody freed), so that two
// counts differ only by what happened between them: what leak tests compare.
func SettledLiveTensors() int64 {
	prev := int64(-1)
	for range 100 {
		runtime.GC()
		time.Sleep(5 * time.Millisecond)
		n := LiveTensors()
		if n == prev {
			return n
		}
		prev = n
	}
	return prev
}

// Dim is the number of dimensions.
func (t *Tensor) Dim() int { return int(C.spq_dim(t.handle())) }

// Shape returns the sizes of each dimension.
func (t *Tensor) Shape() []int64 {
	h := t.handle()
	n := int(C.spq_dim(h))
	out := make([]int64, n)
	if n > 0 {
		C.spq_shape(h, (*C.int64_t)(unsafe.Pointer(&out[0])))
	}
	return out
}

// Size returns the size of dimension d (negative counts from the end).
func (t *Tensor) Size(d int) int64 {
	s := t.Shape()
	if d < 0 {
		d += len(s)
	}
	if d < 0 || d >= len(s) {
		panic(&Error{Op: "size", Msg: fmt.Sprintf("dimension %d out of range for shape %v", d, s)})
	}
	return s[d]
}

// DType is the element type.
func (t *Tensor) DType() DType { return DType(C.spq_dtype(t.handle())) }

// Device is where the tensor lives.
func (t *Tensor) Device() Device {
	h := t.handle()
	return Device{Type: DeviceType(C.spq_device_type(h)), Index: int(C.spq_device_index(h))}
}

// Numel is the number of elements.
func (t *Tensor) Numel() int64 { return int64(C.spq_numel(t.handle())) }

// RequiresGrad reports whether autograd records operations on t.
func (t *Tensor) RequiresGrad() bool { return C.spq_requires_grad(t.handle()) != 0 }

// SetRequiresGrad turns gradient recording on t on or off; it returns t.
func (t *Tensor) SetRequiresGrad(on bool) *Tensor {
	check("set_requires_grad", C.spq_set_requires_grad(t.handle(), cbool(on)))
	return t
}

func (t *Tensor) String() string {
	if t == nil || t.h == nil {
		return "Tensor(freed)"
	}
	return fmt.Sprintf("Tensor(%v, %v, %v)", t.Shape(), t.DType(), t.Device())
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// cshape returns a C pointer to shape's first element (or nil for a scalar shape).
func cshape(shape []int64) (*C.int64_t, C.int) {
	if len(shape) == 0 {
		return nil, 0
	}
	return (*C.int64_t)(unsafe.Pointer(&shape[0])), C.int(len(shape))
}
