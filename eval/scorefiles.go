package eval

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// ScoreFiles names the files ScoreFiles reads and the rules it applies. The field comments
// name the `spanqa score` flags that set them.
type ScoreFiles struct {
	Data        string // SQuAD v1.1 or v2.0 JSON (--data)
	Predictions string // question id -> answer text JSON (--predictions)
	// NoAnswerProbs is a question id -> no-answer probability JSON (v2.0; --na-prob); empty
	// for none.
	NoAnswerProbs string
	// NoAnswerThreshold: predict "" when the no-answer probability exceeds it (v2.0;
	// --na-prob-thresh, 1.0 in the official script).
	NoAnswerThreshold float64
	// Version is the rules to apply: "auto" (or empty), "1.1" or "2.0" (--version). With auto
	// the v2.0 rules apply when the data set has unanswerable questions, or when
	// NoAnswerProbs is given; otherwise the v1.1 rules apply.
	Version string
}

// Score scores a predictions file against a SQuAD JSON data set with the official rules and
// writes what the official scripts print:
//   - v1.1: "Evaluation expects v-1.1, but got dataset with v-<version>" on stderr when the data
//     set's version is not "1.1"; one "Unanswered question <id> will receive score 0." line on
//     stderr per question without a prediction; then {"exact_match": .., "f1": ..} on one line
//     on stdout.
//   - v2.0: one "Missing prediction for <id>" line on stdout per question without a prediction
//     (the official script then fails, and so does Score: *MissingPredictionsError);
//     otherwise the result as JSON with indent 2 on stdout.
//
// Errors are returned, never printed.
func (f ScoreFiles) Score(stdout, stderr io.Writer) error {
	if f.Version != "" && f.Version != "auto" && f.Version != "1.1" && f.Version != "2.0" {
		return fmt.Errorf("--version %q: want auto, 1.1 or 2.0", f.Version)
	}
	d, err := ReadDataset(f.Data)
	if err != nil {
		return err
	}
	preds, err := ReadPredictions(f.Predictions)
	if err != nil {
		return err
	}
	var naProbs NoAnswerProbs
	if f.NoAnswerProbs != "" {
		if naProbs, err = ReadNoAnswerProbs(f.NoAnswerProbs); err != nil {
			return err
		}
		if naProbs == nil {
			naProbs = NoAnswerProbs{}
		}
	}
	auto := f.Version == "" || f.Version == "auto"
	v2 := f.Version == "2.0" || auto && (d.HasUnanswerable() || f.NoAnswerProbs != "")
	if !v2 {
		if f.NoAnswerProbs != "" {
			return errors.New("--na-prob needs the v2.0 rules")
		}
		return scoreV1(d, preds, stdout, stderr)
	}
	res, err := ScoreV2(d, preds, naProbs, f.NoAnswerThreshold)
	var missing *MissingPredictionsError
	if errors.As(err, &missing) {
		w := bufio.NewWriter(stdout)
		for _, id := range missing.IDs {
			fmt.Fprintf(w, "Missing prediction for %s\n", id)
		}
		if ferr := w.Flush(); ferr != nil {
			return ferr
		}
	}
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, res.PyJSON(2))
	return err
}

// scoreV1 is ScoreFiles.Score under the v1.1 rules.
func scoreV1(d *Dataset, preds Predictions, stdout, stderr io.Writer) error {
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
		return err
	}
	_, err = fmt.Fprintln(stdout, res.PyJSON(-1))
	return err
}
