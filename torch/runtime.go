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

// SetNumThreads sets libtorch's intra-op thread count.
func SetNumThreads(n int) { C.spq_set_num_threads(C.int(n)) }

// NumThreads is libtorch's intra-op thread count.
func NumThreads() int { return int(C.spq_get_num_threads()) }

// ManualSeed seeds libtorch's global generators (CPU and CUDA): initialisation, dropout, randn.
func ManualSeed(seed uint64) { C.spq_manual_seed(C.uint64_t(seed)) }

// CUDABuilt reports whether cbridge was compiled with its CUDA shims (a CUDA libtorch and
// CUDA=AUTO or ON at build time); such a build runs on machines without a GPU too.
func CUDABuilt() bool { return C.spq_cuda_built() != 0 }

// CUDAAvailable reports whether a CUDA device can be used.
func CUDAAvailable() bool { return C.spq_cuda_is_available() != 0 }

// CUDADeviceCount is the number of visible CUDA devices (0 on CPU builds).
func CUDADeviceCount() int { return int(C.spq_cuda_device_count()) }

// GPU describes one visible CUDA device.
type GPU struct {
	Name       string
	MemoryMiB  int64
	Capability string // compute capability, e.g. "9.0"
	BF16       bool   // native bf16 matrix units (compute capability 8.0 and up)
}

// CUDAInfo is what a CUDA build knows of its CUDA: the runtime version it was built with, and
// when a driver and GPU are there, cuDNN's version and the devices.
type CUDAInfo struct {
	Runtime string // e.g. "13.2"; "" on CPU-only builds
	CuDNN   string // e.g. "9.26.0"; "" without a GPU
	GPUs    []GPU
}

// InspectCUDA gathers a CUDAInfo.
func InspectCUDA() CUDAInfo {
	var s *C.char
	check("cuda_info", C.spq_cuda_info(&s))
	defer C.spq_free_string(s)
	var info CUDAInfo
	for _, line := range strings.Split(C.GoString(s), "\n") {
		key, val, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		switch {
		case key == "cuda":
			info.Runtime = val
		case key == "cudnn":
			// cuDNN 9 numbers versions major*10000+minor*100+patch (8.x: major*1000+minor*100+patch).
			if v, err := strconv.Atoi(val); err == nil {
				if v >= 90000 {
					info.CuDNN = fmt.Sprintf("%d.%d.%d", v/10000, v%10000/100, v%100)
				} else {
					info.CuDNN = fmt.Sprintf("%d.%d.%d", v/1000, v%1000/100, v%100)
				}
			}
		case strings.HasPrefix(key, "device"):
			f := strings.Split(val, "|")
			if len(f) == 4 {
				mem, _ := strconv.ParseInt(f[1], 10, 64)
				info.GPUs = append(info.GPUs, GPU{Name: f[0], MemoryMiB: mem, Capability: f[2], BF16: f[3] == "yes"})
			}
		}
	}
	return info
}

// CheckDevice returns a clear error when dev cannot be used here: a CUDA device on a CPU-only
// build, on a machine without a usable GPU, or beyond the visible devices. Asking libtorch for
// such a device would otherwise fail deep inside the first operation.
func CheckDevice(dev Device) error {
	if dev.Type != CUDADevice {
		return nil
	}
	switch {
	case !CUDABuilt():
		return fmt.Errorf("torch: device %s: this spanqa was built without CUDA (libtorch %s is CPU-only, or CUDA=OFF); "+
			"build against a CUDA libtorch: make build (the default pip torch has CUDA) or make build LIBTORCH=/path", dev, CompiledVersion())
	case !CUDAAvailable() || CUDADeviceCount() == 0:
		return fmt.Errorf("torch: device %s: CUDA is not available on this machine (no NVIDIA GPU or driver visible); use --device cpu", dev)
	case dev.Index >= CUDADeviceCount():
		return fmt.Errorf("torch: device %s: only %d CUDA devices are visible (CUDA_VISIBLE_DEVICES?)", dev, CUDADeviceCount())
	}
	return nil
}

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
