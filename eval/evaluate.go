package eval

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"

	"github.com/spanqa/spanqa/data/features"
	"github.com/spanqa/spanqa/data/squad"
	"github.com/spanqa/spanqa/data/tokenize"
	"github.com/spanqa/spanqa/models"
	"github.com/spanqa/spanqa/torch"
)

// EvalCommand is `spanqa eval`: windows -> model -> post-processing -> metrics, writing
// predictions.json, nbest_predictions.json (null_odds.json for v2) and eval_results.json.
//
//	spanqa eval --model DIR --data FILE --output-dir DIR [--version-2-with-negative]
//	    [--max-seq-length 384] [--doc-stride 128] [--per-device-eval-batch-size 8] [--device cpu]
func EvalCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	fs.SetOutput(stderr)
	modelDir := fs.String("model", "", "model folder (config.json, weights, tokenizer files)")
	tokDir := fs.String("tokenizer", "", "tokenizer folder (default: --model)")
	data := fs.String("data", "", "SQuAD .json, .jsonl or HF .parquet")
	outDir := fs.String("output-dir", "", "where the prediction files and eval_results.json go")
	v2 := fs.Bool("version-2-with-negative", false, "SQuAD v2.0: allow null answers")
	maxLen := fs.Int("max-seq-length", 384, "window length")
	stride := fs.Int("doc-stride", 128, "context tokens shared by consecutive windows")
	bs := fs.Int("per-device-eval-batch-size", 8, "windows per batch")
	nBest := fs.Int("n-best-size", 20, "candidates per example")
	maxAns := fs.Int("max-answer-length", 30, "longest answer in tokens")
	nullThresh := fs.Float64("null-score-diff-threshold", 0, "v2: answer null when null score - best score exceeds this")
	maxSamples := fs.Int("max-eval-samples", 0, "use only the first N examples")
	skipInvalid := fs.Bool("skip-invalid", false, "drop invalid examples instead of stopping")
	device := fs.String("device", "cpu", "cpu, cuda or cuda:N")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *modelDir == "" || *data == "" || *outDir == "" {
		return errors.New("eval: --model, --data and --output-dir are required")
	}
	dev, err := torch.ParseDevice(*device)
	if err != nil {
		return err
	}
	if *tokDir == "" {
		*tokDir = *modelDir
	}
	tok, err := tokenize.Load(*tokDir)
	if err != nil {
		return fmt.Errorf("eval: tokenizer: %w", err)
	}
	examples, rep, err := squad.Read(*data, squad.Options{SkipInvalid: *skipInvalid})
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	if rep.Skipped > 0 {
		fmt.Fprintf(stderr, "eval: skipped %d invalid examples\n", rep.Skipped)
	}
	if *maxSamples > 0 && len(examples) > *maxSamples {
		examples = examples[:*maxSamples]
	}
	m, err := models.Load(*modelDir, models.LoadOptions{Device: dev, Log: log.New(stderr, "", 0)})
	if err != nil {
		return err
	}
	defer m.Params().Free()
	if n := int64(tok.VocabSize()); n > m.Config().VocabSize {
		return fmt.Errorf("eval: the tokenizer in %s has %d tokens but the model's vocab_size is %d: they do not belong together", *tokDir, n, m.Config().VocabSize)
	}
	windows, err := features.Eval(examples, tok, features.Options{MaxLength: *maxLen, Stride: *stride, ModelLimit: int(m.Config().MaxLength())})
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	res, err := Run(ctx, &ModelPredictor{Model: m, PadID: tok.PadID()}, examples, windows, RunConfig{
		OutputDir: *outDir, BatchSize: *bs, Progress: stderr,
		Options: Options{Version2WithNegative: *v2, NBestSize: *nBest, MaxAnswerLength: *maxAns, NullScoreDiffThreshold: *nullThresh},
	})
	if err != nil {
		return err
	}
	for _, mv := range res.Metrics {
		fmt.Fprintf(stdout, "%s = %s\n", mv.Key, mv.Value)
	}
	return nil
}
