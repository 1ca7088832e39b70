package squad

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/parquet-go/parquet-go"
)

// NewParquetReader streams examples from a Hugging Face datasets parquet file (squad / squad_v2
// layout: id, title, context, question, answers{text[], answer_start[]}). Columns are found by
// name (opts.Columns), in any order, extra columns ignored; list elements are found by structure
// (3-level lists with "element" or "item", legacy 2-level lists, or a list of answer structs);
// answer_start may be int32 or int64. The file is read column by column, one page at a time per
// column, across all row groups. A corrupt file gives a *FormatError (never a panic).
func NewParquetReader(r io.ReaderAt, size int64, name string, opts Options) (rd *Reader, err error) {
	defer func() {
		if p := recover(); p != nil {
			rd, err = nil, &FormatError{Path: name, Offset: -1, Msg: "corrupt parquet file", Err: fmt.Errorf("%v", p)}
		}
	}()
	if err := checkParquetSizes(r, size); err != nil {
		return nil, &FormatError{Path: name, Offset: -1, Msg: "corrupt parquet file", Err: err}
	}
	f, err := parquet.OpenFile(r, size, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return nil, &FormatError{Path: name, Offset: -1, Msg: "corrupt parquet file", Err: err}
	}
	s, err := newParquetSource(f, name, opts.Columns.withDefaults())
	if err != nil {
		return nil, err
	}
	return newReader(name, s, opts), nil
}

type parquetSource struct {
	name                         string
	rows, index                  int64
	id, title, context, question *scalarColumn // title may be nil
	text, start                  *listColumn
	lastContext                  field
	err                          error
}

func newParquetSource(f *parquet.File, name string, cols Columns) (*parquetSource, error) {
	s := &parquetSource{name: name, rows: f.NumRows()}
	root := f.Root()
	bad := func(format string, args ...any) error {
		return &FormatError{Path: name, Offset: -1, Msg: fmt.Sprintf(format, args...)}
	}
	scalar := func(col string, required bool) (*scalarColumn, error) {
		c := root.Column(col)
		if c == nil {
			if !required {
				return nil, nil
			}
			return nil, bad("no column %q (columns: %s)", col, strings.Join(childNames(root), ", "))
		}
		if !c.Leaf() || c.MaxRepetitionLevel() != 0 || c.Type().Kind() != parquet.ByteArray {
			return nil, bad("column %q: expected a string column, found %s", col, describe(c))
		}
		return &scalarColumn{cursor: newCursor(name, col, c)}, nil
	}
	var err error
	if s.id, err = scalar(cols.ID, true); err != nil {
		return nil, err
	}
	if s.title, err = scalar(cols.Title, false); err != nil {
		return nil, err
	}
	if s.context, err = scalar(cols.Context, true); err != nil {
		return nil, err
	}
	if s.question, err = scalar(cols.Question, true); err != nil {
		return nil, err
	}
	ans := root.Column(cols.Answers)
	if ans == nil {
		return nil, bad("no column %q (columns: %s)", cols.Answers, strings.Join(childNames(root), ", "))
	}
	if s.text, err = findList(name, cols.Answers, ans, "text", parquet.ByteArray); err != nil {
		return nil, err
	}
	if s.start, err = findList(name, cols.Answers, ans, "answer_start", parquet.Int32, parquet.Int64); err != nil {
		return nil, err
	}
	return s, nil
}

func childNames(c *parquet.Column) []string {
	var names []string
	for _, ch := range c.Columns() {
		names = append(names, ch.Name())
	}
	return names
}

func describe(c *parquet.Column) string {
	switch {
	case !c.Leaf():
		return "a group"
	case c.MaxRepetitionLevel() > 0:
		return "a repeated " + c.Type().Kind().String()
	}
	return c.Type().Kind().String()
}

