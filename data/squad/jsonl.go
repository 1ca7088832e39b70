package squad

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
)

// NewJSONLReader streams examples from JSON Lines: one flat record per line, fields named by
// opts.Columns (HF layout: id, title, context, question, answers{text[], answer_start[]}).
// Blank lines are ignored. A line that is not valid JSON stops loading with its line number and
// byte offset.
func NewJSONLReader(r io.Reader, name string, opts Options) *Reader {
	s := &jsonlSource{name: name, cols: opts.Columns.withDefaults(), in: bufio.NewReaderSize(r, 1<<16)}
	return newReader(name, s, opts)
}

type jsonlSource struct {
	name  string
	cols  Columns
	in    *bufio.Reader
	off   int64 // byte offset of the next line
	line  int   // number of lines read
	index int
	err   error
}

func (s *jsonlSource) next() (*rawExample, error) {
	for s.err == nil {
		b, err := s.in.ReadBytes('\n')
		start := s.off
		s.off += int64(len(b))
		if len(b) > 0 {
			s.line++
		}
		if err != nil && !errors.Is(err, io.EOF) {
			s.err = &FormatError{Path: s.name, Offset: start, Line: s.line, Msg: "read error", Err: err}
			break
		}
		if err != nil && len(b) == 0 {
			s.err = io.EOF
			break
		}
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		if !json.Valid(b) {
			var v json.RawMessage
			jerr := json.Unmarshal(b, &v)
			off := start
			var se *json.SyntaxError
			if errors.As(jerr, &se) {
				off += syntaxOffset(se, len(b))
			}
			s.err = &FormatError{Path: s.name, Offset: off, Line: s.line, Msg: "malformed JSON", Err: jerr}
			break
		}
		ex := decodeFlat(b, s.cols, s.index)
		s.index++
		return ex, nil
	}
	return nil, s.err
}

func (s *jsonlSource) close() error { return nil }

func (s *jsonlSource) release() {}
