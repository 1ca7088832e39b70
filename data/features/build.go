package features

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/spanqa/spanqa/data/squad"
	"github.com/spanqa/spanqa/data/tokenize"
)

// Builder cuts examples into windows for one tokenizer, mode and set of options.
type Builder struct {
	tok       Encoder
	mode      Mode
	opts      Options
	maxLength int
	padLeft   bool
	cls       int64
	typeIDs   bool
	// question prepares the question; run_qa.py left-strips it. Tests replace it to compare
	// with goldens made from unstripped questions.
	question func(string) string
	skipped  []string
}

// chunk is how many examples go to the tokenizer at once (it encodes them on all cores).
const chunk = 256

// NewBuilder checks the options and resolves the effective max length (see EffectiveMaxLength).
func NewBuilder(tok Encoder, mode Mode, opts Options) (*Builder, error) {
	if mode != ModeTrain && mode != ModeEval {
		return nil, fmt.Errorf("features: invalid mode %v", mode)
	}
	maxLen, _ := EffectiveMaxLength(opts.MaxLength, tok.ModelMaxLength(), opts.ModelLimit)
	if maxLen <= 0 {
		return nil, fmt.Errorf("features: max_length must be positive, got %d", maxLen)
	}
	if opts.Stride < 0 || opts.Stride >= maxLen {
		return nil, fmt.Errorf("features: doc_stride %d must be in [0, max_length %d)", opts.Stride, maxLen)
	}
	return &Builder{
		tok: tok, mode: mode, opts: opts, maxLength: maxLen,
		padLeft: tok.PaddingSide() == "left", cls: tok.CLSID(), typeIDs: tok.ReturnsTypeIDs(),
		question: lstrip,
	}, nil
}

// MaxLength returns the effective window length.
func (b *Builder) MaxLength() int { return b.maxLength }

// Skipped returns the ids of the examples dropped because of Options.SkipTooLong.
func (b *Builder) Skipped() []string { return b.skipped }

// lstrip is Python's str.lstrip(): Python's whitespace is Unicode White_Space plus the
// separators U+001C..U+001F.
func lstrip(s string) string {
	return strings.TrimLeftFunc(s, func(r rune) bool { return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f) })
}

// Train makes the training windows of examples (run_qa.py prepare_train_features).
func Train(examples []squad.Example, tok Encoder, opts Options) ([]Window, error) {
	return build(examples, tok, ModeTrain, opts)
}

// Eval makes the evaluation windows of examples (run_qa.py prepare_validation_features).
func Eval(examples []squad.Example, tok Encoder, opts Options) ([]Window, error) {
	return build(examples, tok, ModeEval, opts)
}

func build(examples []squad.Example, tok Encoder, mode Mode, opts Options) ([]Window, error) {
	b, err := NewBuilder(tok, mode, opts)
	if err != nil {
		return nil, err
	}
	return b.All(examples)
}

// All cuts every example into windows, a chunk of examples at a time.
func (b *Builder) All(examples []squad.Example) ([]Window, error) {
	var out []Window
	for lo := 0; lo < len(examples); lo += chunk {
		ws, err := b.Windows(examples[lo:min(lo+chunk, len(examples))], lo)
		if err != nil {
			return nil, err
		}
		out = append(out, ws...)
	}
	return out, nil
}

