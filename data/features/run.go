package features

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spanqa/spanqa/data/squad"
	"github.com/spanqa/spanqa/data/tokenize"
)

// Command runs `spanqa features`: it reads a data set, cuts it into windows with the model's
// tokenizer and writes them as JSON Lines (see Writer) to --output or stdout. A summary goes to
// stderr. args are the arguments after "features".
//
//	spanqa features --model DIR --data FILE [--mode train|eval] [--max-seq-length 384]
//	    [--doc-stride 128] [--output FILE] [--skip-invalid] [--tokenizer DIR]
//	    [--question-column NAME] [--context-column NAME] [--answer-column NAME] [--id-column NAME]
func Command(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("features", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		model, tokDir, data, output, mode string
		maxLen, stride                    int
		skipInvalid, skipTooLong          bool
		cols                              squad.Columns
	)
	fs.StringVar(&model, "model", "", "model directory (config.json; tokenizer files unless --tokenizer)")
	fs.StringVar(&tokDir, "tokenizer", "", "tokenizer directory (default: --model)")
	fs.StringVar(&data, "data", "", "data file: SQuAD .json, .jsonl or HF .parquet")
	fs.StringVar(&mode, "mode", "eval", "train (start/end positions) or eval (offsets nulled outside the context)")
	fs.IntVar(&maxLen, "max-seq-length", DefaultOptions.MaxLength, "window length with special tokens")
	fs.IntVar(&stride, "doc-stride", DefaultOptions.Stride, "context tokens shared by consecutive windows")
	fs.StringVar(&output, "output", "-", "output file (- for stdout)")
	fs.BoolVar(&skipInvalid, "skip-invalid", false, "drop invalid examples (and report them) instead of stopping")
	fs.BoolVar(&skipTooLong, "skip-too-long", false, "drop examples whose question leaves no room for the context")
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
	m, err := ParseMode(mode)
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
	limit := 0
	if model != "" {
		if limit, err = ModelLimit(model); err != nil {
			return err
		}
	}
	opts := Options{MaxLength: maxLen, Stride: stride, ModelLimit: limit, SkipTooLong: skipTooLong}
	out := stdout
	if output != "-" {
		f, err := os.Create(output)
		if err != nil {
			return fmt.Errorf("features: %w", err)
		}
		defer f.Close()
		out = f
	}
	start := time.Now()
	sum, err := Run(data, squad.Options{SkipInvalid: skipInvalid, Columns: cols}, tok, m, opts, out)
	if err != nil {
		return err
	}
	if output != "-" {
		if f, ok := out.(*os.File); ok {
			if err := f.Close(); err != nil {
				return fmt.Errorf("features: %w", err)
			}
		}
	}
	if sum.MaxLength != maxLen {
		fmt.Fprintf(stderr, "features: max_seq_length %d is larger than the model allows; using %d\n", maxLen, sum.MaxLength)
	}
	fmt.Fprintf(stderr, "features: %s; %d too long skipped; %d %s windows (max_length %d, stride %d) in %s\n",
		sum.Report, len(sum.TooLong), sum.Windows, m, sum.MaxLength, stride, time.Since(start).Round(time.Millisecond))
	for _, p := range sum.Report.Problems {
		fmt.Fprintf(stderr, "  skipped: %v\n", p)
	}
	return nil
}

// Summary describes a Run.
type Summary struct {
	Report    squad.Report
	TooLong   []string // ids dropped by Options.SkipTooLong
	Windows   int
	MaxLength int // the effective max length
}

// Run streams the examples of data through a Builder and writes the windows as JSON Lines to
// w, a chunk of examples at a time (memory stays bounded by the chunk).
func Run(data string, ropts squad.Options, tok Encoder, mode Mode, opts Options, w io.Writer) (Summary, error) {
	b, err := NewBuilder(tok, mode, opts)
	if err != nil {
		return Summary{}, err
	}
	sum := Summary{MaxLength: b.MaxLength()}
	r, err := squad.Open(data, ropts)
	if err != nil {
		return sum, err
	}
	defer r.Close()
	jw := NewWriter(w, mode)
	batch := make([]squad.Example, 0, chunk)
	first := 0
	flush := func() error {
		ws, err := b.Windows(batch, first)
		if err != nil {
			return err
		}
		for i := range ws {
			if err := jw.Write(&ws[i]); err != nil {
				return err
			}
		}
		sum.Windows += len(ws)
		first += len(batch)
		batch = batch[:0]
		return nil
	}
	for {
		ex, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return sum, err
		}
		if batch = append(batch, ex); len(batch) == chunk {
			if err := flush(); err != nil {
				return sum, err
			}
		}
	}
	if err := flush(); err != nil {
		return sum, err
	}
	sum.Report, sum.TooLong = r.Report(), b.Skipped()
	return sum, jw.Flush()
}
