package dist

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// LaunchWorkerEnv is set (to "1") in the environment of the workers Launch starts, so that a
// command line that asked for a launch runs as a worker in them.
const LaunchWorkerEnv = "SPANQA_LAUNCH_WORKER"

// LaunchConfig describes the workers Launch starts on this machine, like torchrun's flags.
type LaunchConfig struct {
	// NProcPerNode is the number of workers on this machine (one per device).
	NProcPerNode int
	// NNodes and NodeRank place this machine in a multi-machine job (default 1 and 0).
	NNodes, NodeRank int
	// MasterAddr and MasterPort are where rank 0 hosts the rendezvous store. Defaults:
	// 127.0.0.1, and a free port when the job is on this machine only.
	MasterAddr string
	MasterPort int
	// Command and Args are the worker's command line (Args without the program name).
	Command string
	Args    []string
	// Env is the workers' base environment (nil: this process's).
	Env []string
	// Stdout and Stderr receive the workers' output (nil: this process's).
	Stdout, Stderr io.Writer
	// KillGrace is how long the remaining workers get to exit after SIGTERM, once one has
	// failed, before they are killed (default 30 s).
	KillGrace time.Duration
}

// Launch runs the workers of this machine and waits for them. Each gets torchrun's variables
// (MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, GROUP_RANK),
// LaunchWorkerEnv, and, unless already set, an even share of the CPU cores
// (SPANQA_NUM_THREADS, OMP_NUM_THREADS). Cancelling ctx (Ctrl-C) forwards an interrupt to every
// worker, which checkpoint and stop together. When a worker fails the others are terminated
// (SIGTERM, then SIGKILL after KillGrace) and Launch returns the first failure.
func Launch(ctx context.Context, cfg LaunchConfig) error {
	if cfg.NProcPerNode < 1 {
		return fmt.Errorf("dist: launch: --nproc-per-node must be at least 1, got %d", cfg.NProcPerNode)
	}
	if cfg.NNodes <= 0 {
		cfg.NNodes = 1
	}
	if cfg.NodeRank < 0 || cfg.NodeRank >= cfg.NNodes {
		return fmt.Errorf("dist: launch: node rank %d out of range for %d nodes", cfg.NodeRank, cfg.NNodes)
	}
	if cfg.MasterAddr == "" {
		if cfg.NNodes > 1 {
			return errors.New("dist: launch: a multi-node job needs the master address (rank 0's machine)")
		}
		cfg.MasterAddr = "127.0.0.1"
	}
	if cfg.MasterPort == 0 {
		if cfg.NNodes > 1 {
			return errors.New("dist: launch: a multi-node job needs an agreed master port")
		}
		p, err := FreePort()
		if err != nil {
			return fmt.Errorf("dist: launch: %w", err)
		}
		cfg.MasterPort = p
	}
	if cfg.Env == nil {
		cfg.Env = os.Environ()
	}
	if cfg.Stdout == nil {
		cfg.Stdout = os.Stdout
	}
	if cfg.Stderr == nil {
		cfg.Stderr = os.Stderr
	}
	// Every worker writes to the same writers from its own copying goroutine (unless they are
	// files, which the workers inherit): serialise them.
	shared := map[io.Writer]io.Writer{}
	lock := func(w io.Writer) io.Writer {
		if _, ok := w.(*os.File); ok {
			return w
		}
		if l, ok := shared[w]; ok {
			return l
		}
		l := &lockedWriter{w: w}
		shared[w] = l
		return l
	}
	cfg.Stdout, cfg.Stderr = lock(cfg.Stdout), lock(cfg.Stderr)
	if cfg.KillGrace <= 0 {
		cfg.KillGrace = 30 * time.Second
	}
	world := cfg.NNodes * cfg.NProcPerNode
	threads := strconv.Itoa(max(1, runtime.NumCPU()/cfg.NProcPerNode))
	has := map[string]bool{}
	for _, kv := range cfg.Env {
		for i := 0; i < len(kv); i++ {
			if kv[i] == '=' {
				has[kv[:i]] = true
				break
			}
		}
	}

	type exit struct {
		rank int
		err  error
	}
	exits := make(chan exit, cfg.NProcPerNode)
	var mu sync.Mutex
	running := map[int]*exec.Cmd{}
	signalAll := func(sig os.Signal) {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range running {
			c.Process.Signal(sig)
		}
	}
	for local := range cfg.NProcPerNode {
		rank := cfg.NodeRank*cfg.NProcPerNode + local
		c := exec.Command(cfg.Command, cfg.Args...)
		c.Stdout, c.Stderr = cfg.Stdout, cfg.Stderr
		c.Env = append(append([]string(nil), cfg.Env...),
			"MASTER_ADDR="+cfg.MasterAddr, "MASTER_PORT="+strconv.Itoa(cfg.MasterPort),
			"RANK="+strconv.Itoa(rank), "WORLD_SIZE="+strconv.Itoa(world),
			"LOCAL_RANK="+strconv.Itoa(local), "LOCAL_WORLD_SIZE="+strconv.Itoa(cfg.NProcPerNode),
			"GROUP_RANK="+strconv.Itoa(cfg.NodeRank), LaunchWorkerEnv+"=1")
		for _, v := range []string{"SPANQA_NUM_THREADS", "OMP_NUM_THREADS"} {
			if !has[v] {
				c.Env = append(c.Env, v+"="+threads)
			}
		}
		c.SysProcAttr = workerProcAttr()
		if err := c.Start(); err != nil {
			signalAll(syscall.SIGKILL)
			return fmt.Errorf("dist: launch: rank %d: %w", rank, err)
		}
		mu.Lock()
		running[rank] = c
		mu.Unlock()
		go func() {
			err := c.Wait()
			mu.Lock()
			delete(running, rank)
			mu.Unlock()
			exits <- exit{rank, err}
		}()
	}

	var first error
	var kill <-chan time.Time
	interrupted := false
	for left := cfg.NProcPerNode; left > 0; {
		select {
		case e := <-exits:
			left--
			if e.err != nil && first == nil {
				first = fmt.Errorf("dist: launch: rank %d failed: %w", e.rank, e.err)
				if left > 0 {
					fmt.Fprintf(cfg.Stderr, "spanqa: rank %d failed (%v); stopping the other workers\n", e.rank, e.err)
					signalAll(syscall.SIGTERM)
					kill = time.After(cfg.KillGrace)
				}
			}
		case <-ctx.Done():
			if !interrupted {
				interrupted = true
				signalAll(os.Interrupt)
			}
			ctx = context.Background() // forward once; then wait for the workers to stop
		case <-kill:
			fmt.Fprintf(cfg.Stderr, "spanqa: workers still running %s after SIGTERM; killing them\n", cfg.KillGrace)
			signalAll(syscall.SIGKILL)
			kill = nil
		}
	}
	return first
}

// FreePort returns a TCP port that was free on 127.0.0.1 a moment ago (for a local job's
// rendezvous).
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// lockedWriter serialises writes from several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
