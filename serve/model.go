package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/spanqa/spanqa/data/features"
	"github.com/spanqa/spanqa/data/squad"
	"github.com/spanqa/spanqa/data/tokenize"
	"github.com/spanqa/spanqa/eval"
	"github.com/spanqa/spanqa/models"
)

// Model is a loaded QA model ready to answer questions. It is safe for concurrent use by many
// goroutines; Close frees it.
type Model struct {
	model  models.QAModel
	tok    *tokenize.Tokenizer
	fopts  features.Options
	info   Info
	worker *worker

	mu       sync.RWMutex
	closed   bool
	inflight sync.WaitGroup
	calls    atomic.Int64
	once     sync.Once
}

// Info describes a loaded model.
type Info struct {
	// ModelType is config.json's model_type.
	ModelType string `json:"model_type"`
	// MaxLength and Stride are the window length and stride in tokens actually used.
	MaxLength int `json:"max_length"`
	Stride    int `json:"stride"`
	// Parameters is the number of model parameters.
	Parameters int64 `json:"parameters"`
	// Device is where the model runs.
	Device string `json:"device"`
	// MaxBatch and MaxWait are the batching settings (MaxWait as a Go duration string).
	MaxBatch int    `json:"max_batch"`
	MaxWait  string `json:"max_wait"`
}

// Load reads a model folder (config.json, weights and, unless Options.Tokenizer names another
// folder, the tokenizer files) and starts its worker.
func Load(dir string, o Options) (*Model, error) {
	if o.MaxBatch <= 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.MaxWait < 0 {
		return nil, fmt.Errorf("serve: negative max wait %s", o.MaxWait)
	}
	logger := o.Log
	if logger == nil {
		logger = log.New(io.Discard, "", 0)
	}
	tokDir := o.Tokenizer
	if tokDir == "" {
		tokDir = dir
	}
	tok, err := tokenize.Load(tokDir)
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	args, err := readTrainingArgs(dir)
	if err != nil {
		return nil, err
	}
	m, err := models.Load(dir, models.LoadOptions{Device: o.Device, Log: logger})
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	model, err := newModel(m, tok, o, args)
	if err != nil {
		m.Params().Free()
		return nil, err
	}
	return model, nil
}

// newModel checks that model and tokenizer belong together, resolves windowing and starts the
// worker.
func newModel(m models.QAModel, tok *tokenize.Tokenizer, o Options, args trainingArgs) (*Model, error) {
	cfg := m.Config()
	if n := int64(tok.VocabSize()); n > cfg.VocabSize {
		return nil, fmt.Errorf("serve: the tokenizer has %d tokens but the model's vocab_size is %d: they do not belong together", n, cfg.VocabSize)
	}
	// The same limit `spanqa eval` and training use, so that windows match theirs.
	limit := int(cfg.MaxLength())
	maxLen, stride := windowing(o, args, cfg.ModelType, limit, tok.ModelMaxLength())
	fopts := features.Options{MaxLength: maxLen, Stride: stride, ModelLimit: limit}
	b, err := features.NewBuilder(tok, features.ModeEval, fopts)
	if err != nil {
		return nil, fmt.Errorf("serve: windows: %w", err)
	}
	padID := tok.PadID()
	if padID < 0 {
		padID = cfg.PadTokenID
	}
	w := newWorker(m, padID, o)
	go w.run()
	return &Model{
		model: m, tok: tok, fopts: fopts, worker: w,
		info: Info{
			ModelType: cfg.ModelType, MaxLength: b.MaxLength(), Stride: stride,
			Parameters: m.Params().Count(), Device: m.Params().Device().String(),
			MaxBatch: o.MaxBatch, MaxWait: o.MaxWait.String(),
		},
	}, nil
}

// Info describes the model and how it answers.
func (m *Model) Info() Info { return m.info }

// Observe registers fn to be called after every forward pass (from the worker goroutine, so fn
// must return quickly); the returned function unregisters it.
func (m *Model) Observe(fn func(BatchInfo)) (remove func()) { return m.worker.observe(fn) }

// QueueLength is the number of jobs waiting for the worker.
func (m *Model) QueueLength() int { return len(m.worker.queue) }

// Answer answers one question about one context.
func (m *Model) Answer(ctx context.Context, question, context string, o AnswerOptions) (Result, error) {
	rs, err := m.AnswerBatch(ctx, []Pair{{Question: question, Context: context}}, o)
	if err != nil {
		return Result{}, err
	}
	return rs[0], nil
}

