// Package disttest runs multi-process tests on this machine: the test binary re-executes itself
// once per rank (`-test.run=^TestX$`) with torchrun's variables on 127.0.0.1 and a free port,
// and the parent bounds the whole job in time, killing every worker on timeout.
package disttest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/spanqa/spanqa/internal/syncbuf"
	"github.com/spanqa/spanqa/torch/dist"
)

// workerEnv marks a process started by Start.
const workerEnv = "SPANQA_DISTTEST_WORKER"

// IsWorker reports whether this test process is one of the ranks Start launched.
func IsWorker() bool { return os.Getenv(workerEnv) != "" }

// Job is a set of running worker processes.
type Job struct {
	t     testing.TB
	procs []*Proc
	done  chan int
	mu    sync.Mutex // guards the procs' Err and Elapsed while workers run
}

// Proc is one worker.
type Proc struct {
	Rank int
	Cmd  *exec.Cmd
	// Err is the exit error (nil for status 0), set once it exited.
	Err error
	// Elapsed is how long after the start it exited.
	Elapsed time.Duration
	out     syncbuf.Buffer
	start   time.Time
	exited  bool
}

// Output is what the worker printed (stdout and stderr).
func (p *Proc) Output() string { return p.out.String() }

// Start launches world workers that run the test named test, each with torchrun's variables,
// SPANQA_NUM_THREADS=1 and the extra variables env(rank) returns (env may be nil).
func Start(t testing.TB, test string, world int, env func(rank int) []string) *Job {
	t.Helper()
	port, err := dist.FreePort()
	if err != nil {
		t.Fatalf("disttest: %v", err)
	}
	j := &Job{t: t, done: make(chan int, world)}
	for r := range world {
		c := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.v")
		c.Env = append(os.Environ(), workerEnv+"=1", "MASTER_ADDR=127.0.0.1", "MASTER_PORT="+strconv.Itoa(port),
			"RANK="+strconv.Itoa(r), "WORLD_SIZE="+strconv.Itoa(world), "LOCAL_RANK="+strconv.Itoa(r), "SPANQA_NUM_THREADS=1")
		if env != nil {
			c.Env = append(c.Env, env(r)...)
		}
		p := &Proc{Rank: r, Cmd: c, start: time.Now()}
		c.Stdout, c.Stderr = &p.out, &p.out
		if err := c.Start(); err != nil {
			j.Kill()
			t.Fatalf("disttest: starting rank %d: %v", r, err)
		}
		j.procs = append(j.procs, p)
		go func() {
			err := c.Wait()
			j.mu.Lock()
			p.Err, p.Elapsed = err, time.Since(p.start)
			j.mu.Unlock()
			j.done <- r
		}()
	}
	t.Cleanup(j.Kill)
	return j
}

// Proc returns rank r's worker.
func (j *Job) Proc(r int) *Proc { return j.procs[r] }

// Wait waits until the given ranks (every rank when none is given) have exited, at most
// timeout; past it, it kills every worker and fails the test with their output.
func (j *Job) Wait(timeout time.Duration, ranks ...int) []*Proc {
	j.t.Helper()
	if len(ranks) == 0 {
		for r := range j.procs {
			ranks = append(ranks, r)
		}
	}
	deadline := time.After(timeout)
	for !j.allExited(ranks) {
		select {
		case r := <-j.done:
			j.procs[r].exited = true
		case <-deadline:
			j.Kill()
			j.t.Fatalf("disttest: workers still running after %s; killed them\n%s", timeout, j.Outputs())
		}
	}
	return j.procs
}

func (j *Job) allExited(ranks []int) bool {
	for _, r := range ranks {
		if !j.procs[r].exited {
			return false
		}
	}
	return true
}

// Kill kills every worker still running (for one that already exited it does nothing).
func (j *Job) Kill() {
	for _, p := range j.procs {
		if p.Cmd.Process != nil {
			p.Cmd.Process.Kill()
		}
	}
}

// Outputs is every worker's output, labelled by rank.
func (j *Job) Outputs() string {
	var b bytes.Buffer
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, p := range j.procs {
		fmt.Fprintf(&b, "----- rank %d (exit %v, after %s) -----\n%s\n", p.Rank, p.Err, p.Elapsed.Round(time.Millisecond), p.Output())
	}
	return b.String()
}
