package dist

/*
#include "distributed.h"
*/
import "C"

import (
	"runtime"

	"github.com/spanqa/spanqa/torch"
)

// GradReducer averages (or sums) parameter gradients across ranks the way PyTorch's
// DistributedDataParallel does: parameters are grouped, last layer first, into buckets of
// BucketBytes; once armed, the next backward starts each bucket's all-reduce from an autograd
// hook as soon as the bucket's gradients are complete, so communication overlaps the rest of
// backward; Finish waits for them and writes the results back into the gradients.
//
// Buckets start strictly in order, so every rank issues the same collectives in the same order
// whatever its timing. A parameter that got no gradient on this rank contributes zeros; one that
// got none on any rank keeps no gradient (as in a single process). With gradient accumulation,
// arm only before the last micro-batch's backward (DDP's no_sync for the others).
type GradReducer struct {
	g      *Group
	h      C.spq_reducer
	params []*torch.Tensor
	// Overlapped is how many buckets the last Finish found already started during backward.
	Overlapped int
}

// NewGradReducer registers the hooks on params (those that require grad).
func (g *Group) NewGradReducer(params []*torch.Tensor) (*GradReducer, error) {
	if len(params) == 0 {
		return nil, g.errorf("reducer", false, "no parameters")
	}
	hs, err := handles(params)
	if err != nil {
		return nil, g.errorf("reducer", false, "%v", err)
	}
	var h C.spq_reducer
	err = cError(C.spq_reducer_new(g.h, &hs[0], C.int(len(hs)), C.int64_t(g.bucketBytes), &h))
	runtime.KeepAlive(params)
	if err != nil {
		return nil, g.errorf("reducer", false, "%v", err)
	}
	return &GradReducer{g: g, h: h, params: params}, nil
}

// Buckets is the number of buckets (collectives per step).
func (r *GradReducer) Buckets() int { return int(C.spq_reducer_num_buckets(r.h)) }

// Arm makes the next backward start bucket all-reduces as gradients become ready.
func (r *GradReducer) Arm() error {
	if err := cError(C.spq_reducer_arm(r.h)); err != nil {
		return r.g.errorf("reducer", false, "%v", err)
	}
	return nil
}

// Finish starts the buckets backward did not, waits for all of them, and sets every gradient to
// the sum over ranks times scale (1/WorldSize for the mean). Call it on every rank for every
// step, also on a rank that ran no backward (it contributes zeros).
func (r *GradReducer) Finish(scale float64) error {
	var n C.int
	err := r.g.collective("allreduce of gradients", func() *C.spq_error {
		return C.spq_reducer_finish(r.h, C.double(scale), &n)
	})
	runtime.KeepAlive(r.params)
	r.Overlapped = int(n)
	return err
}

// Free removes the reducer; its hooks stay on the parameters but do nothing any more.
func (r *GradReducer) Free() {
	if r == nil || r.h == nil {
		return
	}
	C.spq_reducer_free(r.h)
	r.h = nil
}
