package serve

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/spanqa/spanqa/eval"
)

// Pair is one question about one context.
type Pair struct {
	Question string
	Context  string
}

// CheckPair reports why a pair cannot be answered (errors.Is ErrInvalidInput), or nil. The
// server calls it to reject bad input before it queues any work.
func CheckPair(p Pair) error {
	for _, f := range []struct{ name, s string }{{"question", p.Question}, {"context", p.Context}} {
		switch {
		case !utf8.ValidString(f.s):
			return inputError("%s is not valid UTF-8", f.name)
		case strings.TrimFunc(f.s, isSpace) == "":
			return inputError("%s is empty", f.name)
		}
	}
	return nil
}

// isSpace is Python's str.isspace (what run_qa.py's question strip removes).
func isSpace(r rune) bool { return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f) }

// pairError names the failing pair when there are several.
func pairError(n, i int, err error) error {
	if n == 1 {
		return err
	}
	return fmt.Errorf("pair %d: %w", i, err)
}

// Answer is one answer span (or the null answer) in a context.
type Answer struct {
	// Text is the answer, a substring of the context; "" for a null answer.
	Text string `json:"text"`
	// Score is the span's start logit plus end logit (the null score for a null answer).
	Score float64 `json:"score"`
	// Probability is the softmax of Score over the n-best candidates of the pair.
	Probability float64 `json:"probability"`
	// Start and End are the [Start, End) offsets of Text in the context in characters (Unicode
	// code points, as SQuAD counts); ByteStart and ByteEnd the same span in bytes of the UTF-8
	// context. All four are -1 for a null answer.
	Start     int `json:"start"`
	End       int `json:"end"`
	ByteStart int `json:"byte_start"`
	ByteEnd   int `json:"byte_end"`
	// Null marks the absence of an answer: the SQuAD v2.0 null answer (AllowNull), or no valid
	// span at all in the context (HF's "empty" placeholder).
	Null bool `json:"null"`
}

// Result is the answer to one pair: the chosen answer and the ranked candidates.
type Result struct {
	// Answer is what `spanqa eval` writes to predictions.json for the pair: the best span, or
	// the null answer when AllowNull is set and the null score wins by more than the threshold.
	Answer
	// TopK are the best AnswerOptions.TopK candidates of the n-best list, best first. With
	// AllowNull the null candidate takes its place by score.
	TopK []Answer `json:"top_k"`
	// NullScoreDiff is the null score minus the best span's score (null_odds.json); present
	// with AllowNull only.
	NullScoreDiff *float64 `json:"null_score_diff,omitempty"`
	// Windows is the number of windows the context was cut into.
	Windows int `json:"windows"`
}

// nullAnswer is the Answer with no span.
func nullAnswer(score, prob float64) Answer {
	return Answer{Score: score, Probability: prob, Start: -1, End: -1, ByteStart: -1, ByteEnd: -1, Null: true}
}

// resultOf turns a post-processed prediction into a Result with the top k candidates.
func resultOf(p *eval.Prediction, k, windows int) Result {
	r := Result{Windows: windows, TopK: make([]Answer, 0, k)}
	if p.Start < 0 {
		// The null answer, or HF's placeholder (text "empty"), which names no span.
		r.Answer = nullAnswer(p.Score, p.Probability)
	} else {
		r.Answer = Answer{Text: p.Text, Score: p.Score, Probability: p.Probability,
			Start: p.Start, End: p.End, ByteStart: p.ByteStart, ByteEnd: p.ByteEnd}
	}
	for i := range p.NBest {
		if len(r.TopK) == k {
			break
		}
		c := &p.NBest[i]
		switch {
		case c.Placeholder:
			continue
		case c.Null:
			r.TopK = append(r.TopK, nullAnswer(c.Score, c.Probability))
		default:
			r.TopK = append(r.TopK, Answer{Text: c.Text, Score: c.Score, Probability: c.Probability,
				Start: c.Start, End: c.End, ByteStart: c.ByteStart, ByteEnd: c.ByteEnd})
		}
	}
	if p.HasNullScoreDiff {
		d := p.NullScoreDiff
		r.NullScoreDiff = &d
	}
	return r
}
