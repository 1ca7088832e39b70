package torch

/*
#include <stdint.h>
#include <stdlib.h>
#include "cbridge.h"
*/
import "C"

import (
	"fmt"
	"runtime"
	"runtime/cgo"
	"sync"
	"unsafe"
)

// Checkpoint computes fn(args) without keeping its intermediate activations for backward, as
// torch.utils.checkpoint does (reentrant, preserve_rng_state=True; what HF's
// gradient_checkpointing uses): the graph records one node holding args, and backward runs fn
// again, with the graph on, to get the gradients. A layer then costs its input instead of all
// its activations between forward and backward, and one extra forward. Dropout draws the same
// masks in the rerun and autocast is on there as it was in the forward pass, so gradients are
// those of fn(args) itself.
//
// fn must reach every tensor that needs a gradient through args, except parameters (leaves),
// which it may capture: a captured non-leaf would be back-propagated through once per rerun.
// fn may run on another thread (CUDA backward) and twice; it must create its tensors from the
// views it is given, in their scope, as Checkpoint frees them when fn returns.
func Checkpoint(fn func(args []*Tensor) *Tensor, args ...*Tensor) *Tensor {
	installCallbacks.Do(installCheckpointCallbacks)
	h := cgo.NewHandle(fn) // deleted by spqCheckpointRelease when the graph lets go of it
	hs := handles(args)
	var out C.spq_tensor
	check("checkpoint", C.spq_checkpoint(C.uintptr_t(h), handlePtr(hs), C.int(len(hs)), &out))
	runtime.KeepAlive(args)
	return wrap(out, scopeOf(args...))
}

var installCallbacks sync.Once

// spqCheckpointRun is called by cbridge's checkpoint node (forward and rerun): it runs the Go
// function on handles it now owns and passes the result back through out. Nothing may unwind
// into C++, so every panic becomes the returned message.
//
//export spqCheckpointRun
func spqCheckpointRun(fn C.uintptr_t, args *C.spq_tensor, n C.int, out unsafe.Pointer) (msg *C.char) {
	defer func() {
		if r := recover(); r != nil {
			msg = C.CString(fmt.Sprint(r))
		}
	}()
	f := cgo.Handle(fn).Value().(func([]*Tensor) *Tensor)
	hs := unsafe.Slice(args, int(n))
	WithScope(func(s *Scope) {
		in := make([]*Tensor, len(hs))
		for i, h := range hs {
			in[i] = wrap(h, s)
		}
		res := f(in)
		check("checkpoint", C.spq_checkpoint_set_output(out, res.handle()))
	})
	return nil
}

// spqCheckpointRelease forgets a function once no graph node can call it any more.
//
//export spqCheckpointRelease
func spqCheckpointRelease(fn C.uintptr_t) { cgo.Handle(fn).Delete() }
