package features

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spanqa/spanqa/data/squad"
)

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

// WriteFile is Run into the file at path, created or truncated; it reports a failed close.
func WriteFile(path, data string, ropts squad.Options, tok Encoder, mode Mode, opts Options) (Summary, error) {
	f, err := os.Create(path)
	if err != nil {
		return Summary{}, fmt.Errorf("features: %w", err)
	}
	defer f.Close()
	sum, err := Run(data, ropts, tok, mode, opts, f)
	if err != nil {
		return sum, err
	}
	if err := f.Close(); err != nil {
		return sum, fmt.Errorf("features: %w", err)
	}
	return sum, nil
}
