// Package batch groups windows into padded batches for the model: dynamic padding to the longest
// window of the batch (rounded up to a multiple of 8), length-bucketed seeded random order for
// training, fixed order for evaluation, and batches built ahead on background goroutines.
package batch

import (
	"errors"
	"fmt"

	"github.com/spanqa/spanqa/data/features"
)

// Batch is B windows padded to length L, row-major (row i is window Windows[i]).
type Batch struct {
	// IDs, Mask and TypeIDs are B x L; TypeIDs is nil when the model takes no token types.
	IDs, Mask, TypeIDs []int64
	// GlobalMask (B x L) is 1 on each window's question: its first token and every token
	// before the next special one (<s> and the question, the tokens HF's
	// LongformerForQuestionAnswering gives global attention). It comes from the windows'
	// sequence ids, so a literal "</s>" in a context does not move it; it is nil when the
	// windows carry no sequence ids (windows read from JSON Lines files).
	GlobalMask []int64
	B, L       int
	// StartPos and EndPos are the training targets (nil for evaluation windows).
	StartPos, EndPos []int64
	// Windows are the indices of the batch's windows in the loader's window slice.
	Windows []int
	// Pos is where the batch sits in the data order.
	Pos Position
}

// Position is a place in the data order: batch Batch (0-based) of epoch Epoch. A run resumed
// after batch p continues with Loader.Epoch(ctx, p.Epoch, p.Batch+1).
type Position struct {
	Epoch, Batch int
}

// Config controls batching.
type Config struct {
	// BatchSize is the number of windows per batch (required).
	BatchSize int
	// PadID is the tokenizer's pad token id (BERT/DeBERTa 0, RoBERTa/Longformer 1).
	PadID int64
	// PadMultiple rounds L up to a multiple of it (default 8; 1 disables rounding).
	PadMultiple int
	// MaxLength, when positive, stops rounding from going past it (L never drops below the
	// longest window).
	MaxLength int
	// Shuffle selects the training order (length buckets, seeded); otherwise windows keep their
	// order (evaluation).
	Shuffle bool
	// Seed fixes the training order; each epoch derives its own stream from (Seed, epoch).
	Seed uint64
	// BucketBatches is how many batches' worth of windows form one length bucket (default 50,
	// like HF's mega-batches of LengthGroupedSampler).
	BucketBatches int
	// DropLast drops a final batch smaller than BatchSize.
	DropLast bool
	// Prefetch is how many batches may be built ahead of the consumer (default 4).
	Prefetch int
	// Workers is the number of goroutines building batches (default 2).
	Workers int
}

func (c Config) withDefaults() (Config, error) {
	if c.BatchSize <= 0 {
		return c, fmt.Errorf("batch: batch size must be positive, got %d", c.BatchSize)
	}
	if c.PadMultiple <= 0 {
		c.PadMultiple = 8
	}
	if c.BucketBatches <= 0 {
		c.BucketBatches = 50
	}
	if c.Prefetch <= 0 {
		c.Prefetch = 4
	}
	if c.Workers <= 0 {
		c.Workers = 2
	}
	return c, nil
}

// PaddedLength is the L of a batch whose longest window has n tokens.
func (c Config) PaddedLength(n int) int {
	m := c.PadMultiple
	if m <= 0 {
		m = 8
	}
	l := (n + m - 1) / m * m
	if c.MaxLength > 0 && l > c.MaxLength {
		l = max(n, c.MaxLength)
	}
	return l
}

// Collate pads the windows idx of ws into one batch. All windows must agree on having token
// types, sequence ids and training targets.
func Collate(ws []features.Window, idx []int, cfg Config) (*Batch, error) {
	if len(idx) == 0 {
		return nil, errors.New("batch: empty batch")
	}
	for _, i := range idx {
		if i < 0 || i >= len(ws) {
			return nil, fmt.Errorf("batch: window index %d out of range [0,%d)", i, len(ws))
		}
	}
	longest := 0
	first := &ws[idx[0]]
	hasTypes, hasSeq, hasPos := first.TypeIDs != nil, first.SequenceIDs != nil, first.StartPos >= 0
	for _, i := range idx {
		w := &ws[i]
		n := len(w.IDs)
		if n == 0 || len(w.Mask) != n || (w.TypeIDs != nil && len(w.TypeIDs) != n) || (w.SequenceIDs != nil && len(w.SequenceIDs) != n) {
			return nil, fmt.Errorf("batch: window %d (example %s): %d ids, %d mask values, %d token types, %d sequence ids", i, w.ExampleID, n, len(w.Mask), len(w.TypeIDs), len(w.SequenceIDs))
		}
		if (w.TypeIDs != nil) != hasTypes || (w.SequenceIDs != nil) != hasSeq || (w.StartPos >= 0) != hasPos {
			return nil, fmt.Errorf("batch: window %d (example %s) differs from window %d in token types, sequence ids or targets", i, w.ExampleID, idx[0])
		}
		if hasPos && (w.StartPos >= n || w.EndPos < 0 || w.EndPos >= n) {
			return nil, fmt.Errorf("batch: window %d (example %s): targets %d..%d outside %d tokens", i, w.ExampleID, w.StartPos, w.EndPos, n)
		}
		longest = max(longest, n)
	}
	B, L := len(idx), cfg.PaddedLength(longest)
	b := &Batch{B: B, L: L, IDs: make([]int64, B*L), Mask: make([]int64, B*L), Windows: append([]int(nil), idx...)}
	if hasTypes {
		b.TypeIDs = make([]int64, B*L)
	}
	if hasSeq {
		b.GlobalMask = make([]int64, B*L)
	}
	if hasPos {
		b.StartPos, b.EndPos = make([]int64, B), make([]int64, B)
	}
	for r, i := range idx {
		w := &ws[i]
		row := b.IDs[r*L : (r+1)*L]
		copy(row, w.IDs)
		for k := len(w.IDs); k < L; k++ {
			row[k] = cfg.PadID
		}
		copy(b.Mask[r*L:], w.Mask)
		if hasTypes {
			copy(b.TypeIDs[r*L:], w.TypeIDs)
		}
		if hasSeq {
			markQuestion(b.GlobalMask[r*L:(r+1)*L], w.SequenceIDs)
		}
		if hasPos {
			b.StartPos[r], b.EndPos[r] = int64(w.StartPos), int64(w.EndPos)
		}
	}
	return b, nil
}

// markQuestion sets global[k] to 1 for the tokens of a window's question: the first token (<s>
// or [CLS]) and every token before the next special one (sequence id -1). That is HF's rule
// for LongformerForQuestionAnswering, "every token before the first separator", read from the
// sequence ids instead of searching the ids for the separator, which a context may contain.
func markQuestion(global []int64, seqIDs []int) {
	for k, s := range seqIDs {
		if k > 0 && s < 0 {
			return
		}
		global[k] = 1
	}
}
