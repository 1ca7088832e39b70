package batch

import (
	"context"
	"errors"
	"io"

	"github.com/spanqa/spanqa/data/features"
)

// Loader serves the batches of a window set, epoch by epoch.
type Loader struct {
	windows []features.Window
	lengths []int
	cfg     Config
}

// NewLoader checks cfg and prepares batching of windows (which it does not copy or modify).
func NewLoader(windows []features.Window, cfg Config) (*Loader, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	lengths := make([]int, len(windows))
	for i := range windows {
		lengths[i] = len(windows[i].IDs)
	}
	return &Loader{windows: windows, lengths: lengths, cfg: cfg}, nil
}

// Order returns the batches (window indices) of epoch.
func (l *Loader) Order(epoch int) [][]int { return Order(l.lengths, l.cfg, epoch) }

// NumBatches is the number of batches per epoch.
func (l *Loader) NumBatches() int {
	n, b := len(l.windows), l.cfg.BatchSize
	if l.cfg.DropLast {
		return n / b // buckets hold whole batches except the last one
	}
	return (n + b - 1) / b
}

// Iterator delivers one epoch's batches in order while goroutines build the next ones.
type Iterator struct {
	ctx    context.Context
	cancel context.CancelFunc
	slots  chan chan result
	err    error
}

type result struct {
	b   *Batch
	err error
}

type job struct {
	pos  Position
	idx  []int
	slot chan result
}

// Epoch starts delivering the batches of epoch from batch index from (0 for a fresh epoch; p+1
// to resume after Position p). Cancelling ctx or calling Close stops the goroutines.
func (l *Loader) Epoch(ctx context.Context, epoch, from int) *Iterator {
	order := l.Order(epoch)
	ctx, cancel := context.WithCancel(ctx)
	it := &Iterator{ctx: ctx, cancel: cancel, slots: make(chan chan result, l.cfg.Prefetch)}
	jobs := make(chan job)
	go func() {
		defer close(jobs)
		defer close(it.slots)
		for i := max(from, 0); i < len(order); i++ {
			j := job{pos: Position{Epoch: epoch, Batch: i}, idx: order[i], slot: make(chan result, 1)}
			select {
			case it.slots <- j.slot:
			case <-ctx.Done():
				return
			}
			select {
			case jobs <- j:
			case <-ctx.Done():
				return
			}
		}
	}()
	for range l.cfg.Workers {
		go func() {
			for j := range jobs {
				b, err := Collate(l.windows, j.idx, l.cfg)
				if b != nil {
					b.Pos = j.pos
				}
				j.slot <- result{b, err}
			}
		}()
	}
	return it
}

// Next returns the next batch, io.EOF after the last one, or the context's error once
// cancelled. Errors are sticky.
func (it *Iterator) Next() (*Batch, error) {
	if it.err != nil {
		return nil, it.err
	}
	if err := it.ctx.Err(); err != nil { // prefer stopping over batches already built
		it.err = err
		return nil, err
	}
	var slot chan result
	select {
	case s, ok := <-it.slots:
		if !ok {
			it.err = io.EOF
			if err := it.ctx.Err(); err != nil {
				it.err = err
			}
			it.cancel()
			return nil, it.err
		}
		slot = s
	case <-it.ctx.Done():
		it.err = it.ctx.Err()
		return nil, it.err
	}
	select {
	case r := <-slot:
		if r.err != nil {
			it.err = r.err
			it.cancel()
		}
		return r.b, r.err
	case <-it.ctx.Done():
		it.err = it.ctx.Err()
		return nil, it.err
	}
}

// Close stops the background goroutines; Next then returns an error.
func (it *Iterator) Close() {
	it.cancel()
	if it.err == nil {
		it.err = errors.New("batch: iterator closed")
	}
}
