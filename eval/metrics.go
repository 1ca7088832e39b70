package eval

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
)

// The metrics below follow the official SQuAD scripts step by step, including the order in which
// floating-point values are added, so that every number equals the scripts' output exactly (the
// golden outputs were made with CPython 3.11, whose sum() adds floats left to right without
// compensation):
//
//   - evaluate-v1.1.py: per question the max over gold answers of exact match and, separately, of
//     token F1; a missing prediction scores 0 and still counts; unknown ids are ignored;
//     exact_match = 100.0 * sum / total, f1 likewise.
//   - evaluate-v2.0.py: gold answers that normalise to "" are dropped, a question left without
//     any has [""] as its gold; F1 is 1 when both token lists are empty and 0 when only one is;
//     totals count the questions that have a prediction; na_prob > thresh makes a question an
//     abstention; best_exact/best_f1 come from the raw scores.

// ExactMatch reports whether prediction and gold are equal after NormalizeAnswer (the official
// scripts' exact_match_score / compute_exact).
func ExactMatch(prediction, gold string) bool {
	return NormalizeAnswer(prediction) == NormalizeAnswer(gold)
}

// F1V1 is evaluate-v1.1.py's f1_score: the token F1 of the normalised prediction against the
// normalised gold; 0 when they share no token (even when both are empty).
func F1V1(prediction, gold string) float64 {
	return tokenF1V1(answerTokens(prediction), answerTokens(gold))
}

// F1V2 is evaluate-v2.0.py's compute_f1: as F1V1, except that when either side has no token the
// score is 1 if both have none and 0 otherwise.
func F1V2(prediction, gold string) float64 {
	return tokenF1V2(answerTokens(prediction), answerTokens(gold))
}

// commonTokens is sum((Counter(pred) & Counter(gold)).values()).
func commonTokens(pred, gold []string) int {
	if len(pred) == 0 || len(gold) == 0 {
		return 0
	}
	counts := make(map[string]int, len(gold))
	for _, t := range gold {
		counts[t]++
	}
	n := 0
	for _, t := range pred {
		if counts[t] > 0 {
			counts[t]--
			n++
		}
	}
	return n
}

// tokenF1 is the shared tail of both F1 functions: precision, recall and their harmonic mean in
// the scripts' order of operations.
func tokenF1(numSame, numPred, numGold int) float64 {
	precision := float64(numSame) / float64(numPred)
	recall := float64(numSame) / float64(numGold)
	num := float64(2 * precision)
	num = float64(num * recall)
	return num / float64(precision+recall)
}

func tokenF1V1(pred, gold []string) float64 {
	n := commonTokens(pred, gold)
	if n == 0 {
		return 0
	}
	return tokenF1(n, len(pred), len(gold))
}

func tokenF1V2(pred, gold []string) float64 {
	if len(pred) == 0 || len(gold) == 0 {
		if len(pred) == len(gold) {
			return 1
		}
		return 0
	}
	n := commonTokens(pred, gold)
	if n == 0 {
		return 0
	}
	return tokenF1(n, len(pred), len(gold))
}

// QuestionScore is the score of one question.
type QuestionScore struct {
	ID string
	// Exact is 0 or 1, F1 in [0, 1]: the max over gold answers (v1.1), or the raw scores before
	// any no-answer threshold (v2.0's get_raw_scores).
	Exact float64
	F1    float64
	// HasAnswer is the question's has-answer flag (v2.0 only).
	HasAnswer bool
	// Missing marks a question without a prediction (v1.1 only: it scores 0).
	Missing bool
}

// V1Result is the output of evaluate-v1.1.py.
type V1Result struct {
	ExactMatch float64
	F1         float64
	// Total is the number of questions in the data set (the denominator).
	Total int
	// Questions holds one score per data set question, in data set order, missing ones included.
	Questions []QuestionScore
	// Unanswered are the ids without a prediction, in data set order (the script's stderr lines).
	Unanswered []string
}

// PyJSON returns the text Python's json.dumps prints for the result ({"exact_match": ..,
// "f1": ..}); indent < 0 gives the one-line form the official script prints.
func (r *V1Result) PyJSON(indent int) string {
	return pyObject(r.members(), indent, 0)
}

