package features

import (
	"fmt"

	"github.com/spanqa/spanqa/data/tokenize"
)

// Mode selects which windows to make.
type Mode int

const (
	// ModeTrain makes run_qa.py's prepare_train_features windows: start/end positions, raw offsets.
	ModeTrain Mode = iota + 1
	// ModeEval makes prepare_validation_features windows: offsets outside the context nulled.
	ModeEval
)

// String returns "train" or "eval".
func (m Mode) String() string {
	switch m {
	case ModeTrain:
		return "train"
	case ModeEval:
		return "eval"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ParseMode parses "train" or "eval".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "train":
		return ModeTrain, nil
	case "eval":
		return ModeEval, nil
	}
	return 0, fmt.Errorf("features: mode %q: want train or eval", s)
}

// Options are run_qa.py's windowing arguments.
type Options struct {
	// MaxLength is --max_seq_length (default 384), the length of a window with special tokens.
	MaxLength int
	// Stride is --doc_stride (default 128): context tokens shared by consecutive windows.
	Stride int
	// ModelLimit is the model's own limit (e.g. max_position_embeddings less the offset of
	// RoBERTa-style positions; Longformer 4096); 0 means none. MaxLength is capped at the smaller of
	// it and the tokenizer's model_max_length, as run_qa.py does.
	ModelLimit int
	// SkipTooLong drops examples whose question leaves no room for the context (HF raises an
	// error); the Builder counts them. Otherwise they stop the build with an error.
	SkipTooLong bool
}

// DefaultOptions are run_qa.py's defaults.
var DefaultOptions = Options{MaxLength: 384, Stride: 128}

// Encoder is what windowing needs from a tokenizer; *tokenize.Tokenizer implements it.
type Encoder interface {
	// EncodePairs encodes (question, context) pairs into overflowing windows, each with its
	// pair's index in SampleIndex, as HF's tokenizer(..., return_overflowing_tokens=True) does.
	EncodePairs(pairs []tokenize.Pair, opt tokenize.PairOptions) ([]tokenize.Encoding, error)
	// CLSID is the id of [CLS] / <s>.
	CLSID() int64
	// ReturnsTypeIDs reports whether the model uses token_type_ids.
	ReturnsTypeIDs() bool
	// PaddingSide is "right" or "left".
	PaddingSide() string
	// ModelMaxLength is tokenizer_config.json's model_max_length (0 when unknown).
	ModelMaxLength() int
}

var _ Encoder = (*tokenize.Tokenizer)(nil)

// EffectiveMaxLength is min(requested, every positive limit), run_qa.py's
// min(max_seq_length, tokenizer.model_max_length) extended to the model's own limit. capped
// reports whether a limit applied.
func EffectiveMaxLength(requested int, limits ...int) (n int, capped bool) {
	n = requested
	for _, l := range limits {
		if l > 0 && l < n {
			n, capped = l, true
		}
	}
	return n, capped
}
