package squad

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalid is matched (errors.Is) by every *ExampleError.
var ErrInvalid = errors.New("invalid example")

// ExampleError says why one example is invalid.
type ExampleError struct {
	// Path is the file being read ("" for an unnamed stream).
	Path string
	// ID is the example id, or "" when it is missing.
	ID string
	// Index is the 0-based position of the example in the file (every question counts).
	Index int
	// Msg is the problem, e.g. "answer_start 512 beyond context of 480 runes".
	Msg string
}

// Error formats "squad: <file>: example <id>: <problem>".
func (e *ExampleError) Error() string {
	var b strings.Builder
	b.WriteString("squad: ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	if e.ID != "" {
		fmt.Fprintf(&b, "example %s: ", e.ID)
	} else {
		fmt.Fprintf(&b, "example #%d (no id): ", e.Index)
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *ExampleError) Is(target error) bool { return target == ErrInvalid }

// FormatError is a file that cannot be read further: malformed JSON, a corrupt parquet file, a
// missing column. Loading always stops on it, SkipInvalid or not.
type FormatError struct {
	Path string
	// Offset is the byte offset of the problem in the file, or -1 when unknown (parquet).
	Offset int64
	// Line is the 1-based line number for JSON Lines, 0 otherwise.
	Line int
	Msg  string
	Err  error
}

// Error formats "squad: <file>: [line N: ]byte N: <problem>".
func (e *FormatError) Error() string {
	var b strings.Builder
	b.WriteString("squad: ")
	b.WriteString(e.Path)
	if e.Line > 0 {
		fmt.Fprintf(&b, ": line %d", e.Line)
	}
	if e.Offset >= 0 {
		fmt.Fprintf(&b, ": byte %d", e.Offset)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying error, if any.
func (e *FormatError) Unwrap() error { return e.Err }

// Report summarises a read.
type Report struct {
	Path string
	// Examples counts the examples kept or skipped (Kept + Skipped); an invalid example that
	// stopped loading is not counted.
	Examples, Kept, Skipped int
	// Problems holds the errors of the first skipped examples (Options.MaxProblems of them).
	Problems []*ExampleError
}

// String is a one-line summary such as "dev.json: 10570 examples, 10568 kept, 2 skipped".
func (r Report) String() string {
	return fmt.Sprintf("%s: %d examples, %d kept, %d skipped", r.Path, r.Examples, r.Kept, r.Skipped)
}
