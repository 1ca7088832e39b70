package torch

/*
#include "cbridge.h"
*/
import "C"

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"
)

// Report is what spanqa finds about its libtorch: `spanqa doctor` prints it.
type Report struct {
	CompiledVersion string
	RuntimeVersion  string
	VersionError    string
	// BLAS names the CPU BLAS: the shared objects actually mapped into the process (the Debian
	// build says BLAS_INFO=generic and picks the library through alternatives), or the one
	// linked into libtorch (the PyPI wheel has MKL inside libtorch_cpu).
	BLAS []string
	// BLASWarning is BLASWarning(): non-empty when the BLAS will make spanqa slow.
	BLASWarning string
	Threads     int
	CPUs        int
	CUDABuilt   bool
	CUDA        bool
	CUDADevices int
	CUDAInfo    CUDAInfo
	// GEMMGFlops is the measured rate of a 1024^3 float32 matmul on the CPU.
	GEMMGFlops float64
}

// Inspect gathers a Report; measuring the GEMM rate takes about a second.
func Inspect() Report {
	r := Report{
		CompiledVersion: CompiledVersion(),
		RuntimeVersion:  RuntimeVersion(),
		BLAS:            cpuBLAS(),
		BLASWarning:     BLASWarning(),
		Threads:         NumThreads(),
		CPUs:            runtime.NumCPU(),
		CUDABuilt:       CUDABuilt(),
		CUDA:            CUDAAvailable(),
		CUDADevices:     CUDADeviceCount(),
		CUDAInfo:        InspectCUDA(),
	}
	if err := CheckVersion(); err != nil {
		r.VersionError = err.Error()
	}
	r.GEMMGFlops = MeasureGEMM(CPU, 1024, 1024, 1024, 5)
	return r
}

func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "libtorch:  compiled against %s, loaded %s\n", r.CompiledVersion, r.RuntimeVersion)
	if r.VersionError != "" {
		fmt.Fprintf(&b, "  WARNING: %s\n", r.VersionError)
	}
	blas := "none found (reference BLAS is many times slower: install libopenblas0-openmp)"
	if len(r.BLAS) > 0 {
		blas = strings.Join(r.BLAS, ", ")
	}
	fmt.Fprintf(&b, "BLAS:      %s\n", blas)
	if r.BLASWarning != "" {
		fmt.Fprintf(&b, "  WARNING: %s\n", r.BLASWarning)
	}
	fmt.Fprintf(&b, "threads:   %d intra-op (of %d CPUs)\n", r.Threads, r.CPUs)
	fmt.Fprintf(&b, "CUDA:      %s\n", r.cudaLine())
	for i, g := range r.CUDAInfo.GPUs {
		bf16 := "no bf16"
		if g.BF16 {
			bf16 = "bf16"
		}
		fmt.Fprintf(&b, "GPU %d:     %s, %d MiB, compute capability %s, %s\n", i, g.Name, g.MemoryMiB, g.Capability, bf16)
	}
	fmt.Fprintf(&b, "GEMM:      %.1f GFLOP/s (1024^3 float32 on CPU)\n", r.GEMMGFlops)
	return b.String()
}

// cudaLine says in one line whether CUDA can be used, and why not.
func (r Report) cudaLine() string {
	switch {
	case !r.CUDABuilt:
		return "not available (CPU-only build)"
	case !r.CUDA || r.CUDADevices == 0:
		return fmt.Sprintf("not available (built with CUDA %s; no NVIDIA GPU or driver found)", r.CUDAInfo.Runtime)
	}
	s := fmt.Sprintf("available, %d device(s), CUDA %s", r.CUDADevices, r.CUDAInfo.Runtime)
	if r.CUDAInfo.CuDNN != "" {
		s += ", cuDNN " + r.CUDAInfo.CuDNN
	}
	return s
}

// cpuBLAS names the BLAS libtorch computes CPU matmuls with.
func cpuBLAS() []string {
	mapped := mappedBLAS()
	if len(mapped) == 0 && strings.Contains(Config(), "BLAS_INFO=mkl") {
		return []string{"MKL (linked into libtorch_cpu)"}
	}
	return mapped
}

// BLASWarning returns one line naming the problem and its fix when the BLAS mapped into this
// process is OpenBLAS's pthread build: its own thread pool on top of libtorch's OpenMP threads
// oversubscribes the cores (measured 2.45x slower training on 2 cores). Debian installs it with
// many packages and may select it as the system libblas.so.3; spanqa's own Debian build loads
// the OpenMP one whatever the selection, so this fires for other builds (LIBTORCH=/path).
func BLASWarning() string {
	for _, p := range mappedBLAS() {
		if strings.Contains(p, "openblas-pthread") {
			return "OpenBLAS's pthread build is loaded (" + p + "): it oversubscribes the cores under libtorch's OpenMP threads (about 2.5x slower). " +
				"Fix: apt-get install libopenblas0-openmp && update-alternatives --set libblas.so.3-x86_64-linux-gnu /usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3 " +
				"(or rebuild spanqa with make build LIBTORCH=debian, which loads the OpenMP build itself)"
		}
	}
	return ""
}

// mappedBLAS reads /proc/self/maps for BLAS and LAPACK libraries, resolving symlinks so the
// Debian alternative (e.g. .../openblas-openmp/libblas.so.3) shows which implementation it is.
func mappedBLAS() []string {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return nil
	}
	defer f.Close()
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 {
			continue
		}
		path := fields[5]
		base := filepath.Base(path)
		if !strings.Contains(base, "blas") && !strings.Contains(base, "lapack") && !strings.Contains(base, "mkl") {
			continue
		}
		// cuBLAS is the GPU's; a CUDA build maps it even on a machine without a GPU.
		if strings.HasPrefix(base, "libcublas") {
			continue
		}
		if real, err := filepath.EvalSymlinks(path); err == nil {
			path = real
		}
		seen[path] = true
	}
	var out []string
	for p := range seen {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// MeasureGEMM times an [m,k]x[k,n] float32 matmul on dev (best of reps after a warm-up) and
// returns GFLOP/s: the roofline spanqa's benchmarks compare against.
func MeasureGEMM(dev Device, m, k, n int64, reps int) float64 {
	var best time.Duration
	WithScope(func(s *Scope) {
		a := Randn(s, Float32, dev, m, k)
		b := Randn(s, Float32, dev, k, n)
		NoGrad(func() {
			a.Matmul(b).Free()
			Synchronize(dev)
			for i := 0; i < reps; i++ {
				start := time.Now()
				c := a.Matmul(b)
				Synchronize(dev)
				d := time.Since(start)
				c.Free()
				if best == 0 || d < best {
					best = d
				}
			}
		})
	})
	return 2 * float64(m) * float64(k) * float64(n) / best.Seconds() / 1e9
}

// MeasureGEMMDirect times the same matmul as MeasureGEMM but with the loop inside C++, so no
// cgo crossing or Go allocation is involved: the reference for the binding's overhead.
func MeasureGEMMDirect(m, k, n int64, reps int) float64 {
	var best C.double
	check("bench_matmul", C.spq_bench_matmul(C.int64_t(m), C.int64_t(k), C.int64_t(n), C.int(reps), &best))
	return 2 * float64(m) * float64(k) * float64(n) / float64(best) / 1e9
}