func (r *V1Result) members() []pyKV {
	return []pyKV{{"exact_match", pyFloat(r.ExactMatch)}, {"f1", pyFloat(r.F1)}}
}

// MarshalJSON writes {"exact_match", "f1"} in the official key order.
func (r *V1Result) MarshalJSON() ([]byte, error) { return []byte(r.PyJSON(-1)), nil }

// ScoreV1 scores predictions against the data set with the rules of evaluate-v1.1.py. It fails
// where the script fails: on an empty data set and on a question without any gold answer.
func ScoreV1(d *Dataset, preds Predictions) (*V1Result, error) {
	res := &V1Result{Total: len(d.Questions), Questions: make([]QuestionScore, 0, len(d.Questions))}
	if res.Total == 0 {
		return nil, errors.New("eval: score v1.1: the data set has no question (the official script divides by zero)")
	}
	var exact, f1 float64
	for i := range d.Questions {
		q := &d.Questions[i]
		pred, ok := preds[q.ID]
		if !ok {
			res.Unanswered = append(res.Unanswered, q.ID)
			res.Questions = append(res.Questions, QuestionScore{ID: q.ID, Missing: true, HasAnswer: q.HasAnswer()})
			continue
		}
		if len(q.Answers) == 0 {
			return nil, fmt.Errorf("eval: score v1.1: question %s has no gold answer (use the v2.0 rules)", q.ID)
		}
		predNorm := NormalizeAnswer(pred)
		predToks := pySplit(predNorm)
		var qe, qf float64
		for j, g := range q.Answers {
			goldNorm := NormalizeAnswer(g)
			e := 0.0
			if predNorm == goldNorm {
				e = 1
			}
			f := tokenF1V1(predToks, pySplit(goldNorm))
			if j == 0 || e > qe {
				qe = e
			}
			if j == 0 || f > qf {
				qf = f
			}
		}
		exact += qe
		f1 += qf
		res.Questions = append(res.Questions, QuestionScore{ID: q.ID, Exact: qe, F1: qf, HasAnswer: true})
	}
	res.ExactMatch = float64(100.0*exact) / float64(res.Total)
	res.F1 = float64(100.0*f1) / float64(res.Total)
	return res, nil
}

// Breakdown is the HasAns_* or NoAns_* part of a v2.0 result.
type Breakdown struct {
	Exact, F1 float64
	Total     int
}

// BestThresholds are the best_* entries of a v2.0 result, present when no-answer probabilities
// were given.
type BestThresholds struct {
	BestExact       float64
	BestExactThresh NoAnswerProb
	BestF1          float64
	BestF1Thresh    NoAnswerProb
}

// V2Result is the output of evaluate-v2.0.py: an ordered dictionary with the keys exact, f1,
// total, HasAns_exact, HasAns_f1, HasAns_total, NoAns_exact, NoAns_f1, NoAns_total, best_exact,
// best_exact_thresh, best_f1, best_f1_thresh (the breakdowns only when the data set has such
// questions, best_* only with no-answer probabilities).
type V2Result struct {
	Exact, F1 float64
	// Total is the number of data set questions that have a prediction.
	Total  int
	HasAns *Breakdown
	NoAns  *Breakdown
	Best   *BestThresholds
	// Questions are the raw per-question scores (get_raw_scores) of the questions that have a
	// prediction, in data set order.
	Questions []QuestionScore
}

func thresholdText(p NoAnswerProb) string {
	if p.IsInt {
		return strconv.FormatFloat(p.Prob, 'f', -1, 64)
	}
	return pyFloat(p.Prob)
}