// AnswerBatch answers many pairs at once, results in pair order. The windows of all pairs go
// through the model in batches; an invalid pair fails the whole call with an error that names
// it (errors.Is ErrInvalidInput).
func (m *Model) AnswerBatch(ctx context.Context, pairs []Pair, o AnswerOptions) ([]Result, error) {
	o, err := o.check()
	if err != nil {
		return nil, err
	}
	if len(pairs) == 0 {
		return nil, inputError("no pairs")
	}
	examples := make([]squad.Example, len(pairs))
	for i, p := range pairs {
		if err := CheckPair(p); err != nil {
			return nil, pairError(len(pairs), i, err)
		}
		examples[i] = squad.Example{ID: strconv.Itoa(i), Question: p.Question, Context: p.Context}
	}
	if err := m.enter(); err != nil {
		return nil, err
	}
	defer m.exit()

	windows, err := m.windows(examples)
	if err != nil {
		return nil, err
	}
	start, end, err := m.logits(ctx, windows)
	if err != nil {
		return nil, err
	}
	preds, err := eval.PostProcess(examples, windows, start, end, eval.Options{
		Version2WithNegative: o.AllowNull, NBestSize: o.NBestSize,
		MaxAnswerLength: o.MaxAnswerLength, NullScoreDiffThreshold: o.NullThreshold,
	})
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	perPair := make([]int, len(pairs))
	for i := range windows {
		perPair[windows[i].ExampleIndex]++
	}
	out := make([]Result, len(preds))
	for i := range preds {
		out[i] = resultOf(&preds[i], o.TopK, perPair[i])
	}
	return out, nil
}

// enter registers an in-flight call, or fails after Close.
func (m *Model) enter() error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return ErrClosed
	}
	m.inflight.Add(1)
	m.calls.Add(1)
	return nil
}

// exit ends an in-flight call.
func (m *Model) exit() {
	m.calls.Add(-1)
	m.inflight.Done()
}

// InFlight is the number of Answer and AnswerBatch calls in progress past their input checks.
func (m *Model) InFlight() int { return int(m.calls.Load()) }

// windows cuts the examples into evaluation windows, exactly as `spanqa eval` does.
func (m *Model) windows(examples []squad.Example) ([]features.Window, error) {
	b, err := features.NewBuilder(m.tok, features.ModeEval, m.fopts)
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	ws, err := b.Windows(examples, 0)
	if err != nil {
		if errors.Is(err, tokenize.ErrQuestionTooLong) {
			return nil, inputError("the question is too long for windows of %d tokens with stride %d (%v)", b.MaxLength(), m.fopts.Stride, err)
		}
		return nil, fmt.Errorf("serve: %w", err)
	}
	return ws, nil
}

// logits hands the windows to the worker in jobs of at most MaxBatch windows and gathers their
// logits. When ctx ends first, the worker skips the jobs it has not started.
func (m *Model) logits(ctx context.Context, ws []features.Window) (start, end [][]float32, err error) {
	size := m.worker.maxBatch
	jobs := make([]*job, 0, (len(ws)+size-1)/size)
	for lo := 0; lo < len(ws); lo += size {
		j := &job{ctx: ctx, windows: ws[lo:min(lo+size, len(ws))], reply: make(chan jobResult, 1)}
		select {
		case m.worker.queue <- j:
			jobs = append(jobs, j)
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("serve: %w", ctx.Err())
		}
	}
	start, end = make([][]float32, 0, len(ws)), make([][]float32, 0, len(ws))
	for _, j := range jobs {
		select {
		case r := <-j.reply:
			if r.err != nil {
				return nil, nil, r.err
			}
			start, end = append(start, r.start...), append(end, r.end...)
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("serve: %w", ctx.Err())
		}
	}
	return start, end, nil
}

// Close stops accepting calls, lets the calls in flight finish, stops the worker and frees the
// model's parameters. It is safe to call more than once.
func (m *Model) Close() error {
	m.once.Do(func() {
		m.mu.Lock()
		m.closed = true
		m.mu.Unlock()
		m.inflight.Wait()
		close(m.worker.stop)
		<-m.worker.done
		m.model.Params().Free()
	})
	return nil
}
