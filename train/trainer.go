package train

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/spanqa/spanqa/data/batch"
	"github.com/spanqa/spanqa/data/features"
	"github.com/spanqa/spanqa/data/squad"
	"github.com/spanqa/spanqa/data/tokenize"
	"github.com/spanqa/spanqa/eval"
	"github.com/spanqa/spanqa/infer"
	"github.com/spanqa/spanqa/models"
	"github.com/spanqa/spanqa/torch"
	"github.com/spanqa/spanqa/torch/dist"
)

// Result summarises a finished (or interrupted) run.
type Result struct {
	GlobalStep  int64
	Epoch       float64
	TrainLoss   float64 // mean loss over the run's steps
	EvalEM      float64 // last evaluation (NaN when none ran)
	EvalF1      float64
	BestF1      float64
	Interrupted bool
	Runtime     time.Duration
	Sequences   int64 // training windows processed
	OutputDir   string
}

// Trainer runs one training job.
type Trainer struct {
	Args Args
	// Log receives progress: a bar on a terminal, plain lines otherwise.
	Log io.Writer
	// OnStep, when set, is called after every optimizer step (tests use it to stop a run at
	// an exact step by cancelling the context).
	OnStep func(step int64, r StepResult)
	// Dist, when set, makes this process one rank of a data-parallel job (see distributed.go):
	// each rank trains on its share of every global batch, gradients are averaged across
	// ranks, and rank 0 alone writes files and logs. Nil trains in this process alone.
	Dist *dist.Group

	tok             *tokenize.Tokenizer
	model           models.QAModel
	opt             *AdamW
	sched           Schedule
	loader          *batch.Loader
	evalEx          []squad.Example
	evalWin         []features.Window
	state           *TrainerState
	precision       *Precision
	logFile         *os.File
	trainWindows    int
	batchesPerEpoch int       // the loader's batches (micro-batches) in one epoch
	ddp             *ddpState // [dist] set while a data-parallel Run runs
}

// Run trains according to args; cancelling ctx (Ctrl-C) saves a checkpoint and returns
// cleanly with Result.Interrupted set.
func Run(ctx context.Context, args Args, logw io.Writer) (*Result, error) {
	return (&Trainer{Args: args, Log: logw}).Run(ctx)
}

func (t *Trainer) logf(format string, a ...any) { fmt.Fprintf(t.Log, format+"\n", a...) }

// Run trains; see the package-level Run.
func (t *Trainer) Run(ctx context.Context) (*Result, error) {
	if t.Log == nil {
		t.Log = os.Stderr
	}
	if !t.isMain() {
		t.Log = io.Discard // [dist] rank 0 alone reports
	}
	// libtorch keeps per-OS-thread state (OpenMP thread teams, grad mode): running the whole
	// job on one thread keeps CPU results bit-reproducible from run to run.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	a := &t.Args
	if err := a.Validate(); err != nil {
		return nil, err
	}
	dev, err := torch.ParseDevice(a.Device)
	if err != nil {
		return nil, err
	}
	if t.precision, err = NewPrecision(a.FP16, a.BF16, dev); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(a.OutputDir, 0o755); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	torch.ManualSeed(uint64(a.Seed))
	if t.tok, err = tokenize.Load(a.Model); err != nil {
		return nil, fmt.Errorf("train: tokenizer: %w", err)
	}
	if err := t.loadModel(dev); err != nil {
		return nil, err
	}
	defer t.model.Params().Free()
	if err := t.prepareData(); err != nil {
		return nil, err
	}
	t.opt = NewAdamW(t.model.Params(), a.AdamBeta1, a.AdamBeta2, a.AdamEpsilon, a.WeightDecay)
	defer t.opt.Free()
	t.planSteps()
	if err := t.restore(); err != nil {
		return nil, err
	}
	// [dist] Data parallel: same step and rank 0's weights everywhere; ctx becomes the loop's,
	// cancelled only once the ranks agree to stop.
	if ctx, err = t.distStart(ctx); err != nil {
		return nil, err
	}
	defer t.distStop()
	t.logf("train: %s, %d parameters; %d training windows, %d micro-batches/epoch, %d optimizer steps (warm-up %d); %s",
		t.model.Config().ModelType, t.model.Params().Count(), t.trainWindows, t.batchesPerEpoch, t.sched.TotalSteps, t.sched.WarmupSteps, t.opt)
	if t.logFile, err = t.openTrainLog(); err != nil { // [dist] rank 0 only
		return nil, fmt.Errorf("train: %w", err)
	}
	defer t.logFile.Close()
	res, err := t.loop(ctx)
	if err != nil {
		return res, err
	}
	if !res.Interrupted {
		if err := t.onMain("final model", func() error { return t.finish(res) }); err != nil { // [dist]
			return res, err
		}
	}
	return res, nil
}