// findList locates the leaf under answers whose path goes through a node called name, and works
// out the definition levels that tell a null answers struct, a null list, an empty list and a null
// element apart.
func findList(file, ansName string, ans *parquet.Column, name string, kinds ...parquet.Kind) (*listColumn, error) {
	var found [][]*parquet.Column // paths from ans (exclusive) to a leaf
	var walk func(c *parquet.Column, path []*parquet.Column, under bool)
	walk = func(c *parquet.Column, path []*parquet.Column, under bool) {
		path = append(path[:len(path):len(path)], c)
		under = under || c.Name() == name
		if c.Leaf() {
			if under {
				found = append(found, path)
			}
			return
		}
		for _, ch := range c.Columns() {
			walk(ch, path, under)
		}
	}
	for _, ch := range ans.Columns() {
		walk(ch, nil, false)
	}
	full := ansName + "." + name
	bad := func(format string, args ...any) error {
		return &FormatError{Path: file, Offset: -1, Msg: fmt.Sprintf("column %q: ", full) + fmt.Sprintf(format, args...)}
	}
	if len(found) == 0 {
		return nil, bad("not found (%q has %s)", ansName, strings.Join(childNames(ans), ", "))
	}
	if len(found) > 1 {
		return nil, bad("ambiguous: %d leaf columns", len(found))
	}
	path := found[0]
	leaf := path[len(path)-1]
	if leaf.MaxRepetitionLevel() != 1 {
		return nil, bad("expected a list (one repetition level), found %d repetition levels", leaf.MaxRepetitionLevel())
	}
	ok := false
	for _, k := range kinds {
		ok = ok || leaf.Type().Kind() == k
	}
	if !ok {
		return nil, bad("unexpected element type %s", leaf.Type().Kind())
	}
	lc := &listColumn{cursor: newCursor(file, full, leaf), defAnswers: ans.MaxDefinitionLevel(), maxDef: leaf.MaxDefinitionLevel()}
	if ans.Repeated() {
		return nil, bad("%q must not be repeated itself", ansName)
	}
	parent := ans
	for _, c := range path {
		if c.Repeated() {
			lc.defList, lc.defRepeated = parent.MaxDefinitionLevel(), c.MaxDefinitionLevel()
			break
		}
		parent = c
	}
	return lc, nil
}

// cursor reads the values of one leaf column in order, page by page, across row groups.
type cursor struct {
	file, name string
	col        *parquet.Column
	pages      parquet.Pages
	values     parquet.ValueReader
	buf        []parquet.Value
	pos, n     int
	done       bool
}

func newCursor(file, name string, c *parquet.Column) *cursor {
	return &cursor{file: file, name: name, col: c, buf: make([]parquet.Value, 512)}
}

// peek returns the next value without consuming it; io.EOF at the end of the column.
func (c *cursor) peek() (*parquet.Value, error) {
	for c.pos == c.n {
		if c.done {
			return nil, io.EOF
		}
		if c.values == nil {
			if c.pages == nil {
				c.pages = c.col.Pages()
			}
			page, err := c.pages.ReadPage()
			if errors.Is(err, io.EOF) {
				c.done = true
				return nil, io.EOF
			}
			if err != nil {
				return nil, c.fail(err)
			}
			c.values = page.Values()
		}
		n, err := c.values.ReadValues(c.buf)
		c.pos, c.n = 0, n
		if errors.Is(err, io.EOF) {
			c.values = nil
		} else if err != nil {
			return nil, c.fail(err)
		}
	}
	return &c.buf[c.pos], nil
}

func (c *cursor) fail(err error) error {
	return &FormatError{Path: c.file, Offset: -1, Msg: fmt.Sprintf("corrupt parquet file: column %q", c.name), Err: err}
}

func (c *cursor) close() {
	if c.pages != nil {
		c.pages.Close()
	}
}

// scalarColumn is a top-level string column.
type scalarColumn struct{ *cursor }

// row reads one row's value; present is false for null.
func (s *scalarColumn) row() (v parquet.Value, present bool, err error) {
	p, err := s.peek()
	if err != nil {
		return v, false, err
	}
	v = *p
	s.pos++
	if v.RepetitionLevel() != 0 {
		return v, false, s.fail(errors.New("unexpected repetition level"))
	}
	return v, v.DefinitionLevel() == s.col.MaxDefinitionLevel() && !v.IsNull(), nil
}

// listColumn is one list leaf below answers.
type listColumn struct {
	*cursor
	defAnswers, defList, defRepeated, maxDef int
}

// listState says what a row's list holds.
type listState int

const (
	listOK listState = iota
	listNullAnswers
	listNull
	listNullElement
)

// row reads one row's list; visit is called for each element.
func (l *listColumn) row(visit func(parquet.Value)) (listState, error) {
	state := listOK
	for first := true; ; first = false {
		p, err := l.peek()
		if errors.Is(err, io.EOF) && !first {
			return state, nil
		}
		if err != nil {
			return state, err
		}
		if first != (p.RepetitionLevel() == 0) {
			if first {
				return state, l.fail(errors.New("row does not start at repetition level 0"))
			}
			return state, nil
		}
		v := *p
		l.pos++
		d := v.DefinitionLevel()
		switch {
		case d == l.maxDef && !v.IsNull():
			visit(v)
		case d < l.defAnswers:
			state = listNullAnswers
		case d < l.defList:
			state = max(state, listNull)
		case d < l.defRepeated:
			// an empty list
		default:
			state = listNullElement
		}
	}
}

