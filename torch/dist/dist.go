// Package dist is spanqa's data-parallel layer over libtorch's c10d: one process per device,
// rendezvous through a TCPStore from the environment variables torchrun sets (MASTER_ADDR,
// MASTER_PORT, RANK, WORLD_SIZE, LOCAL_RANK), and the collectives data-parallel training needs
// (broadcast, bucketed all-reduce, barrier, all-gather of bytes) on Gloo for CPU tensors or NCCL
// on CUDA builds.
//
// Failure behaviour: every collective waits at most Config.Timeout. A peer that died makes the
// collective fail as soon as the transport notices (Gloo: at once, the connection closes); a
// peer that hangs makes it fail when the timeout runs out. Either way the call returns an *Error
// (errors.Is(err, ErrBroken)), the group refuses further collectives, and the caller is expected
// to exit; a restart resumes from the last checkpoint. A Go-side watchdog backs this up: should
// the C call itself not return (timeout plus a grace period), Config.OnHang runs, by default
// printing the error and exiting the process, since a goroutine blocked in C cannot be cancelled.
package dist

/*
#cgo CFLAGS: -I${SRCDIR}/../../cbridge
#cgo LDFLAGS: -L${SRCDIR}/../../build -lspanqa_cbridge -Wl,-rpath,${SRCDIR}/../../build
#include <stdlib.h>
#include "distributed.h"
*/
import "C"

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/spanqa/spanqa/torch"
)

// Backend names a c10d process-group implementation.
type Backend string

const (
	// Gloo runs collectives on CPU tensors over TCP.
	Gloo Backend = "gloo"
	// NCCL runs collectives on CUDA tensors (CUDA builds only).
	NCCL Backend = "nccl"
)

func (b Backend) code() C.int {
	switch b {
	case Gloo:
		return C.SPQ_BACKEND_GLOO
	case NCCL:
		return C.SPQ_BACKEND_NCCL
	}
	return 0
}

// Describe names the process-group backends this build can create, with NCCL's version.
func Describe() string {
	var have []string
	if Gloo.Available() {
		have = append(have, "gloo")
	}
	if NCCL.Available() {
		v := int(C.spq_dist_nccl_version())
		have = append(have, fmt.Sprintf("nccl %d.%d.%d", v/10000, v%10000/100, v%100))
	}
	if len(have) == 0 {
		return "no backend (this libtorch has no Gloo headers: apt-get install libgloo-dev)"
	}
	return strings.Join(have, ", ")
}

// Available reports whether this build of cbridge can create the backend.
func (b Backend) Available() bool { return b.code() != 0 && C.spq_dist_has_backend(b.code()) != 0 }

// DefaultTimeout is torch.distributed's default for Gloo and NCCL collectives.
const DefaultTimeout = 30 * time.Minute

// DefaultBucketBytes is DDP's bucket_cap_mb (25 MiB): big enough that each collective moves a
// lot of data, small enough that buckets fill (and start) early during backward.
const DefaultBucketBytes = 25 << 20

// ErrBroken is matched (errors.Is) by the errors of failed collectives: a peer died or hung,
// and the group cannot be used any more.
var ErrBroken = errors.New("dist: process group broken")

// Error is a failed rendezvous or collective.
type Error struct {
	Rank, WorldSize int
	Op              string // "rendezvous", "allreduce", ...
	Msg             string // the backend's message
	broken          bool
}

func (e *Error) Error() string {
	what := e.Op + ": " + e.Msg
	if strings.HasPrefix(e.Msg, e.Op) { // the C layer already named it, with details
		what = e.Msg
	}
	s := fmt.Sprintf("dist: rank %d of %d: %s", e.Rank, e.WorldSize, what)
	if e.broken {
		s += " (a peer rank died, hung or left; this job cannot continue: restart it, with --resume to continue from the last checkpoint)"
	}
	return s
}

// Is lets errors.Is(err, ErrBroken) match failed collectives.
func (e *Error) Is(target error) bool { return target == ErrBroken && e.broken }

// Env is this process's place in the job, as torchrun describes it.
type Env struct {
	MasterAddr string
	MasterPort int
	Rank       int
	WorldSize  int
	LocalRank  int
	// AgentStore is set under torchrun, whose elastic agent already hosts the TCPStore
	// (TORCHELASTIC_USE_AGENT_STORE=True): every rank connects as a client, with keys under
	// StorePrefix (torch's "/worker/attempt_<TORCHELASTIC_RESTART_COUNT>").
	AgentStore  bool
	StorePrefix string
}

