package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spanqa/spanqa/data/features"
	"github.com/spanqa/spanqa/data/squad"
	"github.com/spanqa/spanqa/data/tokenize"
)

func init() {
	register("features", "cut a data set into model windows (JSON Lines, HF field names)", runFeatures)
}

// runFeatures is `spanqa features` (features.Run): it reads a data set, cuts it into windows
// with the model's tokenizer and writes them as JSON Lines to --output or stdout. A summary
// goes to stderr.
//
//	spanqa features --model DIR --data FILE [--mode train|eval] [--max-seq-length 384]
//	    [--doc-stride 128] [--output FILE] [--skip-invalid] [--tokenizer DIR]
//	    [--question-column NAME] [--context-column NAME] [--answer-column NAME] [--id-column NAME]
func runFeatures(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("features", stderr)
	var (
		model, tokDir, data, output, mode string
		opts                              features.Options
		ropts                             squad.Options
	)
	fs.StringVar(&model, "model", "", "model directory (config.json; tokenizer files unless --tokenizer)")
	fs.StringVar(&tokDir, "tokenizer", "", "tokenizer directory (default: --model)")
	fs.StringVar(&data, "data", "", "data file: SQuAD .json, .jsonl or HF .parquet")
	fs.StringVar(&mode, "mode", "eval", "train (start/end positions) or eval (offsets nulled outside the context)")
	fs.IntVar(&opts.MaxLength, "max-seq-length", features.DefaultOptions.MaxLength, "window length with special tokens")
	fs.IntVar(&opts.Stride, "doc-stride", features.DefaultOptions.Stride, "context tokens shared by consecutive windows")
	fs.StringVar(&output, "output", "-", "output file (- for stdout)")
	fs.BoolVar(&ropts.SkipInvalid, "skip-invalid", false, "drop invalid examples (and report them) instead of stopping")
	fs.BoolVar(&opts.SkipTooLong, "skip-too-long", false, "drop examples whose question leaves no room for the context")
	cols := &ropts.Columns
	for _, c := range []struct {
		p          *string
		name, help string
	}{
		{&cols.Question, "question-column", "question column of flat data (default question)"},
		{&cols.Context, "context-column", "context column of flat data (default context)"},
		{&cols.Answers, "answer-column", "answers column of flat data (default answers)"},
		{&cols.ID, "id-column", "id column of flat data (default id)"},
		{&cols.Title, "title-column", "title column of flat data (default title)"},
	} {
		fs.StringVar(c.p, c.name, "", c.help)
		fs.StringVar(c.p, c.name+"-name", "", "alias of --"+c.name+" (run_qa.py's name)")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("features: unexpected argument %q", fs.Arg(0))
	}
	if model == "" && tokDir == "" || data == "" {
		fs.Usage()
		return errors.New("features: --model and --data are required")
	}
	m, err := features.ParseMode(mode)
	if err != nil {
		return err
	}
	if tokDir == "" {
		tokDir = model
	}
	tok, err := tokenize.Load(tokDir)
	if err != nil {
		return fmt.Errorf("features: %w", err)
	}
	if model != "" {
		if opts.ModelLimit, err = features.ModelLimit(model); err != nil {
			return err
		}
	}
	start := time.Now()
	var sum features.Summary
	if output == "-" {
		sum, err = features.Run(data, ropts, tok, m, opts, stdout)
	} else {
		sum, err = features.WriteFile(output, data, ropts, tok, m, opts)
	}
	if err != nil {
		return err
	}
	if sum.MaxLength != opts.MaxLength {
		fmt.Fprintf(stderr, "features: max_seq_length %d is larger than the model allows; using %d\n", opts.MaxLength, sum.MaxLength)
	}
	fmt.Fprintf(stderr, "features: %s; %d too long skipped; %d %s windows (max_length %d, stride %d) in %s\n",
		sum.Report, len(sum.TooLong), sum.Windows, m, sum.MaxLength, opts.Stride, time.Since(start).Round(time.Millisecond))
	for _, p := range sum.Report.Problems {
		fmt.Fprintf(stderr, "  skipped: %v\n", p)
	}
	return nil
}
