package serve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"unicode/utf8"
)

// PredictCommand is `spanqa predict`: answer one question (--question with --context or
// --context-file), or every line of a JSON Lines file (--input, "-" for stdin; objects with
// "question", "context" and an optional "id"), writing one JSON object per answer to stdout.
// Lines that cannot be answered get {"line": N, "error": "..."} and make the command fail at
// the end, after every other line is answered.
func PredictCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("predict", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var mf modelFlags
	var af answerFlags
	mf.register(fs, defaultMaxBatch, 0)
	af.register(fs)
	question := fs.String("question", "", "the question")
	contextText := fs.String("context", "", "the text to find the answer in")
	contextFile := fs.String("context-file", "", "read the context from this file")
	input := fs.String("input", "", `JSON Lines of {"id", "question", "context"} ("-": stdin)`)
	chunk := fs.Int("batch-size", 32, "--input lines answered together")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	single := *question != "" || *contextText != "" || *contextFile != ""
	switch {
	case single == (*input != ""):
		return errors.New("give --question with --context or --context-file, or --input")
	case *contextText != "" && *contextFile != "":
		return errors.New("give --context or --context-file, not both")
	case *chunk <= 0:
		return errors.New("--batch-size must be positive")
	}
	if _, err := af.options().check(); err != nil {
		return err
	}
	if *contextFile != "" {
		data, err := os.ReadFile(*contextFile)
		if err != nil {
			return err
		}
		*contextText = string(data)
	}
	m, err := mf.load(stderr)
	if err != nil {
		return err
	}
	defer m.Close()
	if single {
		r, err := m.Answer(ctx, *question, *contextText, af.options())
		if err != nil {
			return err
		}
		return writeLine(stdout, resultJSON{Result: r})
	}
	in := io.Reader(os.Stdin)
	if *input != "-" {
		f, err := os.Open(*input)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	return predictLines(ctx, m, in, stdout, af.options(), *chunk)
}

// inputLine is one line of --input, parsed.
type inputLine struct {
	n    int // 1-based line number
	id   json.RawMessage
	pair Pair
	// result or err is the outcome.
	result Result
	err    error
}

// predictLines answers a JSON Lines stream, chunk lines at a time, in order.
func predictLines(ctx context.Context, m *Model, in io.Reader, out io.Writer, o AnswerOptions, chunk int) error {
	r := bufio.NewReaderSize(in, 1<<20)
	w := bufio.NewWriter(out)
	total, failed, n := 0, 0, 0
	for eof := false; !eof; {
		var lines []inputLine
		for len(lines) < chunk {
			data, err := r.ReadBytes('\n')
			if errors.Is(err, io.EOF) {
				eof = true
			} else if err != nil {
				return fmt.Errorf("reading input: %w", err)
			}
			n++
			if len(bytes.TrimSpace(data)) > 0 {
				lines = append(lines, parseLine(n, data))
			}
			if eof {
				break
			}
		}
		answerLines(ctx, m, lines, o)
		for _, l := range lines {
			total++
			var err error
			if l.err != nil {
				failed++
				err = writeLine(w, lineError{ID: l.id, Line: l.n, Error: l.err.Error()})
			} else {
				err = writeLine(w, resultJSON{ID: l.id, Result: l.result})
			}
			if err != nil {
				return err
			}
		}
		if err := w.Flush(); err != nil {
			return fmt.Errorf("writing the output: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d lines could not be answered", failed, total)
	}
	return nil
}

// lineError is the output for an --input line that could not be answered.
type lineError struct {
	ID    json.RawMessage `json:"id,omitempty"`
	Line  int             `json:"line"`
	Error string          `json:"error"`
}

// noLimits are the limits of --input lines: the command line answers whatever it is given.
var noLimits = Limits{MaxQuestionBytes: math.MaxInt, MaxContextBytes: math.MaxInt}

// parseLine decodes one --input line. Unknown fields are allowed, so that SQuAD-style lines
// with "answers" or "title" can be fed as they are.
func parseLine(n int, data []byte) inputLine {
	l := inputLine{n: n}
	if !utf8.Valid(data) {
		l.err = inputError("the line is not valid UTF-8")
		return l
	}
	var p pairJSON
	if err := json.Unmarshal(data, &p); err != nil {
		l.err = inputError("%s", describeJSONError(err))
		return l
	}
	l.id = p.ID
	l.pair, l.err = p.check(noLimits)
	return l
}

// answerLines answers the valid lines together; when that fails on one line's input (a
// question too long for the window, say), it answers them one by one so that only that line
// fails.
func answerLines(ctx context.Context, m *Model, lines []inputLine, o AnswerOptions) {
	var idx []int
	var pairs []Pair
	for i := range lines {
		if lines[i].err == nil {
			idx, pairs = append(idx, i), append(pairs, lines[i].pair)
		}
	}
	if len(pairs) == 0 {
		return
	}
	rs, err := m.AnswerBatch(ctx, pairs, o)
	if err == nil {
		for k, i := range idx {
			lines[i].result = rs[k]
		}
		return
	}
	for _, i := range idx {
		if errors.Is(err, ErrInvalidInput) {
			lines[i].result, lines[i].err = m.Answer(ctx, lines[i].pair.Question, lines[i].pair.Context, o)
		} else {
			lines[i].err = err
		}
	}
}

// writeLine writes v as one line of JSON.
func writeLine(w io.Writer, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding the output: %w", err)
	}
	if _, err := w.Write(append(data, '\n')); err != nil {
		return fmt.Errorf("writing the output: %w", err)
	}
	return nil
}
