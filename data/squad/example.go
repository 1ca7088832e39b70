// Package squad reads extractive question-answering data sets (SQuAD v1.1/v2.0 JSON, the
// Hugging Face datasets parquet layout, and JSON Lines) into Examples.
//
// Offsets: SQuAD counts answer_start in Unicode code points. The readers convert once, here, and
// every Answer carries both the rune offset and the byte offset into Context.
package squad

// Example is one question about one context.
type Example struct {
	ID       string
	Title    string
	Context  string
	Question string
	// Answers is empty for unanswerable (SQuAD v2.0) questions.
	Answers []Answer
}

// Answer is one gold answer span.
type Answer struct {
	Text string
	// Start is the offset of the answer in Context in Unicode code points (SQuAD's answer_start).
	Start int
	// ByteStart is the same offset in bytes, for slicing the Go string.
	ByteStart int
}

// IsImpossible reports whether the example has no answer (SQuAD v2.0).
func (e *Example) IsImpossible() bool { return len(e.Answers) == 0 }
