package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spanqa/spanqa/eval"
)

// The commands of package eval.
func init() {
	register("eval", "run a model over a data set: predictions files and SQuAD metrics", runEval)
	register("score", "official SQuAD v1.1/v2.0 metrics of a predictions file", runScore)
}

// runEval is `spanqa eval` (eval.Evaluate): windows -> model -> post-processing -> metrics,
// writing predictions.json, nbest_predictions.json (null_odds.json for v2) and
// eval_results.json, and printing the metrics.
//
//	spanqa eval --model DIR --data FILE --output-dir DIR [--version-2-with-negative]
//	    [--max-seq-length 384] [--doc-stride 128] [--per-device-eval-batch-size 8] [--device cpu]
func runEval(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("eval", stderr)
	mf := addModelFlags(fs)
	c := eval.EvalConfig{Log: stderr}
	fs.StringVar(&c.Data, "data", "", "SQuAD .json, .jsonl or HF .parquet")
	fs.StringVar(&c.OutputDir, "output-dir", "", "where the prediction files and eval_results.json go")
	fs.BoolVar(&c.Options.Version2WithNegative, "version-2-with-negative", false, "SQuAD v2.0: allow null answers")
	fs.IntVar(&c.MaxSeqLength, "max-seq-length", 384, "window length")
	fs.IntVar(&c.DocStride, "doc-stride", 128, "context tokens shared by consecutive windows")
	fs.IntVar(&c.BatchSize, "per-device-eval-batch-size", 8, "windows per batch")
	fs.IntVar(&c.Options.NBestSize, "n-best-size", 20, "candidates per example")
	fs.IntVar(&c.Options.MaxAnswerLength, "max-answer-length", 30, "longest answer in tokens")
	fs.Float64Var(&c.Options.NullScoreDiffThreshold, "null-score-diff-threshold", 0, "v2: answer null when null score - best score exceeds this")
	fs.IntVar(&c.MaxSamples, "max-eval-samples", 0, "use only the first N examples")
	fs.BoolVar(&c.SkipInvalid, "skip-invalid", false, "drop invalid examples instead of stopping")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if mf.model == "" || c.Data == "" || c.OutputDir == "" {
		return errors.New("eval: --model, --data and --output-dir are required")
	}
	dev, err := mf.parseDevice()
	if err != nil {
		return err
	}
	c.Model, c.Tokenizer, c.Device = mf.model, mf.tokenizer, dev
	res, err := eval.Evaluate(ctx, c)
	if err != nil {
		return err
	}
	for _, mv := range res.Metrics {
		fmt.Fprintf(stdout, "%s = %s\n", mv.Key, mv.Value)
	}
	return nil
}

// runScore is `spanqa score` (eval.ScoreFiles): it scores a predictions file against a SQuAD
// JSON data set with the official rules and prints the official scripts' output.
//
//	spanqa score --data <squad.json> --predictions <predictions.json>
//	             [--na-prob <na_prob.json>] [--na-prob-thresh 1.0] [--version auto|1.1|2.0]
//
// Every error it returns starts with "score: "; flag parsing errors and -h usage also go to
// stderr, as the flag package writes them.
func runScore(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("score", stderr)
	var f eval.ScoreFiles
	fs.StringVar(&f.Data, "data", "", "SQuAD v1.1 or v2.0 JSON `file` (required)")
	fs.StringVar(&f.Predictions, "predictions", "", "predictions JSON `file`, question id -> answer text (required)")
	fs.StringVar(&f.NoAnswerProbs, "na-prob", "", "no-answer probabilities JSON `file`, question id -> probability (v2.0)")
	fs.Float64Var(&f.NoAnswerThreshold, "na-prob-thresh", 1.0, `predict "" when the no-answer probability exceeds this (v2.0)`)
	fs.StringVar(&f.Version, "version", "auto", "rules to apply: auto, 1.1 or 2.0")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: spanqa score --data <squad.json> --predictions <predictions.json> [--na-prob <file>] [--na-prob-thresh 1.0]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("score: %w", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("score: unexpected arguments %q", fs.Args())
	}
	if f.Data == "" || f.Predictions == "" {
		fs.Usage()
		return errors.New("score: --data and --predictions are required")
	}
	if err := f.Score(stdout, stderr); err != nil {
		return fmt.Errorf("score: %w", err)
	}
	return nil
}
