package tokenize

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
)

// PairOptions configures EncodePair: HF's truncation="only_second" (or "only_first") with
// return_overflowing_tokens=True, i.e. enable_truncation(MaxLength, Stride, strategy,
// direction="right").
type PairOptions struct {
	// MaxLength is the length of every window, special tokens included; 0 disables truncation.
	MaxLength int
	// Stride is how many tokens of the truncated sequence consecutive windows share.
	Stride int
	// TruncateFirst truncates the first sequence instead of the second (only_first). run_qa.py
	// does this for left-padding tokenizers, passing (context, question) in that order.
	TruncateFirst bool
}

// Pair is one (question, context) input of EncodePairs.
type Pair struct {
	Question, Context string
}

// ErrQuestionTooLong is returned when the sequence that is not truncated (the question) leaves
// no room, or no more room than the stride, for the truncated one within MaxLength. HF returns
// an error in the first case and panics in the second ("stride must be strictly less than
// max_len").
var ErrQuestionTooLong = errors.New("tokenize: question too long for max_length and stride")

// EncodePair encodes a (question, context) pair into windows exactly as HF's
// tokenizer(question, context, truncation="only_second", max_length, stride,
// return_overflowing_tokens=True, return_offsets_mapping=True) does: every window is
// "[CLS] question [SEP] context_k [SEP]" (or RoBERTa's "<s> q </s></s> c_k </s>"), where the
// context chunks overlap by Stride tokens and the last one reaches the end of the context.
// Offsets are into the original question (sequence 0) and context (sequence 1). SampleIndex is 0.
func (t *Tokenizer) EncodePair(question, context string, opt PairOptions) ([]Encoding, error) {
	return t.encodePairAt(Pair{question, context}, opt, 0)
}

// windows truncates one of the two sequences into overlapping chunks (HF's Encoding.truncate
// with stride) and applies the pair template to each.
func (t *Tokenizer) windows(a, b seqTokens, opt PairOptions, sample int) ([]Encoding, error) {
	one := func(a, b seqTokens) Encoding {
		e := t.assemble(t.post.pair, [2]seqTokens{a, b})
		e.SampleIndex = sample
		return e
	}
	if opt.MaxLength <= 0 {
		return []Encoding{one(a, b)}, nil
	}
	specials := t.post.added(true)
	room := opt.MaxLength - specials // tokens left for the two sequences
	total := a.len() + b.len()
	if total <= room {
		return []Encoding{one(a, b)}, nil
	}
	target, other := b, a
	if opt.TruncateFirst {
		target, other = a, b
	}
	toRemove := total - room
	if room <= 0 || target.len() <= toRemove {
		return nil, fmt.Errorf("%w: %d question tokens and %d special tokens leave no room for the other sequence within max_length %d",
			ErrQuestionTooLong, other.len(), specials, opt.MaxLength)
	}
	keep := target.len() - toRemove // chunk length
	if opt.Stride >= keep {
		return nil, fmt.Errorf("%w: %d question tokens and %d special tokens leave %d tokens per window, not more than the stride %d",
			ErrQuestionTooLong, other.len(), specials, keep, opt.Stride)
	}
	step := keep - max(opt.Stride, 0)
	var out []Encoding
	for start := 0; ; start += step {
		stop := min(start+keep, target.len())
		chunk := target.slice(start, stop)
		if opt.TruncateFirst {
			out = append(out, one(chunk, other))
		} else {
			out = append(out, one(other, chunk))
		}
		if stop == target.len() {
			break
		}
	}
	return out, nil
}

// PairError reports which pair of a batch failed.
type PairError struct {
	Index int   // position of the pair in the batch
	Err   error // why it failed
}

// Error implements error.
func (e *PairError) Error() string { return fmt.Sprintf("pair %d: %v", e.Index, e.Err) }

// Unwrap returns the underlying error.
func (e *PairError) Unwrap() error { return e.Err }

// EncodePairs encodes many pairs on all cores and returns their windows in order, each with
// SampleIndex set to its pair's index (HF's overflow_to_sample_mapping). On failure it returns
// a *PairError for the first failing pair (by index).
func (t *Tokenizer) EncodePairs(pairs []Pair, opt PairOptions) ([]Encoding, error) {
	results := make([][]Encoding, len(pairs))
	errs := make([]error, len(pairs))
	workers := min(runtime.GOMAXPROCS(0), len(pairs))
	var wg sync.WaitGroup
	var mu sync.Mutex
	next := 0
	// Pairs differ wildly in length, so workers take small batches from a shared counter
	// rather than fixed shares.
	const batch = 8
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				lo := next
				next += batch
				mu.Unlock()
				if lo >= len(pairs) {
					return
				}
				for i := lo; i < min(lo+batch, len(pairs)); i++ {
					results[i], errs[i] = t.encodePairAt(pairs[i], opt, i)
				}
			}
		}()
	}
	wg.Wait()
	n := 0
	for i, err := range errs {
		if err != nil {
			return nil, &PairError{Index: i, Err: err}
		}
		n += len(results[i])
	}
	out := make([]Encoding, 0, n)
	for _, r := range results {
		out = append(out, r...)
	}
	return out, nil
}

func (t *Tokenizer) encodePairAt(p Pair, opt PairOptions, i int) ([]Encoding, error) {
	a, err := t.encodeSequence(p.Question)
	if err != nil {
		return nil, fmt.Errorf("tokenize: first sequence: %w", err)
	}
	b, err := t.encodeSequence(p.Context)
	if err != nil {
		return nil, fmt.Errorf("tokenize: second sequence: %w", err)
	}
	return t.windows(a, b, opt, i)
}
