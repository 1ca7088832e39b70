package torch

/*
#include <stdlib.h>
#include "cbridge.h"
*/
import "C"

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"unsafe"
)

// CompiledVersion is the libtorch version cbridge was compiled against.
func CompiledVersion() string { return C.GoString(C.spq_version()) }

// RuntimeVersion is the version the loaded libtorch reports (from its build configuration).
func RuntimeVersion() string {
	buf := (*C.char)(C.malloc(64))
	defer C.free(unsafe.Pointer(buf))
	C.spq_runtime_version(buf, 64)
	return C.GoString(buf)
}

// CheckVersion returns an actionable error when the libtorch loaded at run time is not the one
// cbridge was compiled against (a stale build/ after switching LIBTORCH, say).
func CheckVersion() error {
	c, r := majorMinor(CompiledVersion()), majorMinor(RuntimeVersion())
	if r == "" || c == r {
		return nil
	}
	return fmt.Errorf("torch: cbridge was compiled against libtorch %s but libtorch %s is loaded; "+
		"rebuild with `make clean build` (and the same LIBTORCH=) so both match", CompiledVersion(), RuntimeVersion())
}

func majorMinor(v string) string {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return v
	}
	return parts[0] + "." + parts[1]
}

// Config is libtorch's build configuration text (at::show_config), which names the BLAS.
func Config() string {
	var s *C.char
	check("show_config", C.spq_show_config(&s))
	defer C.spq_free_string(s)
	return C.GoString(s)
}

// ParallelInfo is libtorch's threading report (at::get_parallel_info).
func ParallelInfo() string {
	var s *C.char
	check("parallel_info", C.spq_parallel_info(&s))
	defer C.spq_free_string(s)
	return C.GoString(s)
}

// SetNumThreads sets libtorch's intra-op thread count.
func SetNumThreads(n int) { C.spq_set_num_threads(C.int(n)) }

// NumThreads is libtorch's intra-op thread count.
func NumThreads() int { return int(C.spq_get_num_threads()) }

// ManualSeed seeds libtorch's global generators (CPU and CUDA): initialisation, dropout, randn.
func ManualSeed(seed uint64) { C.spq_manual_seed(C.uint64_t(seed)) }

// CUDAAvailable reports whether a CUDA device can be used.
func CUDAAvailable() bool { return C.spq_cuda_is_available() != 0 }

// CUDADeviceCount is the number of visible CUDA devices (0 on CPU builds).
func CUDADeviceCount() int { return int(C.spq_cuda_device_count()) }

// Synchronize waits for all work queued on a CUDA device (no-op on CPU).
func Synchronize(dev Device) {
	if dev.Type == CUDADevice {
		check("cuda_synchronize", C.spq_cuda_synchronize(C.int(dev.Index)))
	}
}

// RNGState returns a copy of the CPU generator's state (a uint8 tensor), for checkpoints.
func RNGState() *Tensor {
	var out C.spq_tensor
	check("get_rng_state", C.spq_get_rng_state(&out))
	return wrap(out, nil)
}

// SetRNGState restores a state from RNGState.
func SetRNGState(state *Tensor) {
	check("set_rng_state", C.spq_set_rng_state(state.handle()))
}

// libtorch starts with one intra-op thread on some machines; spanqa uses every core unless
// SPANQA_NUM_THREADS says otherwise.
func init() {
	n := runtime.NumCPU()
	if v, err := strconv.Atoi(os.Getenv("SPANQA_NUM_THREADS")); err == nil && v > 0 {
		n = v
	}
	SetNumThreads(n)
	// A build/ left over from another LIBTORCH links fine but may misbehave; say so at once.
	if err := CheckVersion(); err != nil {
		fmt.Fprintln(os.Stderr, "spanqa: WARNING:", err)
	}
}