func (t *Trainer) loadModel(dev torch.Device) error {
	a := &t.Args
	var err error
	if a.FromScratch {
		cfg, cerr := models.LoadConfig(filepath.Join(a.Model, "config.json"))
		if cerr != nil {
			return fmt.Errorf("train: %w", cerr)
		}
		if err := cfg.Override(a.ConfigOverrides); err != nil {
			return fmt.Errorf("train: %w", err)
		}
		t.model, err = models.New(cfg, dev)
	} else {
		t.model, err = models.Load(a.Model, models.LoadOptions{Device: dev, ConfigOverrides: a.ConfigOverrides, Log: log.New(t.Log, "", 0)})
	}
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	if a.GradientCheckpointing {
		if err := models.SetGradientCheckpointing(t.model, true); err != nil {
			return fmt.Errorf("train: %w", err)
		}
	}
	return nil
}

// prepareData reads the training data (examples, or ready-made windows in JSON Lines) and
// the evaluation examples, and cuts windows as run_qa.py does.
func (t *Trainer) prepareData() error {
	a := &t.Args
	fopts := features.Options{MaxLength: a.MaxSeqLength, Stride: a.DocStride, ModelLimit: int(t.model.Config().MaxLength())}
	var trainWin []features.Window
	if isWindowsFile(a.TrainFile) {
		f, err := os.Open(a.TrainFile)
		if err != nil {
			return fmt.Errorf("train: %w", err)
		}
		trainWin, err = features.ReadJSONL(f, a.TrainFile)
		f.Close()
		if err != nil {
			return fmt.Errorf("train: %w", err)
		}
	} else {
		ex, err := readExamples(a.TrainFile, a.squadOptions(), a.MaxTrainSamples, t.Log)
		if err != nil {
			return err
		}
		if trainWin, err = features.Train(ex, t.tok, fopts); err != nil {
			return fmt.Errorf("train: %w", err)
		}
	}
	if len(trainWin) == 0 {
		return fmt.Errorf("train: %s yields no training windows", a.TrainFile)
	}
	t.trainWindows = len(trainWin)
	var err error
	t.loader, err = batch.NewLoader(trainWin, batch.Config{
		BatchSize: t.globalBatchSize(), PadID: t.tok.PadID(), Shuffle: !a.NoShuffle, Seed: uint64(a.Seed), MaxLength: a.MaxSeqLength, // [dist] world * per-device
	})
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	if a.EvalFile != "" {
		if t.evalEx, err = readExamples(a.EvalFile, a.squadOptions(), a.MaxEvalSamples, t.Log); err != nil {
			return err
		}
		if t.evalWin, err = features.Eval(t.evalEx, t.tok, fopts); err != nil {
			return fmt.Errorf("train: eval windows: %w", err)
		}
	}
	return nil
}

// isWindowsFile tells `spanqa features` output (windows with input_ids) from SQuAD JSON Lines.
func isWindowsFile(path string) bool {
	if !strings.HasSuffix(path, ".jsonl") {
		return false
	}
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 4096)
	n, _ := f.Read(head)
	return strings.Contains(string(head[:n]), `"input_ids"`)
}

func readExamples(path string, opts squad.Options, limit int, logw io.Writer) ([]squad.Example, error) {
	ex, rep, err := squad.Read(path, opts)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	if n := rep.Skipped; n > 0 {
		fmt.Fprintf(logw, "train: %s: skipped %d invalid examples\n", path, n)
	}
	if limit > 0 && len(ex) > limit {
		ex = ex[:limit]
	}
	return ex, nil
}

// planSteps computes steps per epoch and the schedule as HF's Trainer does.
func (t *Trainer) planSteps() {
	a := &t.Args
	t.batchesPerEpoch = t.loader.NumBatches()
	stepsPerEpoch := int64(max(t.batchesPerEpoch/a.GradientAccumulationSteps, 1))
	total := a.MaxSteps
	if total <= 0 {
		total = int64(math.Ceil(a.NumTrainEpochs * float64(stepsPerEpoch)))
	}
	kind, _ := ParseScheduleKind(a.LRSchedulerType)
	t.sched = Schedule{Kind: kind, WarmupSteps: WarmupFor(a.WarmupSteps, a.WarmupRatio, total), TotalSteps: total}
	t.state = &TrainerState{MaxSteps: total, NumTrainEpochs: a.NumTrainEpochs, TrainBatchSize: a.PerDeviceTrainBatchSize,
		DataPosition: batch.Position{Epoch: 0, Batch: -1}}
}

