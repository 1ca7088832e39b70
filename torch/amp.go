package torch

/*
#include "cbridge.h"
*/
import "C"

import (
	"fmt"
	"runtime"
)

// Autocast runs fn with automatic mixed precision on dev: eligible operations (matmuls,
// linear layers) compute in dt (float16 or bfloat16 on CUDA, bfloat16 on CPU) while
// precision-sensitive ones (softmax, layer norm, losses) stay in float32, as
// torch.autocast does. Like grad mode, autocast is per OS thread, so the goroutine is pinned.
func Autocast(dev Device, dt DType, fn func()) {
	if dt != Float16 && dt != BFloat16 {
		panic(&Error{Op: "autocast", Msg: fmt.Sprintf("autocast dtype must be float16 or bfloat16, not %v", dt)})
	}
	if dev.Type == CPUDevice && dt != BFloat16 {
		panic(&Error{Op: "autocast", Msg: "CPU autocast supports bfloat16 only"})
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var prev C.int
	check("autocast", C.spq_autocast_enter(C.int(dev.Type), C.int(dt), &prev))
	defer func() { check("autocast", C.spq_autocast_exit(C.int(dev.Type), prev)) }()
	fn()
}

// GradsAllFinite reports whether every gradient of params is free of inf and NaN (the check
// fp16 loss scaling makes before each update).
func GradsAllFinite(params []*Tensor) bool {
	if len(params) == 0 {
		return true
	}
	hs := handles(params)
	var ok C.int
	check("grads_all_finite", C.spq_grads_all_finite(handlePtr(hs), C.int(len(hs)), &ok))
	return ok != 0
}