// members returns the result's keys and JSON-encoded values in the official order.
func (r *V2Result) members() []pyKV {
	m := []pyKV{{"exact", pyFloat(r.Exact)}, {"f1", pyFloat(r.F1)}, {"total", strconv.Itoa(r.Total)}}
	for _, b := range []struct {
		prefix string
		b      *Breakdown
	}{{"HasAns", r.HasAns}, {"NoAns", r.NoAns}} {
		if b.b != nil {
			m = append(m, pyKV{b.prefix + "_exact", pyFloat(b.b.Exact)}, pyKV{b.prefix + "_f1", pyFloat(b.b.F1)},
				pyKV{b.prefix + "_total", strconv.Itoa(b.b.Total)})
		}
	}
	if r.Best != nil {
		m = append(m, pyKV{"best_exact", pyFloat(r.Best.BestExact)}, pyKV{"best_exact_thresh", thresholdText(r.Best.BestExactThresh)},
			pyKV{"best_f1", pyFloat(r.Best.BestF1)}, pyKV{"best_f1_thresh", thresholdText(r.Best.BestF1Thresh)})
	}
	return m
}

// PyJSON returns the text Python's json.dumps(out_eval, indent=indent) gives; the official script
// prints indent 2; indent < 0 gives the one-line form.
func (r *V2Result) PyJSON(indent int) string {
	return pyObject(r.members(), indent, 0)
}

// MarshalJSON writes the result with the official keys in the official order.
func (r *V2Result) MarshalJSON() ([]byte, error) { return []byte(r.PyJSON(-1)), nil }

// MissingPredictionsError is returned by ScoreV2 when data set questions have no prediction: the
// official v2.0 script prints "Missing prediction for <id>" for each (IDs, in data set order) and
// then fails with KeyError on KeyErrorID while computing the HasAns/NoAns breakdown.
type MissingPredictionsError struct {
	IDs        []string
	KeyErrorID string
}

// Error describes the missing predictions and the official script's failure.
func (e *MissingPredictionsError) Error() string {
	return fmt.Sprintf("eval: score v2.0: %d questions have no prediction, first %s (the official script fails with KeyError: '%s')",
		len(e.IDs), e.IDs[0], e.KeyErrorID)
}

// orderedScores is a Python dict from question id to score: first insertion fixes the position,
// the last assignment the value.
type orderedScores struct {
	ids []string
	val map[string]float64
}

func newOrderedScores(n int) *orderedScores {
	return &orderedScores{ids: make([]string, 0, n), val: make(map[string]float64, n)}
}

func (o *orderedScores) set(id string, v float64) {
	if _, ok := o.val[id]; !ok {
		o.ids = append(o.ids, id)
	}
	o.val[id] = v
}