// restore resumes from the newest checkpoint when --resume is set.
func (t *Trainer) restore() error {
	if !t.Args.Resume {
		return nil
	}
	cks, err := Checkpoints(t.Args.OutputDir)
	if err != nil {
		return fmt.Errorf("train: resume: %w", err)
	}
	if len(cks) == 0 {
		t.logf("train: --resume: no checkpoint in %s, starting fresh", t.Args.OutputDir)
		return nil
	}
	ck := cks[len(cks)-1]
	st, err := loadCheckpoint(ck, t.model, t.opt)
	if err != nil {
		return err
	}
	st.MaxSteps, st.NumTrainEpochs = t.state.MaxSteps, t.state.NumTrainEpochs
	t.state = st
	t.logf("train: resumed from %s (step %d, epoch %d, batch %d)", ck, st.GlobalStep, st.DataPosition.Epoch, st.DataPosition.Batch)
	return nil
}

// loop trains, an epoch at a time, until the planned number of optimizer steps. Evaluation and
// checkpoints come after steps (every EvalSteps, SaveSteps) and after each epoch; cancelling
// ctx stops it after the current step with a checkpoint.
func (t *Trainer) loop(ctx context.Context) (*Result, error) {
	run := t.startRun()
	defer run.progress.finish()
	epoch, from := t.state.DataPosition.Epoch, t.state.DataPosition.Batch+1
	if t.state.EpochDone {
		epoch, from = epoch+1, 0
	}
	for ; t.state.GlobalStep < t.sched.TotalSteps; epoch, from = epoch+1, 0 {
		if err := t.epoch(ctx, run, epoch, from); err != nil {
			return run.res, err
		}
		if ctx.Err() != nil {
			return t.interrupt(run)
		}
		if err := t.endEpoch(ctx, run.res); err != nil {
			return run.res, err
		}
	}
	run.end(t.state)
	if run.lossN > 0 {
		run.res.TrainLoss = run.lossSum / float64(run.lossN)
	}
	return run.res, nil
}

// epoch trains on the given epoch's batches from batch from on, one optimizer step per
// GradientAccumulationSteps batches. It returns nil at the epoch's end, after the run's last
// step, or when ctx is cancelled (the caller tells these apart); a remainder of fewer batches
// at the epoch's end takes no step, as planSteps counts only whole groups.
func (t *Trainer) epoch(ctx context.Context, run *runStats, epoch, from int) error {
	it := t.loader.Epoch(ctx, epoch, from)
	defer it.Close()
	var group []*batch.Batch // the batches whose gradients the next step accumulates
	for t.state.GlobalStep < t.sched.TotalSteps && ctx.Err() == nil {
		b, err := it.Next()
		if errors.Is(err, io.EOF) || err != nil && ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("train: data: %w", err)
		}
		if group = append(group, b); len(group) < t.Args.GradientAccumulationSteps {
			continue
		}
		sr, err := t.step(group)
		if err != nil {
			return err
		}
		t.advance(epoch, group)
		if err := t.afterStep(ctx, run, group, sr); err != nil {
			return err
		}
		group = group[:0]
	}
	return nil
}

// step takes one optimizer step on a group of batches at the schedule's learning rate: on all
// of their rows in a single process, on this rank's share of them data-parallel.
func (t *Trainer) step(group []*batch.Batch) (StepResult, error) {
	lr := t.Args.LearningRate * t.sched.Factor(t.state.GlobalStep)
	batches, sync := t.rankShare(group) // [dist]
	dev := t.model.Params().Device()
	micro := make([]MicroBatch, len(batches))
	for i, b := range batches {
		micro[i] = func(s *torch.Scope) models.Inputs { return infer.Inputs(s, b, dev) }
	}
	return Step(t.model, t.opt, micro, lr, StepOptions{MaxGradNorm: t.Args.MaxGradNorm, Precision: t.precision, Sync: sync})
}

// advance moves the trainer state past a step on group: the step count, and the data position
// and fractional epoch that a resumed run starts from.
func (t *Trainer) advance(epoch int, group []*batch.Batch) {
	t.state.GlobalStep++
	t.state.DataPosition = group[len(group)-1].Pos
	t.state.EpochDone = false
	t.state.Epoch = float64(epoch) + float64(t.state.DataPosition.Batch+1)/float64(t.batchesPerEpoch)
}

