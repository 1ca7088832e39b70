package tokenize

// piece is one token produced for one segment of text by a model-specific encoder.
type piece struct {
	ID   int64
	Text string
	// Start and End are byte offsets [Start,End) into the segment passed to encode.
	Start, End int
}

// sequenceEncoder turns one segment of original text (the text between added/special tokens)
// into model tokens: normalisation, pre-tokenisation and the subword model together. Each
// tokenizer family (WordPiece, byte-level BPE, Unigram) implements it; pair templates,
// truncation and windows are shared on top of it.
type sequenceEncoder interface {
	encode(segment string) ([]piece, error)
}
