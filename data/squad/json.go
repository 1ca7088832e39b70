package squad

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
)

// NewJSONReader streams examples from SQuAD v1.1/v2.0 JSON ({"data": [article...]}, each article
// {"title", "paragraphs": [{"context", "qas": [{"id", "question", "answers", "is_impossible"}]}]}).
// Elements of "data" without "paragraphs", and a top-level array, are read as flat records (HF's
// JSON layout, names from opts.Columns). Only one article is held in memory at a time. name is
// used in errors. When r is an io.ReadSeeker positioned at its start, syntax errors carry the exact
// byte offset; otherwise the offset of the value being read.
func NewJSONReader(r io.Reader, name string, opts Options) *Reader {
	s := &jsonSource{in: r, name: name, cols: opts.Columns.withDefaults()}
	s.dec = json.NewDecoder(bufio.NewReaderSize(r, 1<<16))
	s.pull, s.stop = iter.Pull2(s.walk)
	return newReader(name, s, opts)
}

type jsonSource struct {
	in    io.Reader
	name  string
	cols  Columns
	dec   *json.Decoder
	index int
	pull  func() (*rawExample, error, bool)
	stop  func()
}

func (s *jsonSource) next() (*rawExample, error) {
	ex, err, ok := s.pull()
	if !ok {
		return nil, io.EOF
	}
	return ex, err
}

func (s *jsonSource) close() error { s.stop(); return nil }

// release ends the walk, whose goroutine would otherwise wait for Close.
func (s *jsonSource) release() { s.stop() }

// formatErr builds a FormatError at offset off (or, for syntax errors, the exact offset).
func (s *jsonSource) formatErr(off int64, msg string, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		if exact, serr, ok := exactSyntaxError(s.in); ok {
			return &FormatError{Path: s.name, Offset: exact, Msg: "malformed JSON", Err: serr}
		}
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return &FormatError{Path: s.name, Offset: off, Msg: "malformed JSON", Err: err}
	}
	return &FormatError{Path: s.name, Offset: off, Msg: msg, Err: err}
}

// exactSyntaxError rescans a seekable input from the start to find the byte offset of its first
// syntax error (only on the error path, so reading the whole file is acceptable).
func exactSyntaxError(in io.Reader) (int64, error, bool) {
	rs, ok := in.(io.ReadSeeker)
	if !ok {
		return 0, nil, false
	}
	if _, err := rs.Seek(0, io.SeekStart); err != nil {
		return 0, nil, false
	}
	data, err := io.ReadAll(rs)
	if err != nil {
		return 0, nil, false
	}
	var v json.RawMessage
	var se *json.SyntaxError
	if err := json.Unmarshal(data, &v); errors.As(err, &se) {
		return syntaxOffset(se, len(data)), errors.New(se.Error()), true
	}
	return 0, nil, false
}

// syntaxOffset turns encoding/json's SyntaxError.Offset ("after reading Offset bytes") into the
// 0-based offset of the offending byte (the length of the data for a premature end).
func syntaxOffset(se *json.SyntaxError, n int) int64 {
	if se.Offset > 0 && se.Offset <= int64(n) && se.Error() != "unexpected end of JSON input" {
		return se.Offset - 1
	}
	return se.Offset
}

// walk pushes every example of the file to yield.
func (s *jsonSource) walk(yield func(*rawExample, error) bool) {
	if err := s.walkTop(yield); err != nil && err != errStop {
		yield(nil, err)
	}
}

// errStop ends a walk early because the consumer stopped.
var errStop = errors.New("stop")

func (s *jsonSource) walkTop(yield func(*rawExample, error) bool) error {
	off := s.dec.InputOffset()
	tok, err := s.dec.Token()
	if err != nil {
		return s.formatErr(off, "", err)
	}
	switch tok {
	case json.Delim('['):
		if err := s.walkData(yield); err != nil {
			return err
		}
	case json.Delim('{'):
		sawData := false
		for s.dec.More() {
			off = s.dec.InputOffset()
			key, err := s.dec.Token()
			if err != nil {
				return s.formatErr(off, "", err)
			}
			if key == "data" {
				sawData = true
				off = s.dec.InputOffset()
				tok, err := s.dec.Token()
				if err != nil {
					return s.formatErr(off, "", err)
				}
				if tok != json.Delim('[') {
					return s.formatErr(off, fmt.Sprintf(`"data": expected an array, got %v`, tok), nil)
				}
				if err := s.walkData(yield); err != nil {
					return err
				}
				continue
			}
			var skip json.RawMessage
			if err := s.dec.Decode(&skip); err != nil {
				return s.formatErr(s.dec.InputOffset(), "", err)
			}
		}
		off = s.dec.InputOffset()
		if _, err := s.dec.Token(); err != nil { // the closing brace
			return s.formatErr(off, "", err)
		}
		if !sawData {
			return s.formatErr(0, `no "data" array at the top level`, nil)
		}
	default:
		return s.formatErr(off, fmt.Sprintf("expected a JSON object or array at the top level, got %v", tok), nil)
	}
	if _, err := s.dec.Token(); err != io.EOF {
		return s.formatErr(s.dec.InputOffset(), "unexpected data after the top-level value", err)
	}
	return nil
}

