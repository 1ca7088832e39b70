package bench

import (
	"slices"

	"github.com/spanqa/spanqa/data/batch"
)

// A phase's figure is for a whole epoch over the windows, but an epoch takes hours on a CPU, so
// only a few batches are timed. They are chosen by stratified sampling: the epoch's batches are
// sorted by cost (FLOPs) and cut into k strata of equal size, and the middle batch of each stratum
// is timed. Each stratum is then assumed to run at its timed batch's FLOP rate, so the epoch
// takes Σ_k FLOPs(stratum k) / rate_k. With padding to the maximum every batch has the same
// shape and this is simply the mean step time; with dynamic padding it follows the length
// distribution with a handful of steps, where timing the first few batches of a shuffled epoch
// would swing with whichever lengths came up.

// plannedBatch is one batch of an epoch: its windows, padded length and model FLOPs.
type plannedBatch struct {
	idx   []int
	l     int
	flops float64
}

// Stratum is a group of an epoch's batches of similar cost and the batch timed for it.
type Stratum struct {
	Batches   int     `json:"batches"`
	Sequences int     `json:"sequences"`
	FLOPs     float64 `json:"flops"` // of all the stratum's batches
	// Rep is the timed batch: its size, padded length, FLOPs and, per row, the window length
	// and question tokens (so a reference implementation can run the same shapes).
	RepB     int      `json:"rep_batch"`
	RepL     int      `json:"rep_length"`
	RepFLOPs float64  `json:"rep_flops"`
	RepRows  [][2]int `json:"rep_rows"` // [window length, tokens before the first separator]
	rep      []int
}

// epochPlan is the cost of one epoch of a phase and the strata to time.
type epochPlan struct {
	Batches    int
	Sequences  int
	FLOPs      float64
	MeanL      float64 // mean padded length per sequence
	RealTokens int     // tokens in the windows, before padding
	Strata     []Stratum
}

// planEpoch orders lengths into batches with cfg (see batch.Order), costs them with flops
// (window indices, padded length) and picks k strata.
func planEpoch(lengths []int, cfg batch.Config, k int, flops func(idx []int, l int) float64) epochPlan {
	order := batch.Order(lengths, cfg, 0)
	bs := make([]plannedBatch, len(order))
	var p epochPlan
	for i, idx := range order {
		longest := 0
		for _, w := range idx {
			longest = max(longest, lengths[w])
			p.RealTokens += lengths[w]
		}
		l := cfg.PaddedLength(longest)
		bs[i] = plannedBatch{idx: idx, l: l, flops: flops(idx, l)}
		p.Sequences += len(idx)
		p.FLOPs += bs[i].flops
		p.MeanL += float64(l * len(idx))
	}
	p.Batches = len(bs)
	if p.Sequences > 0 {
		p.MeanL /= float64(p.Sequences)
	}
	p.Strata = strata(bs, cfg.BatchSize, k)
	return p
}

// strata cuts batches, sorted by FLOPs, into k groups of (nearly) equal count and picks the
// middle full-size batch of each as its representative. Groups without a full-size batch (only
// the last, short batch can be short) join their neighbour.
func strata(bs []plannedBatch, size, k int) []Stratum {
	bs = slices.Clone(bs)
	slices.SortStableFunc(bs, func(a, b plannedBatch) int {
		switch {
		case a.flops < b.flops:
			return -1
		case a.flops > b.flops:
			return 1
		}
		return 0
	})
	k = max(1, min(k, len(bs)))
	var out []Stratum
	var group []plannedBatch
	for s := range k {
		lo, hi := s*len(bs)/k, (s+1)*len(bs)/k
		group = append(group, bs[lo:hi]...)
		var full []plannedBatch
		for _, b := range group {
			if len(b.idx) == size {
				full = append(full, b)
			}
		}
		if len(full) == 0 && s < k-1 {
			continue // merge into the next group
		}
		var st Stratum
		for _, b := range group {
			st.Batches++
			st.Sequences += len(b.idx)
			st.FLOPs += b.flops
		}
		if len(full) > 0 {
			rep := full[len(full)/2]
			st.RepB, st.RepL, st.RepFLOPs, st.rep = len(rep.idx), rep.l, rep.flops, rep.idx
			out = append(out, st)
		} else if len(out) > 0 { // a trailing group with only a short batch: fold it back
			last := &out[len(out)-1]
			last.Batches += st.Batches
			last.Sequences += st.Sequences
			last.FLOPs += st.FLOPs
		}
		group = nil
	}
	if len(out) == 0 && len(bs) > 0 { // fewer windows than one batch: time the one there is
		var st Stratum
		for _, b := range bs {
			st.Batches++
			st.Sequences += len(b.idx)
			st.FLOPs += b.flops
		}
		rep := bs[len(bs)-1]
		st.RepB, st.RepL, st.RepFLOPs, st.rep = len(rep.idx), rep.l, rep.flops, rep.idx
		out = append(out, st)
	}
	return out
}

// estimate turns the timed representatives (seconds[k] for Strata[k]) into the epoch's time.
func (p *epochPlan) estimate(seconds []float64) float64 {
	var t float64
	for i, st := range p.Strata {
		if st.RepFLOPs > 0 {
			t += st.FLOPs / (st.RepFLOPs / seconds[i])
		} else { // no FLOP model: time per batch
			t += float64(st.Batches) * seconds[i]
		}
	}
	return t
}
