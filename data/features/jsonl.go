package features

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Writer writes windows as JSON Lines with HF's feature names: input_ids, token_type_ids (when
// the model uses them), attention_mask, offset_mapping (character offsets; null outside the
// context in evaluation windows), example_id, and start_positions / end_positions for training
// windows.
type Writer struct {
	w    *bufio.Writer
	buf  []byte
	mode Mode
}

// NewWriter writes windows of the given mode to w; call Flush at the end.
func NewWriter(w io.Writer, mode Mode) *Writer {
	return &Writer{w: bufio.NewWriterSize(w, 1<<16), mode: mode}
}

// Write writes one window as one line.
func (w *Writer) Write(win *Window) error {
	b := w.buf[:0]
	b = append(b, `{"input_ids":`...)
	b = appendInts(b, win.IDs)
	if win.TypeIDs != nil {
		b = append(b, `,"token_type_ids":`...)
		b = appendInts(b, win.TypeIDs)
	}
	b = append(b, `,"attention_mask":`...)
	b = appendInts(b, win.Mask)
	b = append(b, `,"offset_mapping":[`...)
	for i, o := range win.Offsets {
		if i > 0 {
			b = append(b, ',')
		}
		if o == NoOffset {
			b = append(b, "null"...)
			continue
		}
		b = append(b, '[')
		b = strconv.AppendInt(b, int64(o[0]), 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(o[1]), 10)
		b = append(b, ']')
	}
	b = append(b, `],"example_id":`...)
	id, err := json.Marshal(win.ExampleID)
	if err != nil {
		return fmt.Errorf("features: window of %s: %w", win.ExampleID, err)
	}
	b = append(b, id...)
	if w.mode == ModeTrain {
		b = append(b, `,"start_positions":`...)
		b = strconv.AppendInt(b, int64(win.StartPos), 10)
		b = append(b, `,"end_positions":`...)
		b = strconv.AppendInt(b, int64(win.EndPos), 10)
	}
	b = append(b, "}\n"...)
	w.buf = b
	if _, err := w.w.Write(b); err != nil {
		return fmt.Errorf("features: writing windows: %w", err)
	}
	return nil
}

// Flush writes out buffered lines.
func (w *Writer) Flush() error {
	if err := w.w.Flush(); err != nil {
		return fmt.Errorf("features: writing windows: %w", err)
	}
	return nil
}

func appendInts(b []byte, xs []int64) []byte {
	b = append(b, '[')
	for i, x := range xs {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, x, 10)
	}
	return append(b, ']')
}

// WriteJSONL writes windows as JSON Lines (see Writer).
func WriteJSONL(w io.Writer, windows []Window, mode Mode) error {
	jw := NewWriter(w, mode)
	for i := range windows {
		if err := jw.Write(&windows[i]); err != nil {
			return err
		}
	}
	return jw.Flush()
}

// windowJSON is one line of a windows file.
type windowJSON struct {
	InputIDs       []int64   `json:"input_ids"`
	TokenTypeIDs   []int64   `json:"token_type_ids"`
	AttentionMask  []int64   `json:"attention_mask"`
	OffsetMapping  []*[2]int `json:"offset_mapping"`
	ExampleID      *string   `json:"example_id"`
	StartPositions *int      `json:"start_positions"`
	EndPositions   *int      `json:"end_positions"`
}

// Reader reads windows written by Writer (or by HF's datasets .to_json of run_qa.py features).
// ExampleIndex counts distinct consecutive example ids from 0; SequenceIDs and ByteOffsets are
// not stored in the files and stay nil; StartPos/EndPos are -1 when absent.
type Reader struct {
	in     *bufio.Reader
	name   string
	line   int
	lastID string
	index  int
	err    error
}

// NewReader reads windows from r; name is used in errors.
func NewReader(r io.Reader, name string) *Reader {
	return &Reader{in: bufio.NewReaderSize(r, 1<<16), name: name, index: -1}
}

// Next returns the next window, or io.EOF at the end.
func (r *Reader) Next() (Window, error) {
	for r.err == nil {
		b, err := r.in.ReadBytes('\n')
		if len(b) > 0 {
			r.line++
		}
		if err != nil && !errors.Is(err, io.EOF) {
			r.err = fmt.Errorf("features: %s: line %d: %w", r.name, r.line, err)
			break
		}
		if len(bytes.TrimSpace(b)) == 0 {
			if err != nil {
				r.err = io.EOF
			}
			continue
		}
		w, perr := r.parse(b)
		if perr != nil {
			r.err = fmt.Errorf("features: %s: line %d: %w", r.name, r.line, perr)
			break
		}
		return w, nil
	}
	return Window{}, r.err
}

func (r *Reader) parse(b []byte) (Window, error) {
	var j windowJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return Window{}, err
	}
	n := len(j.InputIDs)
	switch {
	case n == 0:
		return Window{}, errors.New("no input_ids")
	case j.AttentionMask != nil && len(j.AttentionMask) != n:
		return Window{}, fmt.Errorf("%d input_ids but %d attention_mask values", n, len(j.AttentionMask))
	case j.TokenTypeIDs != nil && len(j.TokenTypeIDs) != n:
		return Window{}, fmt.Errorf("%d input_ids but %d token_type_ids", n, len(j.TokenTypeIDs))
	case j.OffsetMapping != nil && len(j.OffsetMapping) != n:
		return Window{}, fmt.Errorf("%d input_ids but %d offset_mapping entries", n, len(j.OffsetMapping))
	case (j.StartPositions == nil) != (j.EndPositions == nil):
		return Window{}, errors.New("start_positions without end_positions or the reverse")
	}
	w := Window{IDs: j.InputIDs, TypeIDs: j.TokenTypeIDs, Mask: j.AttentionMask, StartPos: -1, EndPos: -1}
	if w.Mask == nil {
		w.Mask = ones(n)
	}
	if j.OffsetMapping != nil {
		w.Offsets = make([][2]int, n)
		for i, o := range j.OffsetMapping {
			if o == nil {
				w.Offsets[i] = NoOffset
			} else {
				w.Offsets[i] = *o
			}
		}
	}
	if j.StartPositions != nil {
		w.StartPos, w.EndPos = *j.StartPositions, *j.EndPositions
		if w.StartPos < 0 || w.StartPos >= n || w.EndPos < 0 || w.EndPos >= n {
			return Window{}, fmt.Errorf("start_positions %d / end_positions %d outside the window of %d tokens", w.StartPos, w.EndPos, n)
		}
	}
	if j.ExampleID != nil {
		w.ExampleID = *j.ExampleID
	}
	if r.index < 0 || w.ExampleID != r.lastID || w.ExampleID == "" {
		r.index++
		r.lastID = w.ExampleID
	}
	w.ExampleIndex = r.index
	return w, nil
}

// ReadJSONL reads every window of a windows file.
func ReadJSONL(r io.Reader, name string) ([]Window, error) {
	rd := NewReader(r, name)
	var out []Window
	for {
		w, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
}
