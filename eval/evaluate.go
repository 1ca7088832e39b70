package eval

import (
	"context"
	"fmt"
	"io"
	"log"

	"github.com/spanqa/spanqa/data/features"
	"github.com/spanqa/spanqa/data/squad"
	"github.com/spanqa/spanqa/data/tokenize"
	"github.com/spanqa/spanqa/models"
	"github.com/spanqa/spanqa/torch"
)

// EvalConfig says which model Evaluate runs over which data set, and how. The field comments
// name the `spanqa eval` flags that set them.
type EvalConfig struct {
	Model     string // model folder: config.json, weights, tokenizer files (--model)
	Tokenizer string // tokenizer folder; empty means Model (--tokenizer)
	Data      string // SQuAD .json, .jsonl or HF .parquet (--data)
	OutputDir string // where the prediction files and eval_results.json go (--output-dir)
	Device    torch.Device

	MaxSeqLength int  // window length (--max-seq-length)
	DocStride    int  // context tokens shared by consecutive windows (--doc-stride)
	BatchSize    int  // windows per batch (--per-device-eval-batch-size)
	MaxSamples   int  // use only the first N examples; 0: all (--max-eval-samples)
	SkipInvalid  bool // drop invalid examples instead of stopping (--skip-invalid)

	// Options are the post-processing options (n-best size, null answers, ...).
	Options Options
	// Log receives progress and notes (skipped examples, loading); nil discards them.
	Log io.Writer
}

// Evaluate is a whole evaluation from folders and files: it loads the tokenizer, the data set
// and the model, cuts the examples into windows and runs Run, which writes predictions.json,
// nbest_predictions.json (null_odds.json for v2) and eval_results.json to c.OutputDir.
func Evaluate(ctx context.Context, c EvalConfig) (*RunResult, error) {
	logw := c.Log
	if logw == nil {
		logw = io.Discard
	}
	tokDir := c.Tokenizer
	if tokDir == "" {
		tokDir = c.Model
	}
	tok, err := tokenize.Load(tokDir)
	if err != nil {
		return nil, fmt.Errorf("eval: tokenizer: %w", err)
	}
	examples, rep, err := squad.Read(c.Data, squad.Options{SkipInvalid: c.SkipInvalid})
	if err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	if rep.Skipped > 0 {
		fmt.Fprintf(logw, "eval: skipped %d invalid examples\n", rep.Skipped)
	}
	if c.MaxSamples > 0 && len(examples) > c.MaxSamples {
		examples = examples[:c.MaxSamples]
	}
	m, err := models.Load(c.Model, models.LoadOptions{Device: c.Device, Log: log.New(logw, "", 0)})
	if err != nil {
		return nil, err
	}
	defer m.Params().Free()
	if n := int64(tok.VocabSize()); n > m.Config().VocabSize {
		return nil, fmt.Errorf("eval: the tokenizer in %s has %d tokens but the model's vocab_size is %d: they do not belong together", tokDir, n, m.Config().VocabSize)
	}
	windows, err := features.Eval(examples, tok, features.Options{MaxLength: c.MaxSeqLength, Stride: c.DocStride, ModelLimit: int(m.Config().MaxLength())})
	if err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	return Run(ctx, &ModelPredictor{Model: m, PadID: tok.PadID()}, examples, windows, RunConfig{
		OutputDir: c.OutputDir, BatchSize: c.BatchSize, Progress: logw, Options: c.Options,
	})
}
