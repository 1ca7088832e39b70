package serve

import (
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/spanqa/spanqa/torch"
)

// Options configure Load.
type Options struct {
	// Tokenizer is the tokenizer folder; empty means the model folder.
	Tokenizer string
	// Device holds the parameters and runs the forward passes (default CPU).
	Device torch.Device
	// MaxLength is the window length in tokens (run_qa.py's max_seq_length). 0 takes
	// training_args.json's max_seq_length when the folder has one (a checkpoint does), else 384,
	// or 4096 for Longformer; the model's own limit caps it in every case.
	MaxLength int
	// Stride is the number of context tokens consecutive windows share (doc_stride). 0 takes
	// training_args.json's doc_stride, else 128, lowered to a third of the window when the
	// window is short.
	Stride int
	// MaxBatch is the most windows one forward pass takes (default 16). 1 turns batching off:
	// every window runs alone.
	MaxBatch int
	// MaxWait is how long the worker, holding fewer than MaxBatch windows, waits for more
	// before it runs the batch. 0 never waits: batches then hold only what queued up while the
	// previous batch ran, which already batches well under load.
	MaxWait time.Duration
	// QueueSize is how many pending jobs (up to MaxBatch windows each) may wait for the worker
	// before callers block (default 1024).
	QueueSize int
	// Threads sets libtorch's intra-op threads on the worker; 0 keeps libtorch's default.
	Threads int
	// Log receives loading notes (default: discarded).
	Log *log.Logger
}

// AnswerOptions tune one Answer or AnswerBatch call (HF's post-processing parameters).
type AnswerOptions struct {
	// TopK is the number of ranked candidates in Result.TopK (default 1).
	TopK int
	// AllowNull enables SQuAD v2.0 null answers (run_qa.py --version_2_with_negative): the
	// answer is empty when the null score beats the best span by more than NullThreshold.
	AllowNull bool
	// NullThreshold is null_score_diff_threshold (default 0).
	NullThreshold float64
	// MaxAnswerLength is the longest answer in tokens (default 30).
	MaxAnswerLength int
	// NBestSize is n_best_size, the candidates kept per example (default 20, at least TopK).
	NBestSize int
}

// Limits on AnswerOptions, so that a request cannot ask for unbounded work.
const (
	maxTopK            = 100
	maxNBest           = 1000
	maxAnswerLengthCap = 4096
)

func (o AnswerOptions) check() (AnswerOptions, error) {
	switch {
	case o.TopK < 0 || o.TopK > maxTopK:
		return o, inputError("top_k %d is outside [1, %d]", o.TopK, maxTopK)
	case o.NBestSize < 0 || o.NBestSize > maxNBest:
		return o, inputError("n_best_size %d is outside [1, %d]", o.NBestSize, maxNBest)
	case o.MaxAnswerLength < 0 || o.MaxAnswerLength > maxAnswerLengthCap:
		return o, inputError("max_answer_length %d is outside [1, %d]", o.MaxAnswerLength, maxAnswerLengthCap)
	case o.NullThreshold != o.NullThreshold:
		return o, inputError("null_threshold is NaN")
	}
	if o.TopK == 0 {
		o.TopK = 1
	}
	if o.NBestSize == 0 {
		o.NBestSize = 20
	}
	o.NBestSize = max(o.NBestSize, o.TopK)
	if o.MaxAnswerLength == 0 {
		o.MaxAnswerLength = 30
	}
	return o, nil
}

// Defaults when neither Options nor training_args.json say otherwise (run_qa.py's).
const (
	defaultMaxLength           = 384
	defaultLongformerMaxLength = 4096
	defaultStride              = 128
)

// Defaults of Options.MaxBatch and Options.QueueSize, exported for the command line's flags.
const (
	DefaultMaxBatch  = 16
	DefaultQueueSize = 1024
)

// trainingArgs is the part of a checkpoint's training_args.json that windowing needs.
type trainingArgs struct {
	MaxSeqLength int `json:"max_seq_length"`
	DocStride    int `json:"doc_stride"`
}

// readTrainingArgs reads dir/training_args.json; a missing file gives zero values.
func readTrainingArgs(dir string) (trainingArgs, error) {
	var a trainingArgs
	data, err := os.ReadFile(filepath.Join(dir, "training_args.json"))
	if errors.Is(err, os.ErrNotExist) {
		return a, nil
	}
	if err != nil {
		return a, fmt.Errorf("serve: %w", err)
	}
	if err := json.Unmarshal(data, &a); err != nil {
		return a, fmt.Errorf("serve: %s: %w", filepath.Join(dir, "training_args.json"), err)
	}
	return a, nil
}

// windowing resolves the requested window length and stride. The model's and the tokenizer's
// limits are applied later by features.NewBuilder; modelLimit is used here only so that the
// default stride fits the window actually used.
func windowing(o Options, args trainingArgs, modelType string, modelLimit, tokLimit int) (maxLen, stride int) {
	maxLen = o.MaxLength
	if maxLen == 0 {
		maxLen = args.MaxSeqLength
	}
	if maxLen == 0 {
		maxLen = defaultMaxLength
		if modelType == "longformer" {
			maxLen = defaultLongformerMaxLength
		}
	}
	effective := maxLen
	for _, l := range []int{modelLimit, tokLimit} {
		if l > 0 && l < effective {
			effective = l
		}
	}
	stride = o.Stride
	if stride == 0 {
		stride = args.DocStride
		if stride == 0 || stride >= effective {
			stride = min(defaultStride, effective/3)
		}
	}
	return maxLen, stride
}
