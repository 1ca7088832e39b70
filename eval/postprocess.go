package eval

import (
	"fmt"
	"sort"

	"github.com/spanqa/spanqa/data/features"
	"github.com/spanqa/spanqa/data/squad"
)

// Post-processing follows Hugging Face's utils_qa.postprocess_qa_predictions (the function
// run_qa.py calls), with the numeric types it has in practice: the Trainer hands it numpy float32
// logits, so scores (start + end logit), the null score and the null score difference are float32
// sums, and the softmax over the n-best runs in float32. Concretely, per example:
//
//  1. Over its windows in order: the null score of a window is start[0] + end[0] (the CLS
//     position); the example's null entry is the window with the smallest one (the first on ties).
//  2. In each window, the n_best_size highest start logits and end logits over the whole logit
//     row (np.argsort(x)[-1:-n-1:-1], with numpy's own order for equal logits: npArgsort32) form
//     candidate pairs, start-major. A pair is kept when both positions are inside the window's
//     offsets and carry an offset (tokens outside the context have features.NoOffset, HF's
//     None), end >= start, and end - start + 1 <= max_answer_length.
//  3. SQuAD v2: the null entry is appended. All candidates are sorted by score, descending, with a
//     stable sort (Python's sorted(..., reverse=True)), and the first n_best_size kept; the null
//     entry is appended again when it fell out (HF recognises it by its offsets (0, 0)).
//  4. Text is context[start_char:end_char] by CHARACTER (code point) offsets, with Python's
//     slicing rules (an empty string when end <= start).
//  5. When nothing is left, or only one entry with empty text, HF's placeholder {"text":
//     "empty", logits 0.0, score 0.0} is put first. Its score is a Python float, so that example's
//     softmax runs in float64.
//  6. Probabilities: softmax over the entries' scores, exp(s - max) / sum, with numpy's float32
//     exp kernel (npExp32), its pairwise summation, and float32 division.
//  7. The answer is the first entry (v1); in v2 the first entry with non-empty text is the best
//     non-null one, score_diff = null_score - its start_logit - its end_logit (float32), and the
//     answer is "" when score_diff > null_score_diff_threshold (compared in float32, numpy 2's
//     rule), else the best non-null text.
//
// The result is byte-identical to HF's files computed with numpy on x86-64 (checked against an
// independent Python rendition of utils_qa.py, testdata/). Known differences: numpy builds that
// use other kernels (the C library's expf on ARM, SIMD sorting networks for argsort on some
// recent x86 builds) can differ in the last bit of a probability or in the order of exactly
// equal logits; the float64 softmax (placeholder only) uses a correctly rounded exp, as glibc's
// exp is in practice. When an example has several entries but none with non-empty text, HF fails
// with IndexError; here the answer is "" and the null score difference is not computed (0).

// Options are the post-processing parameters of postprocess_qa_predictions.
type Options struct {
	// Version2WithNegative enables SQuAD v2.0 null answers (run_qa.py --version_2_with_negative).
	Version2WithNegative bool
	// NBestSize is n_best_size; 0 means 20.
	NBestSize int
	// MaxAnswerLength is max_answer_length in tokens; 0 means 30.
	MaxAnswerLength int
	// NullScoreDiffThreshold is null_score_diff_threshold (default 0).
	NullScoreDiffThreshold float64
}

func (o Options) withDefaults() Options {
	if o.NBestSize <= 0 {
		o.NBestSize = 20
	}
	if o.MaxAnswerLength <= 0 {
		o.MaxAnswerLength = 30
	}
	return o
}

// Candidate is one n-best entry of an example (one element of nbest_predictions.json).
type Candidate struct {
	Text string
	// StartLogit, EndLogit, Score and Probability hold the values HF writes: float32 values
	// widened to float64 (0.0 for the placeholder; the probabilities of an example with the
	// placeholder are float64).
	StartLogit, EndLogit float64
	Score                float64
	Probability          float64
	// Start and End are the [Start, End) character (code point) offsets of Text in the context,
	// HF's "offsets"; ByteStart and ByteEnd the same span in bytes. (0, 0) for the null entry.
	Start, End         int
	ByteStart, ByteEnd int
	// Window is the index (into the windows given to post-processing) of the window the entry
	// comes from, and StartToken, EndToken its token positions there; -1 for the placeholder.
	Window, StartToken, EndToken int
	// Null marks the SQuAD v2.0 null (CLS) entry.
	Null bool
	// Placeholder marks HF's {"text": "empty"} entry, made when no real answer exists.
	Placeholder bool

	start, end, score float32
}

