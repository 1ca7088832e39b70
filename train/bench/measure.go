package bench

import (
	"bufio"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/spanqa/spanqa/torch"
)

// GEMM is one measured matrix product shape.
type GEMM struct {
	M, K, N int64
	GFLOPs  float64 `json:"gflops"`
}

// Roofline is the device's measured float32 GEMM rate: the best of a few large products. MFU
// divides achieved model FLOP/s by it (not by a datasheet peak), so it says how close the
// model's products come to what this device's BLAS does in isolation.
type Roofline struct {
	GFLOPs float64 `json:"gflops"`
	DType  string  `json:"dtype"`
	Shapes []GEMM  `json:"shapes"`
	// DirectGFLOPs is the 1024³ product timed in a C++ loop (CPU only): the binding's
	// per-call overhead is the gap to the same shape in Shapes.
	DirectGFLOPs float64 `json:"direct_gflops,omitempty"`
}

// measureRoofline times square products and BERT's feed-forward shape (a 3072-token batch
// through 768->3072) on dev in dt (float32, or bfloat16 for autocast runs) and keeps the best.
func measureRoofline(dev torch.Device, dt torch.DType, reps int) Roofline {
	r := Roofline{DType: dt.String()}
	for _, s := range [][3]int64{{1024, 1024, 1024}, {2048, 2048, 2048}, {3072, 768, 3072}} {
		var g float64
		if dt == torch.Float32 {
			g = torch.MeasureGEMM(dev, s[0], s[1], s[2], reps) // what `spanqa doctor` reports
		} else {
			g = measureGEMM(dev, dt, s[0], s[1], s[2], reps)
		}
		r.Shapes = append(r.Shapes, GEMM{M: s[0], K: s[1], N: s[2], GFLOPs: g})
		r.GFLOPs = max(r.GFLOPs, g)
	}
	if dev == torch.CPU && dt == torch.Float32 {
		r.DirectGFLOPs = torch.MeasureGEMMDirect(1024, 1024, 1024, reps)
	}
	return r
}

// measureGEMM is torch.MeasureGEMM in another dtype: the best of reps [m,k]x[k,n] products.
func measureGEMM(dev torch.Device, dt torch.DType, m, k, n int64, reps int) float64 {
	best := math.Inf(1)
	torch.WithScope(func(s *torch.Scope) {
		a := torch.Randn(s, torch.Float32, dev, m, k).ToDType(dt)
		b := torch.Randn(s, torch.Float32, dev, k, n).ToDType(dt)
		torch.NoGrad(func() {
			a.Matmul(b).Free()
			torch.Synchronize(dev)
			for range reps {
				start := time.Now()
				c := a.Matmul(b)
				torch.Synchronize(dev)
				best = min(best, time.Since(start).Seconds())
				c.Free()
			}
		})
	})
	return 2 * float64(m) * float64(k) * float64(n) / best / 1e9
}

// Peak memory is the process's resident high-water mark (VmHWM). Phases run in one process, so
// the mark is reset at the start of each phase by writing 5 to /proc/self/clear_refs (Linux 4.0
// and later), which sets it to the current resident size; where that is refused the mark covers
// the process so far, which the report says. Either way a phase's peak includes what is resident
// when it starts (parameters, optimizer state, memory the allocator kept): the report gives that
// too, so the phase's own growth is the difference.

// resetPeakRSS resets VmHWM to the current RSS and reports whether it could.
func resetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// rssMiB reads a field of /proc/self/status in kB ("VmHWM:" or "VmRSS:") as MiB (0 when
// unavailable).
func rssMiB(field string) float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field); ok {
			fields := strings.Fields(rest)
			if len(fields) > 0 {
				kb, _ := strconv.ParseFloat(fields[0], 64)
				return kb / 1024
			}
		}
	}
	return 0
}

// loadAvg reads /proc/loadavg's 1, 5 and 15 minute figures.
func loadAvg() [3]float64 {
	var out [3]float64
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return out
	}
	for i, f := range strings.Fields(string(b)) {
		if i == 3 {
			break
		}
		out[i], _ = strconv.ParseFloat(f, 64)
	}
	return out
}

// cpuTimes is a snapshot of the machine's busy CPU time and this process's, in clock ticks
// (USER_HZ, 100 on Linux). Their difference over an interval is what other processes took: on a
// shared machine, a figure measured while others used the cores is pessimistic.
type cpuTimes struct{ machine, self float64 }

func readCPUTimes() cpuTimes {
	var t cpuTimes
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		f := strings.Fields(line)
		// cpu user nice system idle iowait irq softirq steal: everything but idle and iowait.
		for i, v := range f {
			if i == 0 || i == 4 || i == 5 || i > 8 {
				continue
			}
			x, _ := strconv.ParseFloat(v, 64)
			t.machine += x
		}
	}
	if b, err := os.ReadFile("/proc/self/stat"); err == nil {
		s := string(b)
		// The command name may hold spaces; fields resume after its closing parenthesis.
		if i := strings.LastIndexByte(s, ')'); i >= 0 {
			f := strings.Fields(s[i+1:])
			if len(f) > 12 {
				u, _ := strconv.ParseFloat(f[11], 64) // utime (field 14)
				k, _ := strconv.ParseFloat(f[12], 64) // stime (field 15)
				t.self = u + k
			}
		}
	}
	return t
}

// otherCores is the average number of cores other processes kept busy between a and b over
// wall seconds.
func otherCores(a, b cpuTimes, wall float64) float64 {
	if wall <= 0 {
		return 0
	}
	return max(0, (b.machine-a.machine)-(b.self-a.self)) / 100 / wall
}

// autoThreads picks libtorch's intra-op thread count for the machine as it is now: one per core
// that other processes leave idle over sample, at least one. libtorch's OpenMP threads meet at a
// barrier after every parallel region (and spin there), so a team member whose core another
// process holds stalls the others: on this project's shared 2-core machine, with other processes
// keeping 1.35 cores busy, one thread ran BERT inference 3-6x faster than two. On an idle
// machine this is one thread per CPU, libtorch's default.
func autoThreads(sample time.Duration) (threads int, others float64) {
	a := readCPUTimes()
	start := time.Now()
	time.Sleep(sample)
	others = otherCores(a, readCPUTimes(), time.Since(start).Seconds())
	n := runtime.NumCPU()
	return max(1, min(n, int(math.Round(float64(n)-others)))), others
}

// cpuModel is /proc/cpuinfo's first "model name".
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