// EnvFrom reads the job's layout through getenv (os.Getenv in FromEnv). ok is false when the
// process is not part of a multi-process job: WORLD_SIZE unset or 1. When it is, MASTER_ADDR,
// MASTER_PORT and RANK are required; LOCAL_RANK defaults to RANK.
func EnvFrom(getenv func(string) string) (e Env, ok bool, err error) {
	ws := getenv("WORLD_SIZE")
	if ws == "" {
		return Env{}, false, nil
	}
	num := func(name string) (int, error) {
		v := getenv(name)
		if v == "" {
			return 0, fmt.Errorf("dist: WORLD_SIZE is %s but %s is not set", ws, name)
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("dist: %s=%q is not a non-negative integer", name, v)
		}
		return n, nil
	}
	if e.WorldSize, err = num("WORLD_SIZE"); err != nil {
		return Env{}, false, err
	}
	if e.WorldSize <= 1 {
		return Env{}, false, nil
	}
	if e.Rank, err = num("RANK"); err != nil {
		return Env{}, false, err
	}
	if e.Rank >= e.WorldSize {
		return Env{}, false, fmt.Errorf("dist: RANK=%d is not below WORLD_SIZE=%d", e.Rank, e.WorldSize)
	}
	e.LocalRank = e.Rank
	if getenv("LOCAL_RANK") != "" {
		if e.LocalRank, err = num("LOCAL_RANK"); err != nil {
			return Env{}, false, err
		}
	}
	if e.MasterAddr = getenv("MASTER_ADDR"); e.MasterAddr == "" {
		return Env{}, false, fmt.Errorf("dist: WORLD_SIZE is %d but MASTER_ADDR is not set", e.WorldSize)
	}
	if e.MasterPort, err = num("MASTER_PORT"); err != nil {
		return Env{}, false, err
	}
	if e.MasterPort == 0 || e.MasterPort > 65535 {
		return Env{}, false, fmt.Errorf("dist: MASTER_PORT=%d is not a port", e.MasterPort)
	}
	if strings.EqualFold(getenv("TORCHELASTIC_USE_AGENT_STORE"), "true") {
		e.AgentStore = true
		attempt := getenv("TORCHELASTIC_RESTART_COUNT")
		if attempt == "" {
			attempt = "0"
		}
		e.StorePrefix = "/worker/attempt_" + attempt
	}
	return e, true, nil
}

// FromEnv is EnvFrom(os.Getenv).
func FromEnv() (Env, bool, error) { return EnvFrom(os.Getenv) }

// Config configures Init.
type Config struct {
	Env
	// Backend is Gloo or NCCL; empty picks NCCL for a CUDA Device and Gloo otherwise.
	Backend Backend
	// Device is where this rank computes (cuda:LOCAL_RANK on a GPU node, CPU otherwise).
	Device torch.Device
	// Timeout bounds the rendezvous and every collective (default DefaultTimeout).
	Timeout time.Duration
	// BucketBytes caps the buckets of Broadcast, AllReduce and GradReducer (default
	// DefaultBucketBytes).
	BucketBytes int64
	// Interfaces are the network interfaces Gloo uses, comma-separated (default: the
	// GLOO_SOCKET_IFNAME variable; empty: loopback for a loopback MASTER_ADDR, else the
	// interface of this host's name).
	Interfaces string
	// OnHang is called by the watchdog when a collective has not returned Timeout plus a grace
	// period after it started, which means libtorch's own timeout failed to fire. Nil prints
	// the error to stderr and exits the process with status 3.
	OnHang func(error)
}

// Group is this process's membership in a data-parallel job. Collectives must be called by
// every rank in the same order; a Group may be used from one goroutine at a time.
type Group struct {
	env         Env
	backend     Backend
	device      torch.Device
	timeout     time.Duration
	bucketBytes int64
	onHang      func(error)

	mu     sync.Mutex
	h      C.spq_pg
	broken error
	closed bool
}