// Prediction is the post-processed answer of one example.
type Prediction struct {
	ID string
	// Text is the answer written to predictions.json ("" for a SQuAD v2.0 null answer).
	Text string
	// Probability and Score are those of the n-best entry chosen (the null entry for "").
	Probability float64
	Score       float64
	// Start, End (characters) and ByteStart, ByteEnd (bytes) locate Text in the context; all -1
	// for a null answer and for the placeholder.
	Start, End         int
	ByteStart, ByteEnd int
	// NBest is the n-best list, as written to nbest_predictions.json.
	NBest []Candidate
	// NullScoreDiff is the SQuAD v2.0 null score minus the best non-null score (null_odds.json);
	// HasNullScoreDiff is false in v1 mode.
	NullScoreDiff    float64
	HasNullScoreDiff bool
}

// PostProcess post-processes the logits of windows into one Prediction per example, in example
// order. start[i] and end[i] are the logits of windows[i]; each row must be at least as long as
// the window's IDs (a longer row, e.g. padded to max_seq_length as HF pads, takes part in the
// top-n selection exactly as HF's padded rows do). Windows are matched to examples by
// ExampleIndex, which must agree with ExampleID.
func PostProcess(examples []squad.Example, windows []features.Window, start, end [][]float32, opts Options) ([]Prediction, error) {
	if len(start) != len(windows) || len(end) != len(windows) {
		return nil, fmt.Errorf("eval: post-process: %d windows but %d start and %d end logit rows", len(windows), len(start), len(end))
	}
	perExample := make([][]int, len(examples))
	for i := range windows {
		if err := checkWindow(examples, &windows[i], start[i], end[i]); err != nil {
			return nil, fmt.Errorf("eval: post-process: window %d: %w", i, err)
		}
		perExample[windows[i].ExampleIndex] = append(perExample[windows[i].ExampleIndex], i)
	}
	out := make([]Prediction, len(examples))
	for e := range examples {
		ws := make([]*features.Window, len(perExample[e]))
		ss := make([][]float32, len(ws))
		es := make([][]float32, len(ws))
		for k, i := range perExample[e] {
			ws[k], ss[k], es[k] = &windows[i], start[i], end[i]
		}
		p, err := PostProcessExample(&examples[e], ws, ss, es, opts)
		if err != nil {
			return nil, err
		}
		for k := range p.NBest {
			if w := p.NBest[k].Window; w >= 0 {
				p.NBest[k].Window = perExample[e][w]
			}
		}
		out[e] = p
	}
	return out, nil
}

// checkWindow validates a window against the examples and its logit rows.
func checkWindow(examples []squad.Example, w *features.Window, start, end []float32) error {
	if w.ExampleIndex < 0 || w.ExampleIndex >= len(examples) {
		return fmt.Errorf("example index %d out of range [0, %d)", w.ExampleIndex, len(examples))
	}
	if id := examples[w.ExampleIndex].ID; id != w.ExampleID {
		return fmt.Errorf("example index %d is example %s, but the window names %s", w.ExampleIndex, id, w.ExampleID)
	}
	return checkRows(w, start, end)
}

func checkRows(w *features.Window, start, end []float32) error {
	if len(start) != len(end) {
		return fmt.Errorf("example %s: %d start logits but %d end logits", w.ExampleID, len(start), len(end))
	}
	if len(start) == 0 || len(start) < len(w.IDs) {
		return fmt.Errorf("example %s: %d logits for a window of %d tokens", w.ExampleID, len(start), len(w.IDs))
	}
	return nil
}

