package serve

import (
	"errors"
	"flag"
	"io"
	"log"
	"time"

	"github.com/spanqa/spanqa/torch"
)

// modelFlags are the flags that load a model, shared by predict and serve.
type modelFlags struct {
	model, tokenizer, device string
	maxLen, stride, threads  int
	maxBatch, queue          int
	maxWait                  time.Duration
}

func (f *modelFlags) register(fs *flag.FlagSet, maxBatch int, maxWait time.Duration) {
	fs.StringVar(&f.model, "model", "", "model folder (config.json, weights, tokenizer files)")
	fs.StringVar(&f.tokenizer, "tokenizer", "", "tokenizer folder (default: --model)")
	fs.StringVar(&f.device, "device", "cpu", "cpu, cuda or cuda:N")
	fs.IntVar(&f.maxLen, "max-seq-length", 0, "window length in tokens (default: training_args.json's, else 384, 4096 for Longformer; capped by the model)")
	fs.IntVar(&f.stride, "doc-stride", 0, "context tokens shared by consecutive windows (default: training_args.json's, else 128)")
	fs.IntVar(&f.threads, "threads", 0, "libtorch threads for the model (default: libtorch's)")
	fs.IntVar(&f.maxBatch, "max-batch", maxBatch, "most windows per forward pass (1: no batching)")
	fs.DurationVar(&f.maxWait, "max-wait", maxWait, "how long a partial batch waits for more requests")
	fs.IntVar(&f.queue, "queue-size", defaultQueueSize, "pending jobs before callers block")
}

func (f *modelFlags) load(stderr io.Writer) (*Model, error) {
	if f.model == "" {
		return nil, errors.New("--model is required")
	}
	dev, err := torch.ParseDevice(f.device)
	if err != nil {
		return nil, err
	}
	return Load(f.model, Options{
		Tokenizer: f.tokenizer, Device: dev, MaxLength: f.maxLen, Stride: f.stride, Threads: f.threads,
		MaxBatch: f.maxBatch, MaxWait: f.maxWait, QueueSize: f.queue, Log: log.New(stderr, "", 0),
	})
}

// answerFlags are the post-processing flags, named as `spanqa eval` names them.
type answerFlags struct {
	topK, nBest, maxAnswer int
	v2                     bool
	nullThreshold          float64
}

func (f *answerFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&f.topK, "top-k", 1, "ranked candidates to return per question")
	fs.BoolVar(&f.v2, "version-2-with-negative", false, "SQuAD v2.0: allow null answers")
	fs.Float64Var(&f.nullThreshold, "null-score-diff-threshold", 0, "v2: answer null when null score - best score exceeds this")
	fs.IntVar(&f.maxAnswer, "max-answer-length", 30, "longest answer in tokens")
	fs.IntVar(&f.nBest, "n-best-size", 20, "candidates kept per question")
}

func (f *answerFlags) options() AnswerOptions {
	return AnswerOptions{TopK: f.topK, AllowNull: f.v2, NullThreshold: f.nullThreshold, MaxAnswerLength: f.maxAnswer, NBestSize: f.nBest}
}