func (s *parquetSource) cursors() []*cursor {
	cs := []*cursor{s.id.cursor, s.context.cursor, s.question.cursor, s.text.cursor, s.start.cursor}
	if s.title != nil {
		cs = append(cs, s.title.cursor)
	}
	return cs
}

func (s *parquetSource) close() error {
	for _, c := range s.cursors() {
		c.close()
	}
	return nil
}

func (s *parquetSource) release() {}

func (s *parquetSource) next() (ex *rawExample, err error) {
	if s.err != nil {
		return nil, s.err
	}
	defer func() {
		if p := recover(); p != nil {
			ex, err = nil, &FormatError{Path: s.name, Offset: -1, Msg: "corrupt parquet file", Err: fmt.Errorf("%v", p)}
		}
		if err != nil {
			s.err = err
		}
	}()
	if _, err := s.id.peek(); errors.Is(err, io.EOF) {
		if s.index != s.rows {
			return nil, &FormatError{Path: s.name, Offset: -1, Msg: fmt.Sprintf("corrupt parquet file: %d rows read, footer says %d", s.index, s.rows)}
		}
		for _, c := range s.cursors() {
			if _, err := c.peek(); !errors.Is(err, io.EOF) {
				return nil, c.fail(fmt.Errorf("column has more values than %d rows", s.rows))
			}
		}
		return nil, io.EOF
	}
	ex = &rawExample{index: int(s.index)}
	s.index++
	text := func(c *scalarColumn, dst *field) error {
		if c == nil {
			return nil
		}
		v, ok, err := c.row()
		if errors.Is(err, io.EOF) {
			return c.fail(fmt.Errorf("column ends at row %d, before the others", ex.index))
		}
		if err != nil || !ok {
			return err
		}
		*dst = textField(v.ByteArray())
		return nil
	}
	for _, c := range []struct {
		col *scalarColumn
		dst *field
	}{{s.id, &ex.id}, {s.title, &ex.title}, {s.question, &ex.question}} {
		if err := text(c.col, c.dst); err != nil {
			return nil, err
		}
	}
	// Consecutive questions share their context: keep one copy.
	v, ok, err := s.context.row()
	if errors.Is(err, io.EOF) {
		return nil, s.context.fail(fmt.Errorf("column ends at row %d, before the others", ex.index))
	}
	if err != nil {
		return nil, err
	}
	if ok {
		if b := v.ByteArray(); s.lastContext.present && string(b) == s.lastContext.s {
			ex.context = s.lastContext
		} else {
			ex.context = textField(b)
			s.lastContext = ex.context
		}
	}
	var texts []field
	ts, err := s.text.row(func(v parquet.Value) { texts = append(texts, textField(v.ByteArray())) })
	if err != nil {
		return nil, eofToShort(err, s.text.cursor, ex.index)
	}
	var starts []int64
	ss, err := s.start.row(func(v parquet.Value) {
		if v.Kind() == parquet.Int32 {
			starts = append(starts, int64(v.Int32()))
		} else {
			starts = append(starts, v.Int64())
		}
	})
	if err != nil {
		return nil, eofToShort(err, s.start.cursor, ex.index)
	}
	switch {
	case ts == listNullAnswers || ss == listNullAnswers:
		return ex, nil // hasAnswers false: "missing answers"
	case ts == listNull:
		ex.fail("missing answers.text")
	case ss == listNull:
		ex.fail("missing answers.answer_start")
	case ts == listNullElement:
		ex.fail("answers.text holds a null")
	case ss == listNullElement:
		ex.fail("answers.answer_start holds a null")
	case len(texts) != len(starts):
		ex.fail("answers: %d texts but %d answer_start values", len(texts), len(starts))
	}
	ex.hasAnswers = true
	if ex.problem == "" {
		ex.answers = make([]rawAnswer, len(texts))
		for i := range texts {
			ex.answers[i] = rawAnswer{text: texts[i], start: starts[i], hasStart: true}
		}
	}
	return ex, nil
}

func eofToShort(err error, c *cursor, row int) error {
	if errors.Is(err, io.EOF) {
		return c.fail(fmt.Errorf("column ends at row %d, before the others", row))
	}
	return err
}