// PostProcessExample post-processes one example from its windows (in window order) and their
// logit rows (see PostProcess). Window indices in the result's candidates refer to windows.
func PostProcessExample(ex *squad.Example, windows []*features.Window, start, end [][]float32, opts Options) (Prediction, error) {
	opts = opts.withDefaults()
	pred := Prediction{ID: ex.ID, Start: -1, End: -1, ByteStart: -1, ByteEnd: -1}
	if len(start) != len(windows) || len(end) != len(windows) {
		return pred, fmt.Errorf("eval: post-process: example %s: %d windows but %d start and %d end logit rows", ex.ID, len(windows), len(start), len(end))
	}
	if len(windows) == 0 && opts.Version2WithNegative {
		return pred, fmt.Errorf("eval: post-process: example %s has no window, so no null score", ex.ID)
	}

	var prelim []Candidate
	var null Candidate
	for wi, w := range windows {
		s, e := start[wi], end[wi]
		if err := checkRows(w, s, e); err != nil {
			return pred, fmt.Errorf("eval: post-process: window %d: %w", wi, err)
		}
		if ns := s[0] + e[0]; wi == 0 || null.score > ns {
			null = Candidate{Null: true, start: s[0], end: e[0], score: ns, Window: wi, StartToken: 0, EndToken: 0}
		}
		starts := topIndexes(s, opts.NBestSize)
		ends := topIndexes(e, opts.NBestSize)
		for _, si := range starts {
			for _, ei := range ends {
				if si >= len(w.Offsets) || ei >= len(w.Offsets) || noOffset(w.Offsets[si]) || noOffset(w.Offsets[ei]) {
					continue
				}
				if ei < si || ei-si+1 > opts.MaxAnswerLength {
					continue
				}
				prelim = append(prelim, Candidate{
					Start: w.Offsets[si][0], End: w.Offsets[ei][1],
					start: s[si], end: e[ei], score: s[si] + e[ei],
					Window: wi, StartToken: si, EndToken: ei,
				})
			}
		}
	}
	if opts.Version2WithNegative {
		prelim = append(prelim, null)
	}
	sort.SliceStable(prelim, func(i, j int) bool { return prelim[i].score > prelim[j].score })
	nbest := prelim[:min(len(prelim), opts.NBestSize)]
	if opts.Version2WithNegative {
		found := false
		for i := range nbest {
			if nbest[i].Start == 0 && nbest[i].End == 0 {
				found = true
				break
			}
		}
		if !found {
			nbest = append(nbest, null)
		}
	}

	// Text by character offsets, with Python's slicing rules.
	runeByte := runeToByte(ex.Context)
	nRunes := len(runeByte) - 1
	for i := range nbest {
		c := &nbest[i]
		a, b := min(max(c.Start, 0), nRunes), min(max(c.End, 0), nRunes)
		if b < a {
			b = a
		}
		c.ByteStart, c.ByteEnd = runeByte[a], runeByte[b]
		if c.Null {
			c.ByteStart, c.ByteEnd = 0, 0
		}
		c.Text = ex.Context[runeByte[a]:runeByte[b]]
	}

	placeholder := len(nbest) == 0 || len(nbest) == 1 && nbest[0].Text == ""
	if placeholder {
		ph := Candidate{Text: "empty", Placeholder: true, Window: -1, StartToken: -1, EndToken: -1, Start: -1, End: -1, ByteStart: -1, ByteEnd: -1}
		nbest = append([]Candidate{ph}, nbest...)
	}

	// Softmax over the n-best scores.
	if placeholder {
		scores := make([]float64, len(nbest))
		for i := range nbest {
			scores[i] = float64(nbest[i].score)
		}
		for i, p := range softmax(scores, exp64) {
			nbest[i].Probability = p
		}
	} else {
		scores := make([]float32, len(nbest))
		for i := range nbest {
			scores[i] = nbest[i].score
		}
		for i, p := range softmax(scores, npExp32) {
			nbest[i].Probability = float64(p)
		}
	}
	for i := range nbest {
		c := &nbest[i]
		c.StartLogit, c.EndLogit, c.Score = float64(c.start), float64(c.end), float64(c.score)
	}
	pred.NBest = nbest

	choose := func(c *Candidate) {
		pred.Text, pred.Probability, pred.Score = c.Text, c.Probability, c.Score
		if !c.Null && !c.Placeholder {
			pred.Start, pred.End, pred.ByteStart, pred.ByteEnd = c.Start, c.End, c.ByteStart, c.ByteEnd
			if c.End < c.Start {
				pred.End, pred.ByteEnd = c.Start, c.ByteStart
			}
		}
	}
	if !opts.Version2WithNegative {
		choose(&nbest[0])
		return pred, nil
	}

	pred.HasNullScoreDiff = true
	var nullEntry *Candidate
	for i := range nbest {
		if nbest[i].Null {
			nullEntry = &nbest[i]
			break
		}
	}
	if nullEntry == nil {
		// A real span with offsets (0, 0) took the null entry's place, as in HF.
		nullEntry = &null
	}
	best := -1
	for i := range nbest {
		if nbest[i].Text != "" {
			best = i
			break
		}
	}
	if best < 0 {
		// HF raises IndexError here; answer "" instead.
		choose(nullEntry)
		pred.Text = ""
		return pred, nil
	}
	diff := null.score - nbest[best].start
	diff -= nbest[best].end
	pred.NullScoreDiff = float64(diff)
	if diff > float32(opts.NullScoreDiffThreshold) {
		choose(nullEntry)
		pred.Text = ""
	} else {
		choose(&nbest[best])
	}
	return pred, nil
}

