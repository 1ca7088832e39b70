package bench

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
)

// Where the CPU time goes, from Go's own CPU profiler (runtime/pprof), which samples every
// thread of the process: Go threads with their Go stacks, a Go thread inside a libtorch call
// with the Go stack of the call (runtime.cgocall at its root), and libtorch's OpenMP worker
// threads as runtime._ExternalCode. A sample is "Go" when it is none of these: Go code, the
// garbage collector and the scheduler, on any goroutine (batching workers included). The step
// goroutine carries the label role=device, which splits out the Go time on the thread that drives
// libtorch: while it runs Go, no kernel is being launched.

// GoShare is what a phase's CPU profile says about the Go side.
type GoShare struct {
	// Samples is the number of CPU samples (100 per CPU second).
	Samples int `json:"samples"`
	// CPU is the fraction of the process's CPU time spent in Go code.
	CPU float64 `json:"go_cpu_fraction"`
	// Device is the fraction of the step goroutine's samples spent in Go rather than in libtorch.
	Device float64 `json:"go_device_thread_fraction"`
	// Top lists the Go functions with the most samples of their own ("name percent").
	Top []string `json:"go_top,omitempty"`
}

// profiler records one phase's CPU profile; a nil profiler records nothing.
type profiler struct {
	buf     bytes.Buffer
	path    string // where to keep the raw profile ("" to keep none)
	stopped bool
}

// startProfile starts the CPU profile, or returns nil when profiling is off or already running
// (go test -cpuprofile, for one).
func startProfile(dir, name string) *profiler {
	p := &profiler{}
	if dir != "" {
		p.path = filepath.Join(dir, strings.NewReplacer("/", "-", " ", "_").Replace(name)+".pprof")
	}
	if err := pprof.StartCPUProfile(&p.buf); err != nil {
		return nil
	}
	return p
}

