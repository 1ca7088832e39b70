package tokenize

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// Kind is the subword model family of a tokenizer.
type Kind int

const (
	// WordPiece is BERT's model (BertNormalizer, BertPreTokenizer, WordPiece).
	WordPiece Kind = iota + 1
	// BPE is RoBERTa's and Longformer's byte-level byte-pair encoding.
	BPE
	// Unigram is DeBERTa-v3's SentencePiece Unigram model.
	Unigram
)

// String returns the HF model type name.
func (k Kind) String() string {
	switch k {
	case WordPiece:
		return "WordPiece"
	case BPE:
		return "BPE"
	case Unigram:
		return "Unigram"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// ErrInvalidUTF8 is returned for input that is not valid UTF-8 (HF's inputs are always valid
// strings, so there is no reference behaviour to follow).
var ErrInvalidUTF8 = errors.New("tokenize: input is not valid UTF-8")

// Tokenizer reproduces a Hugging Face fast tokenizer: added-token extraction, the model
// family's normaliser, pre-tokenizer and subword model, and the post-processor's special
// tokens. It is safe for concurrent use.
type Tokenizer struct {
	kind Kind
	enc  sequenceEncoder
	// rawAdded holds the added tokens matched in the original text (normalized=false);
	// normAdded those matched after normalisation (normalized=true), as HF does in two passes.
	rawAdded, normAdded *addedMatcher
	added               []AddedToken
	post                postProcessor
	vocab               map[string]int64 // model vocabulary plus added tokens
	typeIDs             bool
	clsID, sepID, padID int64
	paddingSide         string
	modelMaxLength      int
}

// Kind returns the subword model family.
func (t *Tokenizer) Kind() Kind { return t.kind }

// CLSID returns the id of the token that starts an encoding ([CLS] or <s>).
func (t *Tokenizer) CLSID() int64 { return t.clsID }

// SEPID returns the id of the separator token ([SEP] or </s>).
func (t *Tokenizer) SEPID() int64 { return t.sepID }

// PadID returns the id of the padding token ([PAD] or <pad>), or -1 when there is none.
func (t *Tokenizer) PadID() int64 { return t.padID }

// ReturnsTypeIDs reports whether the model takes token type ids. RoBERTa-style models (those
// with RobertaProcessing or a byte-level BPE) do not, and their encodings have nil TypeIDs.
func (t *Tokenizer) ReturnsTypeIDs() bool { return t.typeIDs }

// PaddingSide returns "right" (the default) or "left", from tokenizer_config.json. run_qa.py
// puts the context first and truncates it (PairOptions.TruncateFirst) when padding is left.
func (t *Tokenizer) PaddingSide() string { return t.paddingSide }

// ModelMaxLength returns tokenizer_config.json's model_max_length, or 0 when unknown.
func (t *Tokenizer) ModelMaxLength() int { return t.modelMaxLength }

// TokenID returns the id of a vocabulary or added token.
func (t *Tokenizer) TokenID(token string) (int64, bool) {
	id, ok := t.vocab[token]
	return id, ok
}

// VocabSize returns the number of token ids: the model vocabulary plus the added tokens beyond
// it (HF's len(tokenizer)), which is what the model's embedding table must cover.
func (t *Tokenizer) VocabSize() int {
	n := 0
	for _, id := range t.vocab {
		n = max(n, int(id)+1)
	}
	return n
}

// AddedTokens returns the added tokens (special tokens included), in tokenizer.json order.
func (t *Tokenizer) AddedTokens() []AddedToken { return append([]AddedToken(nil), t.added...) }

// seqTokens is one encoded sequence, before the post-processor adds special tokens: the pieces
// (ids, token strings, byte offsets into the original text) and their character offsets.
type seqTokens struct {
	pieces  []piece
	offsets [][2]int // code point offsets into the original sequence
}

func (s seqTokens) len() int { return len(s.pieces) }

func (s seqTokens) slice(a, b int) seqTokens {
	return seqTokens{s.pieces[a:b], s.offsets[a:b]}
}

// Encode encodes one text without special tokens or truncation, like HF's
// encode(text, add_special_tokens=False). SequenceIDs are all 0.
func (t *Tokenizer) Encode(text string) (Encoding, error) {
	s, err := t.encodeSequence(text)
	if err != nil {
		return Encoding{}, err
	}
	return t.assemble([]templateItem{{seq: 0}}, [2]seqTokens{s}), nil
}

// encodeSequence runs the whole pipeline for one sequence and returns its tokens with
// character and byte offsets into text.
func (t *Tokenizer) encodeSequence(text string) (seqTokens, error) {
	if !utf8.ValidString(text) {
		return seqTokens{}, ErrInvalidUTF8
	}
	pieces, err := t.pieces(text)
	if err != nil {
		return seqTokens{}, err
	}
	s := seqTokens{pieces: pieces, offsets: make([][2]int, len(pieces))}
	starts, ends := newRuneCursor(text), newRuneCursor(text)
	for i, p := range pieces {
		s.offsets[i] = [2]int{starts.char(p.Start), ends.char(p.End)}
	}
	if t.post.trimOffsets {
		// HF trims character offsets; the byte offsets follow from the trimmed ones.
		trimOffsets(pieces, s.offsets, t.post.addPrefixSpace)
		for i, o := range s.offsets {
			pieces[i].Start, pieces[i].End = starts.byteAt(o[0]), ends.byteAt(o[1])
		}
	}
	return s, nil
}

// pieces splits text on added tokens and encodes the segments between them.
func (t *Tokenizer) pieces(text string) ([]piece, error) {
	matches := t.rawAdded.find(text)
	if len(matches) == 0 {
		return t.segmentPieces(text, 0, len(text), nil)
	}
	var out []piece
	at := 0
	for _, m := range matches {
		var err error
		if out, err = t.segmentPieces(text, at, m.start, out); err != nil {
			return nil, err
		}
		out = append(out, piece{ID: m.id, Text: text[m.start:m.end], Start: m.start, End: m.end})
		at = m.end
	}
	return t.segmentPieces(text, at, len(text), out)
}

// segmentPieces encodes text[a:b], which holds no raw added token, and appends its pieces with
// offsets relative to text to out.
func (t *Tokenizer) segmentPieces(text string, a, b int, out []piece) ([]piece, error) {
	if a >= b {
		return out, nil
	}
	seg := text[a:b]
	var (
		ps  []piece
		err error
	)
	switch sp, ok := t.enc.(normalizedSplitter); {
	case t.normAdded.empty():
		ps, err = t.enc.encode(seg)
	case ok:
		ps, err = sp.encodeSplitting(seg, t.normAdded.find)
	default:
		ps, err = t.splitInOriginal(seg)
	}
	if err != nil {
		return nil, fmt.Errorf("tokenize: encoding %q: %w", truncateForError(seg), err)
	}
	ps = shiftPieces(ps, a)
	if len(out) == 0 {
		return ps, nil // the common case: one segment, no copy
	}
	return append(out, ps...), nil
}

// splitInOriginal matches the normalized added tokens in the original text, for encoders that
// do not expose their normalised text (exact when normalisation leaves the tokens unchanged).
func (t *Tokenizer) splitInOriginal(seg string) ([]piece, error) {
	var ps []piece
	at := 0
	for _, m := range t.normAdded.find(seg) {
		if m.start > at {
			gap, err := t.enc.encode(seg[at:m.start])
			if err != nil {
				return nil, err
			}
			ps = append(ps, shiftPieces(gap, at)...)
		}
		ps = append(ps, piece{ID: m.id, Text: seg[m.start:m.end], Start: m.start, End: m.end})
		at = m.end
	}
	if at < len(seg) {
		gap, err := t.enc.encode(seg[at:])
		if err != nil {
			return nil, err
		}
		ps = append(ps, shiftPieces(gap, at)...)
	}
	return ps, nil
}

func shiftPieces(ps []piece, by int) []piece {
	if by == 0 {
		return ps
	}
	for i := range ps {
		ps[i].Start += by
		ps[i].End += by
	}
	return ps
}

// truncateForError keeps error messages short on long inputs.
func truncateForError(s string) string {
	const n = 40
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}