// Windows cuts examples into windows; firstIndex is the index of examples[0] in the whole data
// set (it becomes Window.ExampleIndex). Windows come in example order.
func (b *Builder) Windows(examples []squad.Example, firstIndex int) ([]Window, error) {
	pairs := make([]tokenize.Pair, len(examples))
	for i := range examples {
		q, c := b.question(examples[i].Question), examples[i].Context
		if b.padLeft {
			q, c = c, q // run_qa.py passes (context, question) and truncates the first
		}
		pairs[i] = tokenize.Pair{Question: q, Context: c}
	}
	popt := tokenize.PairOptions{MaxLength: b.maxLength, Stride: b.opts.Stride, TruncateFirst: b.padLeft}
	encs, err := b.tok.EncodePairs(pairs, popt)
	var pe *tokenize.PairError
	if errors.As(err, &pe) && pe.Index >= 0 && pe.Index < len(examples) {
		ex := &examples[pe.Index]
		if !b.opts.SkipTooLong || !errors.Is(err, tokenize.ErrQuestionTooLong) {
			return nil, fmt.Errorf("features: example %s: %w", ex.ID, pe.Err)
		}
		return b.skipOneByOne(examples, firstIndex, pairs, popt)
	}
	if err != nil {
		return nil, fmt.Errorf("features: %w", err)
	}
	out := make([]Window, len(encs))
	for i := range encs {
		s := encs[i].SampleIndex
		if s < 0 || s >= len(examples) {
			return nil, fmt.Errorf("features: tokenizer returned sample index %d for %d pairs", s, len(examples))
		}
		if err := checkEncoding(&encs[i]); err != nil {
			return nil, fmt.Errorf("features: example %s: %w", examples[s].ID, err)
		}
		out[i] = b.window(&encs[i], &examples[s], firstIndex+s)
	}
	return out, nil
}

// checkEncoding guards the window code against a malformed encoding.
func checkEncoding(e *tokenize.Encoding) error {
	n := len(e.IDs)
	if n == 0 || len(e.Offsets) != n || len(e.SequenceIDs) != n || (e.Mask != nil && len(e.Mask) != n) ||
		(e.TypeIDs != nil && len(e.TypeIDs) != n) || (e.ByteOffsets != nil && len(e.ByteOffsets) != n) {
		return fmt.Errorf("tokenizer returned a malformed window (%d ids, %d offsets, %d sequence ids)", n, len(e.Offsets), len(e.SequenceIDs))
	}
	return nil
}

// skipOneByOne encodes pairs one at a time, dropping those whose question is too long.
func (b *Builder) skipOneByOne(examples []squad.Example, firstIndex int, pairs []tokenize.Pair, popt tokenize.PairOptions) ([]Window, error) {
	var out []Window
	for i := range pairs {
		encs, err := b.tok.EncodePairs(pairs[i:i+1], popt)
		if errors.Is(err, tokenize.ErrQuestionTooLong) {
			b.skipped = append(b.skipped, examples[i].ID)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("features: example %s: %w", examples[i].ID, err)
		}
		for k := range encs {
			if err := checkEncoding(&encs[k]); err != nil {
				return nil, fmt.Errorf("features: example %s: %w", examples[i].ID, err)
			}
			out = append(out, b.window(&encs[k], &examples[i], firstIndex+i))
		}
	}
	return out, nil
}

// contextSeq is the sequence id of the context: 1, or 0 when it comes first (left padding).
func (b *Builder) contextSeq() int {
	if b.padLeft {
		return 0
	}
	return 1
}

// window turns one encoding into a Window (sharing its slices).
func (b *Builder) window(e *tokenize.Encoding, ex *squad.Example, index int) Window {
	w := Window{
		ExampleID: ex.ID, ExampleIndex: index,
		IDs: e.IDs, Mask: e.Mask, Offsets: e.Offsets, ByteOffsets: e.ByteOffsets, SequenceIDs: e.SequenceIDs,
		StartPos: -1, EndPos: -1,
	}
	if b.typeIDs {
		w.TypeIDs = e.TypeIDs
	}
	if w.Mask == nil {
		w.Mask = ones(len(w.IDs))
	}
	ctx := b.contextSeq()
	switch b.mode {
	case ModeTrain:
		cls := clsIndex(w.IDs, b.cls)
		w.StartPos, w.EndPos = cls, cls
		if len(ex.Answers) > 0 {
			a := ex.Answers[0]
			start := a.Start
			w.StartPos, w.EndPos = answerPositions(w.Offsets, w.SequenceIDs, ctx, cls, start, start+utf8.RuneCountInString(a.Text))
		}
	case ModeEval:
		for k, s := range w.SequenceIDs {
			if s != ctx {
				w.Offsets[k] = NoOffset
				if w.ByteOffsets != nil {
					w.ByteOffsets[k] = NoOffset
				}
			}
		}
	}
	return w
}

func ones(n int) []int64 {
	m := make([]int64, n)
	for i := range m {
		m[i] = 1
	}
	return m
}
