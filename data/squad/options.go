package squad

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Columns names the fields of flat records (parquet, JSON Lines, flat JSON), like run_qa.py's
// --question_column_name / --context_column_name / --answer_column_name. Empty fields take the
// Hugging Face defaults ("id", "title", "context", "question", "answers"). The answers column
// holds HF's {"text": [...], "answer_start": [...]} (a list of {"text", "answer_start"} objects is
// accepted too). Nested SQuAD JSON always uses SQuAD's own keys.
type Columns struct {
	ID, Title, Context, Question, Answers string
}

// DefaultColumns are the Hugging Face squad / squad_v2 column names.
var DefaultColumns = Columns{ID: "id", Title: "title", Context: "context", Question: "question", Answers: "answers"}

// withDefaults fills empty names from DefaultColumns.
func (c Columns) withDefaults() Columns {
	pick := func(v, d string) string {
		if v == "" {
			return d
		}
		return v
	}
	return Columns{
		ID:       pick(c.ID, DefaultColumns.ID),
		Title:    pick(c.Title, DefaultColumns.Title),
		Context:  pick(c.Context, DefaultColumns.Context),
		Question: pick(c.Question, DefaultColumns.Question),
		Answers:  pick(c.Answers, DefaultColumns.Answers),
	}
}

// Format is an input file format.
type Format string

// The formats Read understands.
const (
	FormatAuto    Format = ""
	FormatJSON    Format = "json"    // SQuAD v1.1/v2.0 JSON (or flat records under "data")
	FormatJSONL   Format = "jsonl"   // one flat record per line
	FormatParquet Format = "parquet" // Hugging Face datasets parquet
)

// FormatOf returns the format named by a file's extension.
func FormatOf(path string) (Format, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".json":
		return FormatJSON, nil
	case ".jsonl", ".ndjson":
		return FormatJSONL, nil
	case ".parquet", ".pq":
		return FormatParquet, nil
	}
	return "", fmt.Errorf("squad: %s: unknown extension %q (want .json, .jsonl, .ndjson or .parquet)", path, filepath.Ext(path))
}

// Options control reading.
type Options struct {
	// SkipInvalid drops invalid examples (counted in the Report) instead of stopping at the first.
	SkipInvalid bool
	// Columns names the fields of flat records; zero value = HF defaults.
	Columns Columns
	// Format overrides detection from the file extension.
	Format Format
	// MaxProblems bounds how many skipped examples' errors the Report keeps (default 100).
	MaxProblems int
}
