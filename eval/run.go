package eval

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/spanqa/spanqa/data/features"
	"github.com/spanqa/spanqa/data/squad"
)

// Predictor computes start and end logits for a batch of windows: one row per window, each row
// at least as long as the window's IDs (padding positions may follow, as in HF's padded batches).
// The rows must stay valid after Logits returns (Run keeps them until their example is done).
// Run calls Logits from one goroutine of its own, one batch at a time, a batch ahead of
// post-processing.
type Predictor interface {
	Logits(ctx context.Context, batch []features.Window) (start, end [][]float32, err error)
}

// PredictorFunc adapts a function to Predictor.
type PredictorFunc func(ctx context.Context, batch []features.Window) (start, end [][]float32, err error)

// Logits calls f.
func (f PredictorFunc) Logits(ctx context.Context, batch []features.Window) ([][]float32, [][]float32, error) {
	return f(ctx, batch)
}

// RunConfig configures Run.
type RunConfig struct {
	// OutputDir receives the prediction files and eval_results.json; it is created if missing.
	OutputDir string
	// Prefix, when set, names the prediction files "<prefix>_predictions.json" etc. (HF's prefix).
	Prefix string
	// Options are the post-processing options; Options.Version2WithNegative also selects the
	// SQuAD v2.0 metric (HF's squad_v2) instead of SQuAD v1.1 (squad).
	Options Options
	// BatchSize is the number of windows per Predictor call; 0 means 8 (HF's
	// per_device_eval_batch_size).
	BatchSize int
	// Progress receives progress: a progress bar when it is a terminal, otherwise a log line per
	// 10% of the windows. Nil disables progress output.
	Progress io.Writer
	// SkipResultsFile disables eval_results.json (for callers that merge metrics themselves, like
	// per-epoch evaluation during training).
	SkipResultsFile bool
}

// RunResult is what Run computed.
type RunResult struct {
	// V1 or V2 holds the metrics, according to Options.Version2WithNegative.
	V1 *V1Result
	V2 *V2Result
	// Metrics are the entries of eval_results.json, keys sorted.
	Metrics []MetricValue
	// Predictions are the answers written to predictions.json.
	Predictions Predictions
	Examples    int
	Windows     int
	Batches     int
	Runtime     time.Duration
	// Files are the paths written.
	Files []string
}

// MetricValue is one entry of eval_results.json: its key and its JSON text as Python writes it.
type MetricValue struct {
	Key   string
	Value string
}

// lengthOrder returns the window indexes sorted by length, longest first (stable).
func lengthOrder(windows []features.Window) []int {
	order := make([]int, len(windows))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return len(windows[b].IDs) - len(windows[a].IDs) })
	return order
}

