package torch

import "unsafe"

// UnsafeHandle returns t's C handle (a cbridge spq_tensor) for other cgo packages of spanqa that
// pass tensors to their own C shims (torch/dist). The handle is borrowed: it stays valid only
// while t is alive and not freed, so keep t reachable (runtime.KeepAlive) until the C call
// returns. It panics with *Error when t was freed.
func UnsafeHandle(t *Tensor) unsafe.Pointer { return unsafe.Pointer(t.handle()) }