// ScoreV2 scores predictions with the rules of evaluate-v2.0.py. naProbs are the no-answer
// probabilities (--na-prob-file); nil means none, as when the script runs without the file (every
// probability 0.0, no best_* entries). thresh is --na-prob-thresh (the script's default is 1.0).
//
// Where the official script fails, ScoreV2 returns an error: *MissingPredictionsError when a
// question has no prediction, an error when a predicted question has no no-answer probability, and
// an error when no question has a prediction (division by zero).
func ScoreV2(d *Dataset, preds Predictions, naProbs NoAnswerProbs, thresh float64) (*V2Result, error) {
	// qid_to_has_ans, has_ans_qids, no_ans_qids.
	hasAns := map[string]bool{}
	var qids []string
	for i := range d.Questions {
		q := &d.Questions[i]
		if _, ok := hasAns[q.ID]; !ok {
			qids = append(qids, q.ID)
		}
		hasAns[q.ID] = q.HasAnswer()
	}

	// get_raw_scores.
	exactRaw, f1Raw := newOrderedScores(len(d.Questions)), newOrderedScores(len(d.Questions))
	var missing []string
	for i := range d.Questions {
		q := &d.Questions[i]
		var golds [][]string
		var goldNorms []string
		for _, a := range q.Answers {
			if n := NormalizeAnswer(a); n != "" {
				goldNorms = append(goldNorms, n)
				golds = append(golds, pySplit(n))
			}
		}
		if len(golds) == 0 {
			goldNorms, golds = []string{""}, [][]string{nil}
		}
		pred, ok := preds[q.ID]
		if !ok {
			missing = append(missing, q.ID)
			continue
		}
		predNorm := NormalizeAnswer(pred)
		predToks := pySplit(predNorm)
		var qe, qf float64
		for j := range golds {
			e := 0.0
			if predNorm == goldNorms[j] {
				e = 1
			}
			f := tokenF1V2(predToks, golds[j])
			if j == 0 || e > qe {
				qe = e
			}
			if j == 0 || f > qf {
				qf = f
			}
		}
		exactRaw.set(q.ID, qe)
		f1Raw.set(q.ID, qf)
	}

	// The default probabilities: {k: 0.0 for k in preds}.
	probs := map[string]float64{}
	if naProbs == nil {
		for id := range preds {
			probs[id] = 0
		}
	} else {
		for _, p := range naProbs {
			probs[p.ID] = p.Prob
		}
	}

	// apply_no_ans_threshold.
	threshold := func(raw *orderedScores) (*orderedScores, error) {
		out := newOrderedScores(len(raw.ids))
		for _, id := range raw.ids {
			p, ok := probs[id]
			if !ok {
				return nil, fmt.Errorf("eval: score v2.0: question %s has a prediction but no no-answer probability", id)
			}
			if p > thresh {
				v := 1.0
				if hasAns[id] {
					v = 0
				}
				out.set(id, v)
			} else {
				out.set(id, raw.val[id])
			}
		}
		return out, nil
	}
	exactT, err := threshold(exactRaw)
	if err != nil {
		return nil, err
	}
	f1T, err := threshold(f1Raw)
	if err != nil {
		return nil, err
	}

	if len(missing) > 0 {
		e := &MissingPredictionsError{IDs: missing}
		for _, want := range []bool{true, false} {
			for _, id := range qids {
				if _, ok := exactT.val[id]; hasAns[id] == want && !ok && e.KeyErrorID == "" {
					e.KeyErrorID = id
				}
			}
		}
		return nil, e
	}

	res := &V2Result{Total: len(exactT.ids)}
	if res.Total == 0 {
		return nil, errors.New("eval: score v2.0: no question has a prediction (the official script divides by zero)")
	}
	res.Exact, res.F1 = meanPercent(exactT, exactT.ids), meanPercent(f1T, f1T.ids)
	for _, want := range []bool{true, false} {
		var sub []string
		for _, id := range qids {
			if hasAns[id] == want {
				sub = append(sub, id)
			}
		}
		if len(sub) == 0 {
			continue
		}
		b := &Breakdown{Exact: meanPercent(exactT, sub), F1: meanPercent(f1T, sub), Total: len(sub)}
		if want {
			res.HasAns = b
		} else {
			res.NoAns = b
		}
	}

	if naProbs != nil {
		numNoAns := 0
		for _, id := range qids {
			if !hasAns[id] {
				numNoAns++
			}
		}
		// sorted(na_probs, key=lambda k: na_probs[k]): a stable sort of the file's keys.
		order := make([]NoAnswerProb, len(naProbs))
		copy(order, naProbs)
		sort.SliceStable(order, func(i, j int) bool { return order[i].Prob < order[j].Prob })
		best := func(raw *orderedScores) (float64, NoAnswerProb) {
			cur := float64(numNoAns)
			bestScore := cur
			bestThresh := NoAnswerProb{}
			for _, p := range order {
				s, ok := raw.val[p.ID]
				if !ok {
					continue
				}
				var diff float64
				switch {
				case hasAns[p.ID]:
					diff = s
				case preds[p.ID] != "":
					diff = -1
				}
				cur += diff
				if cur > bestScore {
					bestScore = cur
					bestThresh = p
				}
			}
			return float64(100.0*bestScore) / float64(len(raw.ids)), bestThresh
		}
		b := &BestThresholds{}
		b.BestExact, b.BestExactThresh = best(exactRaw)
		b.BestF1, b.BestF1Thresh = best(f1Raw)
		res.Best = b
	}

	res.Questions = make([]QuestionScore, len(exactRaw.ids))
	for i, id := range exactRaw.ids {
		res.Questions[i] = QuestionScore{ID: id, Exact: exactRaw.val[id], F1: f1Raw.val[id], HasAnswer: hasAns[id]}
	}
	return res, nil
}

// meanPercent is 100.0 * sum(scores[k] for k in ids) / len(ids), summed left to right.
func meanPercent(s *orderedScores, ids []string) float64 {
	sum := 0.0
	for _, id := range ids {
		sum += s.val[id]
	}
	return float64(100.0*sum) / float64(len(ids))
}