// afterStep counts and reports a step (progress, OnStep), then runs what is due at its step
// number: a log entry, an evaluation, a checkpoint.
func (t *Trainer) afterStep(ctx context.Context, run *runStats, group []*batch.Batch, sr StepResult) error {
	run.add(group, sr)
	if t.OnStep != nil {
		t.OnStep(t.state.GlobalStep, sr)
	}
	if t.due(t.Args.LoggingSteps) {
		// grad_norm and learning_rate are the logged step's own, the rate being the one its
		// update used: transformers 5 reads it before the scheduler steps.
		t.record(map[string]any{"loss": run.takeLogLoss(), "grad_norm": sr.GradNorm, "learning_rate": sr.LR})
	}
	if t.due(t.Args.EvalSteps) && t.evalEx != nil {
		if err := t.evaluate(ctx, run.res); err != nil {
			return err
		}
	}
	if t.due(t.Args.SaveSteps) {
		return t.checkpoint()
	}
	return nil
}

// due reports whether an every-n-steps action (n <= 0: never) falls on the current step.
func (t *Trainer) due(n int64) bool { return n > 0 && t.state.GlobalStep%n == 0 }

// endEpoch evaluates and checkpoints after an epoch or the run's last step, as HF's "epoch"
// evaluation and save strategies do.
func (t *Trainer) endEpoch(ctx context.Context, res *Result) error {
	t.state.EpochDone = t.state.DataPosition.Batch+1 >= t.batchesPerEpoch
	if t.evalEx != nil {
		if err := t.evaluate(ctx, res); err != nil {
			return err
		}
	}
	return t.checkpoint()
}

// interrupt ends a cancelled run with a checkpoint of its last step, from which --resume
// continues exactly.
func (t *Trainer) interrupt(run *runStats) (*Result, error) {
	t.logf("train: interrupted at step %d: saving a checkpoint", t.state.GlobalStep)
	run.res.Interrupted = true
	run.end(t.state)
	if t.state.GlobalStep == 0 {
		return run.res, nil
	}
	return run.res, t.checkpoint()
}

// runStats is what one Run accumulates for its Result, the progress display and the logged
// losses.
type runStats struct {
	res      *Result
	start    time.Time
	progress *progress
	// lossSum and lossN make Result.TrainLoss, the mean over the run's steps.
	lossSum float64
	lossN   int64
	// logSum and logN cover the steps since the last log entry: HF's Trainer logs under "loss"
	// their mean, not the last step's loss (which is far noisier), and so does train_log.jsonl,
	// so that the curves compare with HF's.
	logSum float64
	logN   int64
}

func (t *Trainer) startRun() *runStats {
	res := &Result{OutputDir: t.Args.OutputDir, EvalEM: math.NaN(), EvalF1: math.NaN(), BestF1: math.NaN()}
	if t.state.BestMetric != nil {
		res.BestF1 = *t.state.BestMetric
	}
	return &runStats{res: res, start: time.Now(), progress: newProgress(t.Log, t.sched.TotalSteps, t.state.GlobalStep)}
}

// add counts a finished step on group (all ranks' rows).
func (r *runStats) add(group []*batch.Batch, sr StepResult) {
	for _, b := range group {
		r.res.Sequences += int64(b.B)
	}
	r.lossSum += sr.Loss
	r.lossN++
	r.logSum += sr.Loss
	r.logN++
	r.progress.step(sr)
}

// takeLogLoss returns the mean loss since the last log entry and starts the next one.
func (r *runStats) takeLogLoss() float64 {
	mean := r.logSum / float64(r.logN)
	r.logSum, r.logN = 0, 0
	return mean
}

// end records in the Result where the run ended and how long it took.
func (r *runStats) end(st *TrainerState) {
	r.res.GlobalStep, r.res.Epoch, r.res.Runtime = st.GlobalStep, st.Epoch, time.Since(r.start)
}

// record appends a log-history entry (HF's log_history) and a line of train_log.jsonl.
func (t *Trainer) record(entry map[string]any) {
	entry["step"] = t.state.GlobalStep
	entry["epoch"] = t.state.Epoch // unrounded, as HF's log_history
	t.state.LogHistory = append(t.state.LogHistory, entry)
	if t.logFile != nil {
		if data, err := jsonLine(entry); err == nil {
			t.logFile.Write(data)
		}
	}
}

func (t *Trainer) checkpoint() error {
	if t.state.GlobalStep == 0 {
		return nil
	}
	return t.onMain("checkpoint", func() error { // [dist] rank 0 writes, the others wait
		path, err := saveCheckpoint(t.Args.OutputDir, t.model, t.opt, t.sched, t.state, &t.Args)
		if err != nil {
			return err
		}
		return rotateCheckpoints(t.Args.OutputDir, t.Args.SaveTotalLimit, t.bestPath(path))
	})
}