// Init joins the job: it rendezvous with the other ranks through the TCPStore at MASTER_ADDR:
// MASTER_PORT (rank 0 hosts it) and connects the process group. It fails, with an error naming
// what was missing, when the other ranks do not all arrive within the timeout. Cancelling ctx
// abandons the rendezvous (the C call is left to time out in the background).
func Init(ctx context.Context, cfg Config) (*Group, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.BucketBytes <= 0 {
		cfg.BucketBytes = DefaultBucketBytes
	}
	if cfg.Interfaces == "" {
		cfg.Interfaces = os.Getenv("GLOO_SOCKET_IFNAME")
	}
	if cfg.Backend == "" {
		cfg.Backend = Gloo
		if cfg.Device.Type == torch.CUDADevice {
			cfg.Backend = NCCL
		}
	}
	if cfg.OnHang == nil {
		cfg.OnHang = func(err error) {
			fmt.Fprintf(os.Stderr, "spanqa: %v\n", err)
			os.Exit(3)
		}
	}
	g := &Group{env: cfg.Env, backend: cfg.Backend, device: cfg.Device, timeout: cfg.Timeout, bucketBytes: cfg.BucketBytes, onHang: cfg.OnHang}
	if cfg.Backend.code() == 0 {
		return nil, g.errorf("init", false, "unknown backend %q (want gloo or nccl)", cfg.Backend)
	}
	if !cfg.Backend.Available() {
		return nil, g.errorf("init", false, "this build has no %s backend", cfg.Backend)
	}
	if cfg.WorldSize < 1 || cfg.Rank < 0 || cfg.Rank >= cfg.WorldSize {
		return nil, g.errorf("init", false, "rank %d out of range for world size %d", cfg.Rank, cfg.WorldSize)
	}
	type result struct {
		h   C.spq_pg
		err error
	}
	done := make(chan result, 1)
	go func() {
		addr, prefix, iface := C.CString(cfg.MasterAddr), C.CString(cfg.StorePrefix), C.CString(cfg.Interfaces)
		defer C.free(unsafe.Pointer(addr))
		defer C.free(unsafe.Pointer(prefix))
		defer C.free(unsafe.Pointer(iface))
		var h C.spq_pg
		e := C.spq_dist_init(addr, C.int(cfg.MasterPort), C.int(cfg.Rank), C.int(cfg.WorldSize), cfg.Backend.code(),
			C.int64_t(cfg.Timeout.Milliseconds()), cbool(cfg.AgentStore), prefix, C.int(cfg.Device.Index), iface, &h)
		done <- result{h, cError(e)}
	}()
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		return nil, g.errorf("rendezvous", false, "%v", ctx.Err())
	}
	if r.err != nil {
		return nil, g.errorf("rendezvous", false, "%v (%d ranks, %s backend, timeout %s)", r.err, cfg.WorldSize, cfg.Backend, cfg.Timeout)
	}
	g.h = r.h
	return g, nil
}

// Rank is this process's rank in [0, WorldSize).
func (g *Group) Rank() int { return g.env.Rank }

// WorldSize is the number of ranks.
func (g *Group) WorldSize() int { return g.env.WorldSize }

// LocalRank is this process's index on its machine (which GPU it uses).
func (g *Group) LocalRank() int { return g.env.LocalRank }

// IsMain reports whether this is rank 0, the one that writes checkpoints and logs.
func (g *Group) IsMain() bool { return g.env.Rank == 0 }

// Backend is the backend in use.
func (g *Group) Backend() Backend { return g.backend }

// Timeout is the limit on every collective.
func (g *Group) Timeout() time.Duration { return g.timeout }

// Device is the rank's device; tensors handed to collectives must live there.
func (g *Group) Device() torch.Device { return g.device }

func (g *Group) String() string {
	return fmt.Sprintf("rank %d of %d (%s, local rank %d)", g.env.Rank, g.env.WorldSize, g.backend, g.env.LocalRank)
}

func (g *Group) errorf(op string, broken bool, format string, a ...any) *Error {
	return &Error{Rank: g.env.Rank, WorldSize: g.env.WorldSize, Op: op, Msg: fmt.Sprintf(format, a...), broken: broken}
}

// watchdogGrace is how long after the timeout the watchdog waits for libtorch's own timeout.
func (g *Group) watchdogGrace() time.Duration {
	return min(max(g.timeout/4, 10*time.Second), 5*time.Minute)
}

// collective runs one blocking C collective under the watchdog; a failure breaks the group.
func (g *Group) collective(op string, fn func() *C.spq_error) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return g.errorf(op, false, "group is closed")
	}
	if g.broken != nil {
		return g.broken
	}
	start := time.Now()
	watchdog := time.AfterFunc(g.timeout+g.watchdogGrace(), func() {
		g.onHang(g.errorf(op, true, "did not return %s after it started (timeout %s): the process group is hung", time.Since(start).Round(time.Second), g.timeout))
	})
	err := cError(fn())
	watchdog.Stop()
	if err != nil {
		g.broken = g.errorf(op, true, "%v (after %s)", err, time.Since(start).Round(time.Millisecond))
		return g.broken
	}
	return nil
}

// handles returns the C handles of ts; keep ts alive until the C call returns.
func handles(ts []*torch.Tensor) (hs []C.spq_tensor, err error) {
	err = torch.Catch(func() {
		hs = make([]C.spq_tensor, len(ts))
		for i, t := range ts {
			hs[i] = C.spq_tensor(torch.UnsafeHandle(t))
		}
	})
	return hs, err
}