// walkData reads the elements of a "data" array and its closing bracket.
func (s *jsonSource) walkData(yield func(*rawExample, error) bool) error {
	for n := 0; s.dec.More(); n++ {
		off := s.dec.InputOffset()
		var raw json.RawMessage
		if err := s.dec.Decode(&raw); err != nil {
			return s.formatErr(off, "", err)
		}
		if jsonKind(raw) != "an object" {
			return s.formatErr(off, fmt.Sprintf("data[%d]: expected an object, got %s", n, jsonKind(raw)), nil)
		}
		var art articleJSON
		if err := json.Unmarshal(raw, &art); err == nil && art.Paragraphs != nil {
			if err := s.walkArticle(n, off, &art, yield); err != nil {
				return err
			}
			continue
		}
		var probe map[string]json.RawMessage
		if err := json.Unmarshal(raw, &probe); err != nil {
			return s.formatErr(off, fmt.Sprintf("data[%d]", n), err)
		}
		if paras, ok := probe["paragraphs"]; ok {
			return s.articleError(n, off, probe["title"], paras)
		}
		ex := decodeFlat(raw, s.cols, s.index)
		s.index++
		if !yield(ex, nil) {
			return errStop
		}
	}
	off := s.dec.InputOffset()
	if _, err := s.dec.Token(); err != nil { // the closing bracket
		return s.formatErr(off, "", err)
	}
	return nil
}

// articleJSON is one SQuAD article, decoded in one pass.
type articleJSON struct {
	Title      jsonText         `json:"title"`
	Paragraphs *[]paragraphJSON `json:"paragraphs"`
}

// paragraphJSON is one SQuAD paragraph.
type paragraphJSON struct {
	Context jsonText  `json:"context"`
	QAs     *[]qaItem `json:"qas"`
}

// qaItem decodes one question; it never fails the article, it records the problem for the
// example instead, so that a broken question names itself.
type qaItem struct {
	q       qaJSON
	problem string
}

// UnmarshalJSON implements json.Unmarshaler; it never fails.
func (it *qaItem) UnmarshalJSON(b []byte) error {
	*it = qaItem{}
	if k := jsonKind(b); k != "an object" {
		it.problem = "question entry: expected an object, got " + k
		return nil
	}
	if err := json.Unmarshal(b, &it.q); err != nil {
		it.problem = err.Error()
	}
	return nil
}

// qaJSON is one SQuAD question.
type qaJSON struct {
	ID           jsonText    `json:"id"`
	Question     jsonText    `json:"question"`
	Answers      jsonAnswers `json:"answers"`
	IsImpossible *bool       `json:"is_impossible"`
}

func articleName(n int, title field) string {
	if title.present && !title.badUTF8 {
		return fmt.Sprintf("data[%d] (%q)", n, title.s)
	}
	return fmt.Sprintf("data[%d]", n)
}

// walkArticle yields the questions of a decoded article.
func (s *jsonSource) walkArticle(n int, off int64, art *articleJSON, yield func(*rawExample, error) bool) error {
	title := art.Title.field
	for j, p := range *art.Paragraphs {
		if p.QAs == nil {
			return s.formatErr(off, fmt.Sprintf("%s: paragraph %d: missing qas", articleName(n, title), j), nil)
		}
		for _, it := range *p.QAs {
			ex := &rawExample{index: s.index, title: title, context: p.Context.field, hasAnswers: true}
			s.index++
			q := &it.q
			ex.id, ex.question = q.ID.field, q.Question.field
			ex.hasAnswers, ex.answers = q.Answers.present, q.Answers.list
			switch {
			case it.problem != "":
				ex.fail("%s", it.problem)
			case title.typ != "":
				ex.fail("title: expected a string, got %s", title.typ)
			case q.Answers.problem != "":
				ex.fail("%s", q.Answers.problem)
			case q.IsImpossible != nil && *q.IsImpossible && len(q.Answers.list) > 0:
				ex.fail("is_impossible is true but there are %d answers", len(q.Answers.list))
			}
			if !yield(ex, nil) {
				return errStop
			}
		}
	}
	return nil
}

// articleError explains why an article did not decode: its paragraphs or questions do not have
// SQuAD's shape.
func (s *jsonSource) articleError(n int, off int64, titleRaw, parasRaw json.RawMessage) error {
	title := field{}
	if titleRaw != nil {
		title = decodeText(titleRaw)
	}
	where := articleName(n, title)
	var paras []json.RawMessage
	if err := json.Unmarshal(parasRaw, &paras); err != nil || paras == nil {
		return s.formatErr(off, where+": paragraphs: expected an array, got "+jsonKind(parasRaw), nil)
	}
	for j, praw := range paras {
		if k := jsonKind(praw); k != "an object" {
			return s.formatErr(off, fmt.Sprintf("%s: paragraph %d: expected an object, got %s", where, j, k), nil)
		}
		var p struct {
			QAs json.RawMessage `json:"qas"`
		}
		if err := json.Unmarshal(praw, &p); err != nil {
			return s.formatErr(off, fmt.Sprintf("%s: paragraph %d", where, j), err)
		}
		if p.QAs == nil || string(p.QAs) == "null" {
			return s.formatErr(off, fmt.Sprintf("%s: paragraph %d: missing qas", where, j), nil)
		}
		if k := jsonKind(p.QAs); k != "an array" {
			return s.formatErr(off, fmt.Sprintf("%s: paragraph %d: qas: expected an array, got %s", where, j, k), nil)
		}
	}
	return s.formatErr(off, where+": not a SQuAD article", nil)
}