// bestPath is the checkpoint folder holding the best F1 so far; the one just written when it
// is the best.
func (t *Trainer) bestPath(just string) string {
	if t.state.BestModelCheckpoint == "" && t.state.BestMetric != nil {
		t.state.BestModelCheckpoint = just
	}
	return t.state.BestModelCheckpoint
}

// evaluate runs the evaluation set and logs EM/F1; a new best F1 marks the next checkpoint
// as the best.
func (t *Trainer) evaluate(ctx context.Context, res *Result) error {
	dir := filepath.Join(t.Args.OutputDir, "eval")
	rr, err := t.runEval(ctx, &eval.ModelPredictor{Model: t.model, PadID: t.tok.PadID()}, eval.RunConfig{ // [dist] sharded
		OutputDir: dir, BatchSize: t.Args.PerDeviceEvalBatchSize, SkipResultsFile: true,
		Options: eval.Options{Version2WithNegative: t.Args.Version2WithNegative},
	})
	if err != nil {
		return fmt.Errorf("train: evaluation at step %d: %w", t.state.GlobalStep, err)
	}
	em, f1 := exactF1(rr)
	res.EvalEM, res.EvalF1 = em, f1
	t.record(map[string]any{"eval_exact_match": em, "eval_f1": f1})
	t.logf("train: step %d epoch %.2f: eval exact_match %.2f f1 %.2f", t.state.GlobalStep, t.state.Epoch, em, f1)
	if t.state.BestMetric == nil || f1 > *t.state.BestMetric {
		best := f1
		t.state.BestMetric = &best
		t.state.BestModelCheckpoint = filepath.Join(t.Args.OutputDir, fmt.Sprintf("%s%d", checkpointPrefix, t.state.GlobalStep))
		res.BestF1 = f1
	}
	return nil
}

// finish writes the final model (with tokenizer files), trainer_state.json, the plot and
// eval_results.json into the output folder.
func (t *Trainer) finish(res *Result) error {
	a := &t.Args
	if err := models.Save(t.model, a.OutputDir); err != nil {
		return err
	}
	for _, f := range models.TokenizerFiles {
		src := filepath.Join(a.Model, f)
		if data, err := os.ReadFile(src); err == nil {
			if err := os.WriteFile(filepath.Join(a.OutputDir, f), data, 0o644); err != nil {
				return fmt.Errorf("train: %w", err)
			}
		}
	}
	t.record(map[string]any{"train_loss": res.TrainLoss, "train_runtime": res.Runtime.Seconds(),
		"train_samples_per_second": float64(res.Sequences) / res.Runtime.Seconds(),
		"train_steps_per_second":   float64(res.GlobalStep) / res.Runtime.Seconds()})
	if err := writeJSON(filepath.Join(a.OutputDir, "trainer_state.json"), t.state); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	if !math.IsNaN(res.EvalF1) {
		if err := writeJSON(filepath.Join(a.OutputDir, "eval_results.json"), map[string]any{
			"eval_exact_match": res.EvalEM, "eval_f1": res.EvalF1, "epoch": t.state.Epoch}); err != nil {
			return fmt.Errorf("train: %w", err)
		}
	}
	if !a.NoPlot {
		if err := Plot(t.state.LogHistory, filepath.Join(a.OutputDir, "training_plot.png")); err != nil {
			t.logf("train: plot: %v", err)
		}
	}
	t.logf("train: done: %d steps in %s (%.2f windows/s), train loss %.4f, eval EM %.2f F1 %.2f; model in %s",
		res.GlobalStep, res.Runtime.Round(time.Second), float64(res.Sequences)/res.Runtime.Seconds(), res.TrainLoss, res.EvalEM, res.EvalF1, a.OutputDir)
	if cfg := t.model.Config(); cfg.RelativePositions() {
		t.logf("train: note: this model uses position_embedding_type %s: transformers 4.x (up to 4.57) loads it as it is, "+
			"transformers 5.x loads it without an error but computes absolute positions instead, so its answers differ", cfg.PositionEmbeddingType)
	}
	return nil
}

// exactF1 picks EM and F1 from whichever metric ran.
func exactF1(rr *eval.RunResult) (em, f1 float64) {
	if rr.V2 != nil {
		return rr.V2.Exact, rr.V2.F1
	}
	if rr.V1 != nil {
		return rr.V1.ExactMatch, rr.V1.F1
	}
	return math.NaN(), math.NaN()
}