// noOffset reports whether a token carries no context offset (HF's None).
func noOffset(o [2]int) bool { return o[0] < 0 || o[1] < 0 }

// runeToByte returns the byte offset of every code point of s, plus len(s) at the end.
func runeToByte(s string) []int {
	t := make([]int, 0, len(s)+1)
	for i := range s {
		t = append(t, i)
	}
	return append(t, len(s))
}

// topIndexes returns np.argsort(x)[-1:-n-1:-1]: the indices of the n largest values, largest
// first, with numpy's ordering of equal values (see npArgsort32) and NaN above every number.
func topIndexes(x []float32, n int) []int {
	order := npArgsort32(x)
	n = min(n, len(order))
	top := make([]int, n)
	for i := range top {
		top[i] = order[len(order)-1-i]
	}
	return top
}

// softmax is HF's softmax over the n-best scores: exp(s - max(s)) / sum, in the scores' own
// precision (float32, or float64 when numpy promotes them because HF's placeholder, a Python
// float, is among them), with numpy's NaN-propagating max, its exp kernel for that precision and
// its pairwise summation.
func softmax[F float32 | float64](scores []F, exp func(F) F) []F {
	m := scores[0]
	for _, s := range scores[1:] {
		if m != m {
			break
		}
		if s > m || s != s {
			m = s
		}
	}
	ex := make([]F, len(scores))
	for i, s := range scores {
		ex[i] = exp(s - m)
	}
	sum := pairwiseSum(ex)
	out := make([]F, len(scores))
	for i := range ex {
		out[i] = ex[i] / sum
	}
	return out
}

// pairwiseSum is numpy's pairwise_sum (np.add.reduce on a contiguous float32 or float64
// array): a plain loop below 8 elements, eight interleaved accumulators up to 128, halving
// above. The summation order is what makes the result bit-identical to numpy's.
func pairwiseSum[F float32 | float64](a []F) F {
	n := len(a)
	switch {
	case n < 8:
		var res F
		for _, v := range a {
			res += v
		}
		return res
	case n <= 128:
		var r [8]F
		copy(r[:], a[:8])
		i := 8
		for ; i < n-n%8; i += 8 {
			for j := range 8 {
				r[j] += a[i+j]
			}
		}
		res := ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
		for ; i < n; i++ {
			res += a[i]
		}
		return res
	default:
		n2 := n / 2
		n2 -= n2 % 8
		return pairwiseSum(a[:n2]) + pairwiseSum(a[n2:])
	}
}