// stop ends the profile and analyses it.
func (p *profiler) stop() (*GoShare, error) {
	if p == nil {
		return nil, nil
	}
	p.close()
	if p.path != "" {
		if err := os.MkdirAll(filepath.Dir(p.path), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(p.path, p.buf.Bytes(), 0o644); err != nil {
			return nil, err
		}
	}
	return goShare(p.buf.Bytes())
}

// close ends the profile if it is still running (a phase that failed midway).
func (p *profiler) close() {
	if p != nil && !p.stopped {
		pprof.StopCPUProfile()
		p.stopped = true
	}
}

// deviceLabels marks the calling goroutine as the one driving libtorch; the returned function
// removes the mark. Goroutines started in between inherit it, so start workers before.
func deviceLabels() func() {
	pprof.SetGoroutineLabels(pprof.WithLabels(context.Background(), pprof.Labels("role", "device")))
	return func() { pprof.SetGoroutineLabels(context.Background()) }
}

// native frames: a sample holding one of them was taken in libtorch.
var nativeFrames = []string{"runtime.cgocall", "runtime.asmcgocall", "runtime._ExternalCode", "runtime._LostExternalCode"}

// goShare reads a gzipped pprof CPU profile and splits its samples into Go and libtorch.
func goShare(raw []byte) (*GoShare, error) {
	prof, err := parseProfile(raw)
	if err != nil {
		return nil, err
	}
	var sh GoShare
	var goN, devN, devGo int
	self := map[string]int{}
	for _, s := range prof.samples {
		n := int(s.count)
		sh.Samples += n
		// A leaf without a Go function is C code (an unsymbolised address in a library).
		native := len(s.locations) > 0 && len(prof.locationFuncs[s.locations[0]]) == 0
		for _, loc := range s.locations {
			for _, fn := range prof.locationFuncs[loc] {
				if slices.Contains(nativeFrames, fn) {
					native = true
				}
			}
		}
		dev := s.labels["role"] == "device"
		if dev {
			devN += n
		}
		if native {
			continue
		}
		goN += n
		if dev {
			devGo += n
		}
		if len(s.locations) > 0 {
			if fns := prof.locationFuncs[s.locations[0]]; len(fns) > 0 {
				self[fns[0]] += n
			}
		}
	}
	if sh.Samples > 0 {
		sh.CPU = float64(goN) / float64(sh.Samples)
	}
	if devN > 0 {
		sh.Device = float64(devGo) / float64(devN)
	}
	names := make([]string, 0, len(self))
	for k := range self {
		names = append(names, k)
	}
	slices.SortFunc(names, func(a, b string) int { return self[b] - self[a] })
	for _, n := range names[:min(5, len(names))] {
		sh.Top = append(sh.Top, fmt.Sprintf("%s %.1f%%", n, 100*float64(self[n])/float64(max(sh.Samples, 1))))
	}
	return &sh, nil
}

// The pprof format (github.com/google/pprof/proto/profile.proto) is a gzipped protocol buffer;
// the few fields needed here are read with a minimal decoder rather than a new dependency.

type profSample struct {
	locations []uint64
	count     int64
	labels    map[string]string
}

type parsedProfile struct {
	samples       []profSample
	locationFuncs map[uint64][]string // location id -> function names, innermost first
}

func parseProfile(raw []byte) (*parsedProfile, error) {
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("bench: profile: %w", err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("bench: profile: %w", err)
	}
	type rawSample struct {
		locs    []uint64
		values  []int64
		labelKV [][2]int64
	}
	var samples []rawSample
	locFuncIDs := map[uint64][]uint64{}
	funcNames := map[uint64]int64{}
	var strs []string
	err = protoFields(data, func(field int, v uint64, b []byte) error {
		switch field {
		case 2: // sample
			var s rawSample
			err := protoFields(b, func(f int, v uint64, b []byte) error {
				switch f {
				case 1:
					s.locs = appendVarints(s.locs, v, b)
				case 2:
					for _, u := range appendVarints(nil, v, b) {
						s.values = append(s.values, int64(u))
					}
				case 3:
					var kv [2]int64
					err := protoFields(b, func(f int, v uint64, _ []byte) error {
						if f == 1 || f == 2 {
							kv[f-1] = int64(v)
						}
						return nil
					})
					s.labelKV = append(s.labelKV, kv)
					return err
				}
				return nil
			})
			samples = append(samples, s)
			return err
		case 4: // location
			var id uint64
			var fns []uint64
			err := protoFields(b, func(f int, v uint64, b []byte) error {
				switch f {
				case 1:
					id = v
				case 4: // line
					return protoFields(b, func(f int, v uint64, _ []byte) error {
						if f == 1 {
							fns = append(fns, v)
						}
						return nil
					})
				}
				return nil
			})
			locFuncIDs[id] = fns
			return err
		case 5: // function
			var id uint64
			var name int64
			err := protoFields(b, func(f int, v uint64, _ []byte) error {
				switch f {
				case 1:
					id = v
				case 2:
					name = int64(v)
				}
				return nil
			})
			funcNames[id] = name
			return err
		case 6: // string table
			strs = append(strs, string(b))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("bench: profile: %w", err)
	}
	str := func(i int64) string {
		if i < 0 || int(i) >= len(strs) {
			return ""
		}
		return strs[i]
	}
	p := &parsedProfile{locationFuncs: map[uint64][]string{}}
	for id, fns := range locFuncIDs {
		for _, f := range fns {
			p.locationFuncs[id] = append(p.locationFuncs[id], str(funcNames[f]))
		}
	}
	for _, s := range samples {
		ps := profSample{locations: s.locs, labels: map[string]string{}}
		if len(s.values) > 0 {
			ps.count = s.values[0]
		}
		for _, kv := range s.labelKV {
			ps.labels[str(kv[0])] = str(kv[1])
		}
		p.samples = append(p.samples, ps)
	}
	return p, nil
}

var errProto = errors.New("malformed protocol buffer")

// protoFields calls fn for each field of a protocol buffer message: varints with v set,
// length-delimited fields with b set (fixed-width fields are skipped).
func protoFields(data []byte, fn func(field int, v uint64, b []byte) error) error {
	for len(data) > 0 {
		key, n := uvarint(data)
		if n <= 0 {
			return errProto
		}
		data = data[n:]
		field, wire := int(key>>3), key&7
		switch wire {
		case 0:
			v, n := uvarint(data)
			if n <= 0 {
				return errProto
			}
			data = data[n:]
			if err := fn(field, v, nil); err != nil {
				return err
			}
		case 2:
			l, n := uvarint(data)
			if n <= 0 || uint64(len(data)-n) < l {
				return errProto
			}
			if err := fn(field, 0, data[n:n+int(l)]); err != nil {
				return err
			}
			data = data[n+int(l):]
		case 1:
			if len(data) < 8 {
				return errProto
			}
			data = data[8:]
		case 5:
			if len(data) < 4 {
				return errProto
			}
			data = data[4:]
		default:
			return errProto
		}
	}
	return nil
}

// appendVarints appends a repeated integer field given unpacked (v) or packed (b).
func appendVarints(out []uint64, v uint64, b []byte) []uint64 {
	if b == nil {
		return append(out, v)
	}
	for len(b) > 0 {
		u, n := uvarint(b)
		if n <= 0 {
			break
		}
		out = append(out, u)
		b = b[n:]
	}
	return out
}

func uvarint(b []byte) (uint64, int) {
	var x uint64
	var s uint
	for i, c := range b {
		if i == 10 {
			return 0, -1
		}
		if c < 0x80 {
			return x | uint64(c)<<s, i + 1
		}
		x |= uint64(c&0x7f) << s
		s += 7
	}
	return 0, 0
}
