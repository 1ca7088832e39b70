// Package features turns examples into the windows (HF "features") a QA model reads, exactly as
// Hugging Face's run_qa.py prepare_train_features / prepare_validation_features make them.
package features

// NoOffset marks a token outside the context (HF's None offset in evaluation features).
var NoOffset = [2]int{-1, -1}

// Window is one model input window cut from one example.
type Window struct {
	// ExampleID and ExampleIndex name the example the window was cut from.
	ExampleID    string
	ExampleIndex int
	IDs          []int64
	// TypeIDs is nil when the model does not use token types.
	TypeIDs []int64
	Mask    []int64
	// Offsets are rune offsets into the example's context; in evaluation windows tokens outside
	// the context carry NoOffset.
	Offsets [][2]int
	// ByteOffsets are the same spans in bytes of the context (NoOffset outside it).
	ByteOffsets [][2]int
	// SequenceIDs: -1 special, 0 question, 1 context.
	SequenceIDs []int
	// StartPos and EndPos are the training targets: token positions of the first answer, or the
	// CLS index when the answer is not fully inside the window (run_qa.py's rule, edge case
	// included: see answerPositions). Evaluation windows have -1.
	StartPos, EndPos int
}
