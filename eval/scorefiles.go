package eval

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
)

// ScoreCommand runs `spanqa score`: it scores a predictions file against a SQuAD JSON data set
// with the official rules and prints the official scripts' output.
//
//	spanqa score --data <squad.json> --predictions <predictions.json>
//	             [--na-prob <na_prob.json>] [--na-prob-thresh 1.0] [--version auto|1.1|2.0]
//
// With --version auto (the default) the v2.0 rules apply when the data set has unanswerable
// questions, or when --na-prob is given; otherwise the v1.1 rules apply.
//
// Output, as the official scripts write it:
//   - v1.1: "Evaluation expects v-1.1, but got dataset with v-<version>" on stderr when the data
//     set's version is not "1.1"; one "Unanswered question <id> will receive score 0." line on
//     stderr per question without a prediction; then {"exact_match": .., "f1": ..} on one line
//     on stdout.
//   - v2.0: one "Missing prediction for <id>" line on stdout per question without a prediction
//     (the official script then fails, and so does this command: *MissingPredictionsError);
//     otherwise the result as JSON with indent 2 on stdout.
//
// args excludes the command name. Errors are returned, never printed (but flag parsing errors and
// -h usage go to stderr, as the flag package writes them).
func ScoreCommand(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("score", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "", "SQuAD v1.1 or v2.0 JSON `file` (required)")
	predFile := fs.String("predictions", "", "predictions JSON `file`, question id -> answer text (required)")
	naProbFile := fs.String("na-prob", "", "no-answer probabilities JSON `file`, question id -> probability (v2.0)")
	thresh := fs.Float64("na-prob-thresh", 1.0, `predict "" when the no-answer probability exceeds this (v2.0)`)
	version := fs.String("version", "auto", "rules to apply: auto, 1.1 or 2.0")
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
	if *data == "" || *predFile == "" {
		fs.Usage()
		return errors.New("score: --data and --predictions are required")
	}
	if *version != "auto" && *version != "1.1" && *version != "2.0" {
		return fmt.Errorf("score: --version %q: want auto, 1.1 or 2.0", *version)
	}
	d, err := ReadDataset(*data)
	if err != nil {
		return fmt.Errorf("score: %w", err)
	}
	preds, err := ReadPredictions(*predFile)
	if err != nil {
		return fmt.Errorf("score: %w", err)
	}
	var naProbs NoAnswerProbs
	if *naProbFile != "" {
		if naProbs, err = ReadNoAnswerProbs(*naProbFile); err != nil {
			return fmt.Errorf("score: %w", err)
		}
		if naProbs == nil {
			naProbs = NoAnswerProbs{}
		}
	}
	v2 := *version == "2.0" || *version == "auto" && (d.HasUnanswerable() || *naProbFile != "")
	if !v2 {
		if *naProbFile != "" {
			return errors.New("score: --na-prob needs the v2.0 rules")
		}
		return scoreV1Command(d, preds, stdout, stderr)
	}
	res, err := ScoreV2(d, preds, naProbs, *thresh)
	var missing *MissingPredictionsError
	if errors.As(err, &missing) {
		w := bufio.NewWriter(stdout)
		for _, id := range missing.IDs {
			fmt.Fprintf(w, "Missing prediction for %s\n", id)
		}
		if ferr := w.Flush(); ferr != nil {
			return fmt.Errorf("score: %w", ferr)
		}
	}
	if err != nil {
		return fmt.Errorf("score: %w", err)
	}
	if _, err := fmt.Fprintln(stdout, res.PyJSON(2)); err != nil {
		return fmt.Errorf("score: %w", err)
	}
	return nil
}

func scoreV1Command(d *Dataset, preds Predictions, stdout, stderr io.Writer) error {
	w := bufio.NewWriter(stderr)
	if d.Version != "1.1" {
		fmt.Fprintf(w, "Evaluation expects v-1.1, but got dataset with v-%s\n", d.Version)
	}
	res, err := ScoreV1(d, preds)
	if res != nil {
		for _, id := range res.Unanswered {
			fmt.Fprintf(w, "Unanswered question %s will receive score 0.\n", id)
		}
	}
	if ferr := w.Flush(); ferr != nil && err == nil {
		err = ferr
	}
	if err != nil {
		return fmt.Errorf("score: %w", err)
	}
	if _, err := fmt.Fprintln(stdout, res.PyJSON(-1)); err != nil {
		return fmt.Errorf("score: %w", err)
	}
	return nil
}
