package serve

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/spanqa/spanqa/data/features"
	"github.com/spanqa/spanqa/infer"
	"github.com/spanqa/spanqa/models"
	"github.com/spanqa/spanqa/torch"
)

// job is up to MaxBatch windows of one call, waiting for their logits.
type job struct {
	ctx     context.Context
	windows []features.Window
	// reply is buffered (1) so that the worker never blocks on a caller that gave up.
	reply chan jobResult
}

type jobResult struct {
	start, end [][]float32
	err        error
}

// BatchInfo describes one forward pass, for observers (the server's metrics).
type BatchInfo struct {
	// Windows is the number of windows in the batch, Jobs the number of calls they came from.
	Windows, Jobs int
	// Length is the padded length of the batch in tokens, Tokens the real tokens in it.
	Length, Tokens int
	// Duration is the time of the forward pass, collation and logit copy included.
	Duration time.Duration
	// Err is the forward pass's error, if any.
	Err error
}

// worker owns the model's forward passes: one goroutine locked to its OS thread, because
// libtorch's grad mode and OpenMP state are per thread.
type worker struct {
	model    models.QAModel
	padID    int64
	maxBatch int
	maxWait  time.Duration
	threads  int

	queue chan *job
	stop  chan struct{}
	done  chan struct{}

	// dirty is set by a forward pass and cleared when idle memory is released (worker
	// goroutine only).
	dirty bool

	mu        sync.Mutex
	observers map[int]func(BatchInfo)
	nextObs   int
}

func newWorker(m models.QAModel, padID int64, o Options) *worker {
	return &worker{
		model: m, padID: padID, maxBatch: o.MaxBatch, maxWait: o.MaxWait, threads: o.Threads,
		queue: make(chan *job, o.QueueSize), stop: make(chan struct{}), done: make(chan struct{}),
		observers: map[int]func(BatchInfo){},
	}
}

// observe registers fn to be called (on the worker goroutine, so it must be quick) after every
// forward pass; the returned function unregisters it.
func (w *worker) observe(fn func(BatchInfo)) (remove func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	id := w.nextObs
	w.nextObs++
	w.observers[id] = fn
	return func() {
		w.mu.Lock()
		delete(w.observers, id)
		w.mu.Unlock()
	}
}

func (w *worker) notify(info BatchInfo) {
	w.mu.Lock()
	fns := make([]func(BatchInfo), 0, len(w.observers))
	for _, fn := range w.observers {
		fns = append(fns, fn)
	}
	w.mu.Unlock()
	for _, fn := range fns {
		fn(info)
	}
}

// run is the worker goroutine: it takes jobs until stop is closed and the queue is empty of
// live work, and answers every job it takes.
func (w *worker) run() {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer close(w.done)
	if w.threads > 0 {
		torch.SetNumThreads(w.threads)
	}
	for {
		first := w.next()
		if first == nil {
			w.drain()
			return
		}
		w.runJobs(w.collect(first))
	}
}

// idleRelease is how long the worker must be idle before it returns freed memory to the OS.
const idleRelease = 500 * time.Millisecond

// next waits for a job; nil means stop. When it has waited idleRelease after some work, it
// returns the memory that work freed to the OS, so that a server's RSS falls back after a burst.
func (w *worker) next() *job {
	select {
	case j := <-w.queue:
		return j
	case <-w.stop:
		return nil
	default:
	}
	var idle <-chan time.Time
	if w.dirty {
		t := time.NewTimer(idleRelease)
		defer t.Stop()
		idle = t.C
	}
	for {
		select {
		case j := <-w.queue:
			return j
		case <-w.stop:
			return nil
		case <-idle:
			releaseMemory()
			w.dirty, idle = false, nil
		}
	}
}

// collect adds queued jobs to first until the batch holds MaxBatch windows, MaxWait has passed
// or nothing more is queued (when MaxWait is 0).
func (w *worker) collect(first *job) []*job {
	jobs := []*job{first}
	n := len(first.windows)
	var timeout <-chan time.Time
	if w.maxWait > 0 {
		t := time.NewTimer(w.maxWait)
		defer t.Stop()
		timeout = t.C
	}
	for n < w.maxBatch {
		if timeout == nil {
			select {
			case j := <-w.queue:
				jobs, n = append(jobs, j), n+len(j.windows)
				continue
			default:
				return jobs
			}
		}
		select {
		case j := <-w.queue:
			jobs, n = append(jobs, j), n+len(j.windows)
		case <-timeout:
			return jobs
		case <-w.stop:
			return jobs
		}
	}
	return jobs
}