// Run evaluates a model on examples: windows go through the predictor in batches of similar
// length, each example is post-processed (PostProcessExample) as soon
// as all its windows have logits, and the predictions stream into predictions.json,
// nbest_predictions.json and, for SQuAD v2.0, null_odds.json (written under temporary names and
// renamed when complete). Finally the SQuAD metric is computed as HF's run_qa.py computes it
// (squad, or squad_v2 with no-answer probability 0.0 for every prediction and threshold 1.0) and
// written to eval_results.json as HF's Trainer.save_metrics writes it (keys prefixed "eval_",
// sorted, indent 4, with eval_samples = number of windows and the speed metrics).
func Run(ctx context.Context, p Predictor, examples []squad.Example, windows []features.Window, cfg RunConfig) (*RunResult, error) {
	startTime := time.Now()
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 8
	}
	opts := cfg.Options.withDefaults()
	if cfg.OutputDir == "" {
		return nil, errors.New("eval: run: no output directory")
	}
	if err := os.MkdirAll(cfg.OutputDir, 0o755); err != nil {
		return nil, fmt.Errorf("eval: run: %w", err)
	}

	// Windows of each example, in window order.
	perExample := make([][]int, len(examples))
	for i := range windows {
		w := &windows[i]
		if w.ExampleIndex < 0 || w.ExampleIndex >= len(examples) {
			return nil, fmt.Errorf("eval: run: window %d: example index %d out of range [0, %d)", i, w.ExampleIndex, len(examples))
		}
		if id := examples[w.ExampleIndex].ID; id != w.ExampleID {
			return nil, fmt.Errorf("eval: run: window %d: example index %d is example %s, but the window names %s", i, w.ExampleIndex, id, w.ExampleID)
		}
		perExample[w.ExampleIndex] = append(perExample[w.ExampleIndex], i)
	}
	if opts.Version2WithNegative {
		for e := range examples {
			if len(perExample[e]) == 0 {
				return nil, fmt.Errorf("eval: run: example %s has no window", examples[e].ID)
			}
		}
	}

	pw, err := NewPredictionWriter(cfg.OutputDir, cfg.Prefix, opts.Version2WithNegative)
	if err != nil {
		return nil, fmt.Errorf("eval: run: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			pw.Abort()
		}
	}()

	res := &RunResult{Examples: len(examples), Windows: len(windows), Predictions: make(Predictions, len(examples))}
	startRows := make([][]float32, len(windows))
	endRows := make([][]float32, len(windows))
	remaining := make([]int, len(examples))
	for e := range examples {
		remaining[e] = len(perExample[e])
	}
	next := 0 // the next example to write
	flush := func() error {
		for ; next < len(examples) && remaining[next] == 0; next++ {
			idx := perExample[next]
			ws := make([]*features.Window, len(idx))
			ss := make([][]float32, len(idx))
			es := make([][]float32, len(idx))
			for k, i := range idx {
				ws[k], ss[k], es[k] = &windows[i], startRows[i], endRows[i]
			}
			pred, err := PostProcessExample(&examples[next], ws, ss, es, opts)
			if err != nil {
				return err
			}
			for c := range pred.NBest {
				if w := pred.NBest[c].Window; w >= 0 {
					pred.NBest[c].Window = idx[w]
				}
			}
			for _, i := range idx {
				startRows[i], endRows[i] = nil, nil
			}
			pw.Add(&pred)
			res.Predictions[pred.ID] = pred.Text
		}
		return nil
	}

	// Batches of similar length, longest first: padding to each batch's longest window then
	// wastes little (SQuAD dev: most windows are far shorter than max_length, a few are full).
	// Examples are still written in their order, each once all its windows have logits.
	// The model runs one batch ahead of post-processing (see predictAhead), so n-best search
	// and file writes do not leave the model idle.
	bar := newProgress(cfg.Progress, len(windows))
	results, stop := predictAhead(ctx, p, windows, lengthOrder(windows), cfg.BatchSize)
	defer stop()
	for r := range results {
		idx, s, e := r.idx, r.start, r.end
		if r.err != nil {
			return nil, fmt.Errorf("eval: run: windows %v: %w", idx, r.err)
		}
		if len(s) != len(idx) || len(e) != len(idx) {
			return nil, fmt.Errorf("eval: run: windows %v: predictor returned %d start and %d end rows for %d windows", idx, len(s), len(e), len(idx))
		}
		for k, i := range idx {
			if err := checkRows(&windows[i], s[k], e[k]); err != nil {
				return nil, fmt.Errorf("eval: run: window %d: %w", i, err)
			}
			startRows[i], endRows[i] = s[k], e[k]
			remaining[windows[i].ExampleIndex]--
		}
		res.Batches++
		if err := flush(); err != nil {
			return nil, err // already "eval: post-process: ..."
		}
		bar.add(len(idx))
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("eval: run: %w", err)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	bar.finish()
	if err := pw.Commit(); err != nil {
		return nil, fmt.Errorf("eval: run: %w", err)
	}
	committed = true
	pn, nn, on := PredictionFiles(cfg.Prefix)
	res.Files = append(res.Files, filepath.Join(cfg.OutputDir, pn), filepath.Join(cfg.OutputDir, nn))
	if opts.Version2WithNegative {
		res.Files = append(res.Files, filepath.Join(cfg.OutputDir, on))
	}

	// Metrics, as run_qa.py computes them.
	if res.V1, res.V2, err = ComputeMetrics(examples, res.Predictions, opts.Version2WithNegative); err != nil {
		return nil, fmt.Errorf("eval: run: %w", err)
	}
	var members []pyKV
	if res.V2 != nil {
		members = res.V2.members()
	} else {
		members = res.V1.members()
	}
	res.Runtime = time.Since(startTime)
	for _, m := range members {
		res.Metrics = append(res.Metrics, MetricValue{"eval_" + m.Key, m.Value})
	}
	res.Metrics = append(res.Metrics, speedMetrics(res.Runtime, len(windows), res.Batches)...)
	sort.Slice(res.Metrics, func(i, j int) bool { return res.Metrics[i].Key < res.Metrics[j].Key })
	if !cfg.SkipResultsFile {
		path := filepath.Join(cfg.OutputDir, "eval_results.json")
		kv := make([]pyKV, len(res.Metrics))
		for i, m := range res.Metrics {
			kv[i] = pyKV(m)
		}
		// json.dump(metrics, f, indent=4, sort_keys=True): no trailing newline.
		if err := writeFileAtomic(path, pyObject(kv, 4, 0)); err != nil {
			return nil, fmt.Errorf("eval: run: %w", err)
		}
		res.Files = append(res.Files, path)
	}
	return res, nil
}