// Broadcast overwrites ts on every rank with root's values (in buckets of BucketBytes).
func (g *Group) Broadcast(ts []*torch.Tensor, root int) error {
	if len(ts) == 0 {
		return nil
	}
	hs, err := handles(ts)
	if err != nil {
		return g.errorf("broadcast", false, "%v", err)
	}
	defer runtime.KeepAlive(ts)
	return g.collective("broadcast", func() *C.spq_error {
		return C.spq_dist_broadcast(g.h, &hs[0], C.int(len(hs)), C.int(root), C.int64_t(g.bucketBytes))
	})
}

// AllReduce replaces ts on every rank with the sum over ranks times scale, in place.
func (g *Group) AllReduce(ts []*torch.Tensor, scale float64) error {
	if len(ts) == 0 {
		return nil
	}
	hs, err := handles(ts)
	if err != nil {
		return g.errorf("allreduce", false, "%v", err)
	}
	defer runtime.KeepAlive(ts)
	return g.collective("allreduce", func() *C.spq_error {
		return C.spq_dist_allreduce(g.h, &hs[0], C.int(len(hs)), C.double(scale), C.int64_t(g.bucketBytes))
	})
}

// AllReduceMean replaces ts on every rank with their mean over ranks (flattened into buckets
// of BucketBytes, one collective per bucket).
func (g *Group) AllReduceMean(ts []*torch.Tensor) error {
	return g.AllReduce(ts, 1/float64(g.env.WorldSize))
}

// AllReduceFloat64s returns the element-wise sum of vals over ranks (every rank passes the same
// number of values): small control data such as losses, counts and votes.
func (g *Group) AllReduceFloat64s(vals []float64) ([]float64, error) {
	var out []float64
	var err error
	if cerr := torch.Catch(func() {
		t := torch.FromSlice(nil, vals)
		defer t.Free()
		if g.device != torch.CPU {
			d := t.ToDevice(g.device)
			defer d.Free()
			t = d
		}
		if err = g.AllReduce([]*torch.Tensor{t}, 1); err == nil {
			out = t.Float64s()
		}
	}); cerr != nil {
		return nil, g.errorf("allreduce", false, "%v", cerr)
	}
	return out, err
}

// Barrier returns when every rank has called it.
func (g *Group) Barrier() error {
	return g.collective("barrier", func() *C.spq_error { return C.spq_dist_barrier(g.h) })
}

// AllGatherBytes returns every rank's data, indexed by rank (lengths may differ).
func (g *Group) AllGatherBytes(data []byte) ([][]byte, error) {
	lens := make([]int64, g.env.WorldSize)
	var out unsafe.Pointer
	var p unsafe.Pointer
	if len(data) > 0 {
		p = C.CBytes(data)
		defer C.free(p)
	}
	if err := g.collective("allgather", func() *C.spq_error {
		return C.spq_dist_allgather_bytes(g.h, p, C.int64_t(len(data)), &out, (*C.int64_t)(unsafe.Pointer(&lens[0])))
	}); err != nil {
		return nil, err
	}
	defer C.spq_dist_free_bytes(out)
	res := make([][]byte, len(lens))
	var off int64
	for r, n := range lens {
		if n > 0 {
			res[r] = C.GoBytes(unsafe.Add(out, off), C.int(n))
		} else {
			res[r] = []byte{}
		}
		off += n
	}
	return res, nil
}

// AllGatherInt64s returns every rank's values, indexed by rank.
func (g *Group) AllGatherInt64s(vals []int64) ([][]int64, error) {
	buf := make([]byte, 8*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint64(buf[8*i:], uint64(v))
	}
	parts, err := g.AllGatherBytes(buf)
	if err != nil {
		return nil, err
	}
	out := make([][]int64, len(parts))
	for r, b := range parts {
		out[r] = make([]int64, len(b)/8)
		for i := range out[r] {
			out[r][i] = int64(binary.LittleEndian.Uint64(b[8*i:]))
		}
	}
	return out, nil
}

// Close leaves the job. After a failed collective the C group is deliberately leaked: tearing it
// down would wait for collectives still queued behind the failed one, up to a timeout each, and
// the process is about to exit anyway.
func (g *Group) Close() error {
	if g == nil {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil
	}
	g.closed = true
	if g.broken == nil && g.h != nil {
		C.spq_dist_free(g.h)
	}
	g.h = nil
	return nil
}

func cError(e *C.spq_error) error {
	if e == nil {
		return nil
	}
	defer C.spq_error_free(e)
	msg := C.GoString(e.message)
	if e.kind == C.SPQ_ERR_OOM {
		return fmt.Errorf("%s: %w", msg, torch.ErrOutOfMemory)
	}
	return errors.New(msg)
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}
