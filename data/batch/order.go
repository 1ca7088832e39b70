package batch

import (
	"math/bits"
	"math/rand/v2"
	"slices"
)

// rng is a seeded stream with its own bounded-integer and shuffle code, so that an order depends
// only on (seed, epoch), never on the Go release.
type rng struct{ src *rand.PCG }

func newRNG(seed uint64, epoch int) *rng {
	return &rng{rand.NewPCG(seed, 0x9e3779b97f4a7c15^uint64(epoch))}
}

// intn returns a uniform integer in [0, n) (Lemire's multiply-and-reject).
func (r *rng) intn(n int) int {
	un := uint64(n)
	hi, lo := bits.Mul64(r.src.Uint64(), un)
	if lo < un {
		thresh := -un % un
		for lo < thresh {
			hi, lo = bits.Mul64(r.src.Uint64(), un)
		}
	}
	return int(hi)
}

// shuffle is Fisher-Yates.
func shuffle[T any](r *rng, xs []T) {
	for i := len(xs) - 1; i > 0; i-- {
		j := r.intn(i + 1)
		xs[i], xs[j] = xs[j], xs[i]
	}
}

// Order returns the batches (window indices) of one epoch.
//
// Evaluation (cfg.Shuffle false): windows in their order, cut into consecutive batches.
//
// Training: the windows are shuffled, split into buckets of BucketBatches*BatchSize windows,
// each bucket is sorted by length (longest first, ties in shuffled order) and cut into batches,
// and the batches are shuffled. Windows of similar length share a batch, so little padding is
// needed, while batch composition and order still change every epoch. The order depends only on
// lengths, cfg and (Seed, epoch).
func Order(lengths []int, cfg Config, epoch int) [][]int {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil
	}
	idx := make([]int, len(lengths))
	for i := range idx {
		idx[i] = i
	}
	var batches [][]int
	cut := func(xs []int) {
		for lo := 0; lo < len(xs); lo += cfg.BatchSize {
			b := xs[lo:min(lo+cfg.BatchSize, len(xs))]
			if len(b) < cfg.BatchSize && cfg.DropLast {
				continue
			}
			batches = append(batches, b)
		}
	}
	if !cfg.Shuffle {
		cut(idx)
		return batches
	}
	r := newRNG(cfg.Seed, epoch)
	shuffle(r, idx)
	size := cfg.BucketBatches * cfg.BatchSize
	for lo := 0; lo < len(idx); lo += size {
		bucket := idx[lo:min(lo+size, len(idx))]
		slices.SortStableFunc(bucket, func(a, b int) int { return lengths[b] - lengths[a] })
		cut(bucket)
	}
	shuffle(r, batches)
	return batches
}
