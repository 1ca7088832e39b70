// Package tokenize implements the Hugging Face fast tokenizers spanqa's models use (BERT WordPiece,
// RoBERTa/Longformer byte-level BPE, DeBERTa-v3 Unigram) and the question-answering pair encoding
// with overflowing windows.
package tokenize

// Encoding is one window of an encoded (question, context) pair, as HF's fast tokenizers return it.
type Encoding struct {
	IDs []int64
	// TypeIDs are the token type ids; nil when the model takes none (RoBERTa, Longformer).
	TypeIDs []int64
	// Mask is the attention mask (all 1: encodings are not padded).
	Mask []int64
	// Offsets are [start,end) Unicode code point offsets into the ORIGINAL question (sequence 0)
	// or context (sequence 1); special tokens have (0,0).
	Offsets [][2]int
	// ByteOffsets are the same spans as UTF-8 byte offsets.
	ByteOffsets [][2]int
	// SequenceIDs is -1 for special tokens, 0 for question tokens and 1 for context tokens.
	SequenceIDs []int
	// SampleIndex is HF's overflow_to_sample_mapping: the index of the pair this window came from.
	SampleIndex int
	// Tokens are the token strings, for debugging.
	Tokens []string
}