// drain answers the jobs left in the queue after stop: only calls that already gave up can
// have left some, since Close waits for the others.
func (w *worker) drain() {
	for {
		select {
		case j := <-w.queue:
			j.reply <- jobResult{err: ErrClosed}
		default:
			return
		}
	}
}

// maxPadding bounds the padding of a forward pass: windows × longest window stays within this
// factor of the real tokens. On a CPU a padding token costs as much as a real one, so one long
// window must not make a batch of short ones pay for its length; such jobs go in passes of
// their own length instead.
const maxPadding = 1.25

// runJobs runs the windows of jobs, skipping jobs whose caller has gone, in forward passes of
// at most MaxBatch windows and bounded padding, and answers each job.
func (w *worker) runJobs(jobs []*job) {
	live := jobs[:0]
	for _, j := range jobs {
		if err := j.ctx.Err(); err != nil {
			j.reply <- jobResult{err: err}
			continue
		}
		live = append(live, j)
	}
	// Shortest first, so that neighbours have similar lengths.
	sort.SliceStable(live, func(a, b int) bool { return longest(live[a]) < longest(live[b]) })
	for len(live) > 0 {
		// Take jobs while the pass has room and little padding; a job never spans two passes
		// (callers cut their windows into jobs of at most MaxBatch).
		n, tokens, k := 0, 0, 0
		for ; k < len(live); k++ {
			j := live[k]
			jn, jt := len(j.windows), realTokens(j)
			if k > 0 && (n+jn > w.maxBatch || float64((n+jn)*longest(j)) > maxPadding*float64(tokens+jt)) {
				break
			}
			n, tokens = n+jn, tokens+jt
		}
		w.pass(live[:k], n)
		live = live[k:]
	}
}

// longest is the length of the longest window of j.
func longest(j *job) int {
	n := 0
	for i := range j.windows {
		n = max(n, len(j.windows[i].IDs))
	}
	return n
}

// realTokens is the number of tokens in j's windows.
func realTokens(j *job) int {
	n := 0
	for i := range j.windows {
		n += len(j.windows[i].IDs)
	}
	return n
}

// pass runs one forward pass over the windows of jobs and answers them.
func (w *worker) pass(jobs []*job, n int) {
	ws := make([]features.Window, 0, n)
	for _, j := range jobs {
		ws = append(ws, j.windows...)
	}
	t0 := time.Now()
	start, end, length, err := w.forward(ws)
	w.dirty = true
	tokens := 0
	for _, j := range jobs {
		tokens += realTokens(j)
	}
	w.notify(BatchInfo{Windows: len(ws), Jobs: len(jobs), Length: length, Tokens: tokens, Duration: time.Since(t0), Err: err})
	if err != nil && len(jobs) > 1 {
		// Run each job alone, so that a window the model rejects fails only its own call and
		// not the calls that happened to share its batch.
		for _, j := range jobs {
			w.pass([]*job{j}, len(j.windows))
		}
		return
	}
	off := 0
	for _, j := range jobs {
		k := len(j.windows)
		if err != nil {
			j.reply <- jobResult{err: err}
		} else {
			j.reply <- jobResult{start: start[off : off+k], end: end[off : off+k]}
		}
		off += k
	}
}

// forward runs the model (eval mode, no gradients) on windows padded into one batch and returns
// each window's logits, cut to the window's own length: padding positions must not compete
// with real tokens, or an answer would depend on its batch-mates. length is the batch's padded
// length. A panic (a bug, not bad input: inputs were checked) becomes an error so that the
// worker survives.
func (w *worker) forward(ws []features.Window) (start, end [][]float32, length int, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("serve: forward pass failed: %v", r)
		}
	}()
	l, err := infer.Forward(w.model, ws, w.padID)
	if l != nil {
		length = l.L
	}
	if err != nil {
		return nil, nil, length, fmt.Errorf("serve: %w", err)
	}
	start, end = l.Trimmed(ws)
	return start, end, length, nil
}