// ComputeMetrics scores predictions against examples as HF's run_qa.py does: with the squad metric
// (ScoreV1), or with squad_v2 (ScoreV2) when version2 is set, giving every prediction no-answer
// probability 0.0 in example order and threshold 1.0, so that the best_* entries are present.
func ComputeMetrics(examples []squad.Example, preds Predictions, version2 bool) (*V1Result, *V2Result, error) {
	d := DatasetFromExamples(examples)
	if !version2 {
		r, err := ScoreV1(d, preds)
		return r, nil, err
	}
	seen := make(map[string]bool, len(examples))
	var ids []string
	for i := range examples {
		id := examples[i].ID
		if _, ok := preds[id]; ok && !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	r, err := ScoreV2(d, preds, ZeroNoAnswerProbs(ids), 1.0)
	return nil, r, err
}

// speedMetrics are HF's eval_samples, eval_runtime (rounded to 4 decimals),
// eval_samples_per_second and eval_steps_per_second (3 decimals).
func speedMetrics(runtime time.Duration, samples, steps int) []MetricValue {
	rt := pyRound(runtime.Seconds(), 4)
	out := []MetricValue{{"eval_samples", strconv.Itoa(samples)}, {"eval_runtime", pyFloat(rt)}}
	if rt > 0 {
		out = append(out,
			MetricValue{"eval_samples_per_second", pyFloat(pyRound(float64(samples)/rt, 3))},
			MetricValue{"eval_steps_per_second", pyFloat(pyRound(float64(steps)/rt, 3))})
	}
	return out
}

// pyRound is Python's round(x, digits) for finite x: the float nearest to x's correctly rounded
// decimal form (ties to even on the exact binary value).
func pyRound(x float64, digits int) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return x
	}
	v, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'f', digits, 64), 64)
	return v
}

// progress reports evaluation progress: a progress bar on a terminal, log lines otherwise.
type progress struct {
	bar      *progressbar.ProgressBar
	w        io.Writer
	total    int
	done     int
	nextLog  int
	started  time.Time
	disabled bool
}

func newProgress(w io.Writer, total int) *progress {
	p := &progress{w: w, total: total, started: time.Now(), disabled: w == nil || total == 0}
	if p.disabled {
		return p
	}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription("eval"),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("windows"),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
		)
		return p
	}
	p.nextLog = (total + 9) / 10
	return p
}

func (p *progress) add(n int) {
	if p.disabled {
		return
	}
	p.done += n
	if p.bar != nil {
		_ = p.bar.Add(n)
		return
	}
	if p.done < p.nextLog && p.done < p.total {
		return
	}
	fmt.Fprintf(p.w, "eval: %d/%d windows (%d%%), %s\n", p.done, p.total, 100*p.done/p.total, time.Since(p.started).Round(time.Millisecond))
	for p.nextLog <= p.done {
		p.nextLog += (p.total + 9) / 10
	}
}

func (p *progress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}

// batchLogits is one batch's predictor result: idx are the windows' indexes.
type batchLogits struct {
	idx        []int
	start, end [][]float32
	err        error
}

// predictAhead runs p over windows in batches of batchSize taken from order, on a goroutine of
// its own, at most one batch ahead of the reader of results: the model computes batch k+1 while
// the caller post-processes batch k. results is closed after the last batch, after an error (the
// last value sent) or when ctx is done; stop (call it once) makes the goroutine quit early and
// waits for it, so that no forward pass outlives the caller.
func predictAhead(ctx context.Context, p Predictor, windows []features.Window, order []int, batchSize int) (results <-chan batchLogits, stop func()) {
	out := make(chan batchLogits, 1)
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		defer close(out)
		for lo := 0; lo < len(order); lo += batchSize {
			if ctx.Err() != nil {
				return
			}
			r := batchLogits{idx: order[lo:min(lo+batchSize, len(order))]}
			batch := make([]features.Window, len(r.idx))
			for k, i := range r.idx {
				batch[k] = windows[i]
			}
			r.start, r.end, r.err = p.Logits(ctx, batch)
			select {
			case out <- r:
			case <-quit:
				return
			}
			if r.err != nil {
				return
			}
		}
	}()
	return out, func() {
		close(quit)
		<-done
	}
}
