package squad

import (
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
)

// source yields raw examples from one file format. next returns io.EOF at the end and a
// *FormatError when the file cannot be read further.
type source interface {
	next() (*rawExample, error)
	close() error
	// release frees what reading holds (the JSON reader's walking goroutine) once the Reader
	// has stopped at an error, so that a caller who drops the Reader then without Close leaks
	// nothing but the input it opened. close still follows.
	release()
}

// Reader streams validated examples from one file. Memory stays proportional to one SQuAD
// article (JSON), one line (JSON Lines) or one page per column (parquet), plus the set of ids
// seen (for the duplicate check).
type Reader struct {
	path   string
	opts   Options
	src    source
	seen   map[string]int
	report Report
	err    error
}

func newReader(path string, src source, opts Options) *Reader {
	if opts.MaxProblems == 0 {
		opts.MaxProblems = 100
	}
	return &Reader{path: path, opts: opts, src: src, seen: map[string]int{}, report: Report{Path: path}}
}

// Open opens path for streaming, choosing the format from opts.Format or the file extension.
func Open(path string, opts Options) (*Reader, error) {
	format := opts.Format
	if format == FormatAuto {
		var err error
		if format, err = FormatOf(path); err != nil {
			return nil, err
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("squad: %w", err)
	}
	var r *Reader
	switch format {
	case FormatJSON:
		r = NewJSONReader(f, path, opts)
	case FormatJSONL:
		r = NewJSONLReader(f, path, opts)
	case FormatParquet:
		st, err := f.Stat()
		if err == nil {
			r, err = NewParquetReader(f, st.Size(), path, opts)
		}
		if err != nil {
			f.Close()
			return nil, err
		}
	default:
		f.Close()
		return nil, fmt.Errorf("squad: %s: unknown format %q", path, format)
	}
	r.src = &closingSource{source: r.src, c: f}
	return r, nil
}

// closingSource also closes the file it reads from.
type closingSource struct {
	source
	c io.Closer
}

func (s *closingSource) close() error {
	err := s.source.close()
	if cerr := s.c.Close(); err == nil {
		err = cerr
	}
	return err
}

// Next returns the next valid example, io.EOF at the end, or the error that stopped loading: a
// *FormatError, or an *ExampleError when SkipInvalid is off. Errors are sticky.
func (r *Reader) Next() (Example, error) {
	for r.err == nil {
		raw, err := r.src.next()
		if err != nil {
			r.err = err
			break
		}
		ex, msg := raw.validate()
		if msg == "" {
			if first, dup := r.seen[ex.ID]; dup {
				msg = fmt.Sprintf("duplicate id (first seen at example #%d)", first)
			} else {
				r.seen[ex.ID] = raw.index
			}
		}
		if msg == "" {
			r.report.Examples++
			r.report.Kept++
			return ex, nil
		}
		e := &ExampleError{Path: r.path, ID: raw.id.s, Index: raw.index, Msg: msg}
		if !raw.id.present || raw.id.badUTF8 {
			e.ID = ""
		}
		if !r.opts.SkipInvalid {
			r.err = e
			break
		}
		r.report.Examples++
		r.report.Skipped++
		if len(r.report.Problems) < r.opts.MaxProblems {
			r.report.Problems = append(r.report.Problems, e)
		}
	}
	r.src.release()
	return Example{}, r.err
}

// All iterates over the remaining examples; a non-nil error ends the sequence (io.EOF is not
// reported).
func (r *Reader) All() iter.Seq2[Example, error] {
	return func(yield func(Example, error) bool) {
		for {
			ex, err := r.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			if !yield(ex, err) || err != nil {
				return
			}
		}
	}
}

// Report returns the counts so far (complete once Next has returned io.EOF).
func (r *Reader) Report() Report { return r.report }

// Close releases the input (the file, when the Reader came from Open).
func (r *Reader) Close() error { return r.src.close() }

// Read loads every example of path (format from opts.Format or the extension).
func Read(path string, opts Options) ([]Example, Report, error) {
	r, err := Open(path, opts)
	if err != nil {
		return nil, Report{Path: path}, err
	}
	defer r.Close()
	var out []Example
	for ex, err := range r.All() {
		if err != nil {
			return nil, r.Report(), err
		}
		out = append(out, ex)
	}
	return out, r.Report(), nil
}

// ReadJSON loads a SQuAD v1.1/v2.0 JSON file.
func ReadJSON(path string, opts Options) ([]Example, Report, error) {
	opts.Format = FormatJSON
	return Read(path, opts)
}

// ReadJSONL loads a JSON Lines file of flat records.
func ReadJSONL(path string, opts Options) ([]Example, Report, error) {
	opts.Format = FormatJSONL
	return Read(path, opts)
}

// ReadParquet loads a Hugging Face datasets parquet file.
func ReadParquet(path string, opts Options) ([]Example, Report, error) {
	opts.Format = FormatParquet
	return Read(path, opts)
}
