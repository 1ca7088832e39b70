package serve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"unicode/utf8"
)

// Validate reports whether o is within the limits Answer accepts, so that a caller can refuse
// bad options before it loads a model.
func (o AnswerOptions) Validate() error {
	_, err := o.check()
	return err
}

// WriteResult writes r as one line of JSON, as AnswerLines writes each answer.
func WriteResult(w io.Writer, r Result) error {
	return writeLine(w, resultJSON{Result: r})
}

// inputLine is one line of AnswerLines' input, parsed.
type inputLine struct {
	n    int // 1-based line number
	id   json.RawMessage
	pair Pair
	// result or err is the outcome.
	result Result
	err    error
}

// AnswerLines answers a JSON Lines stream (objects with "question", "context" and an optional
// "id"; other fields are ignored), chunk lines at a time, in order, writing one JSON object per
// line to out: the answer with the id echoed, or {"line": N, "error": "..."} for a line that
// cannot be answered. Such lines make it fail at the end, after every other line is answered.
// Lines have no size limits.
func (m *Model) AnswerLines(ctx context.Context, in io.Reader, out io.Writer, o AnswerOptions, chunk int) error {
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

// lineError is the output for a line that could not be answered.
type lineError struct {
	ID    json.RawMessage `json:"id,omitempty"`
	Line  int             `json:"line"`
	Error string          `json:"error"`
}

// noLimits are the limits of AnswerLines: it answers whatever it is given.
var noLimits = Limits{MaxQuestionBytes: math.MaxInt, MaxContextBytes: math.MaxInt}

// parseLine decodes one line. Unknown fields are allowed, so that SQuAD-style lines
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
