package bench

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"

	"github.com/spanqa/spanqa/data/batch"
	"github.com/spanqa/spanqa/data/features"
	"github.com/spanqa/spanqa/infer"
	"github.com/spanqa/spanqa/models"
	"github.com/spanqa/spanqa/torch"
	"github.com/spanqa/spanqa/train"
)

// Options configure a benchmark run.
type Options struct {
	// Device is where the models run.
	Device torch.Device
	// Models is a comma-separated list (bert, roberta, deberta, longformer, or checkpoint names);
	// empty means every architecture this build supports.
	Models string
	// Phases is a comma-separated subset of infer/seed, infer/spanqa, train/seed, train/spanqa
	// (or train, infer, seed, spanqa); empty means all four.
	Phases string
	// Steps is the number of timed steps (strata) per phase; 0 means 4, or 2 with Quick.
	Steps int
	// Quick is a short validation run: two timed steps per phase, and only BERT unless Models
	// names others.
	Quick bool
	// TrainBatch and EvalBatch override the per-architecture batch sizes (0 keeps them).
	TrainBatch, EvalBatch int
	// Data is a SQuAD v1.1 file whose windows give the lengths; "" looks in ../shared/data and
	// falls back to the recorded histogram; "recorded" forces the histogram.
	Data string
	// Threads sets libtorch's intra-op threads; 0 picks them from the machine's load (see
	// autoThreads), and a negative value keeps libtorch's setting (one per CPU, or
	// $SPANQA_NUM_THREADS).
	Threads int
	// BF16 runs steps under bfloat16 autocast (train.Precision, HF's --bf16); the roofline is
	// then the bfloat16 GEMM rate. Meant for CUDA; CPUs without bf16 units are slow at it.
	BF16 bool
	// GradientCheckpointing turns on HF's gradient checkpointing for the training phases
	// (models.SetGradientCheckpointing): less activation memory for one more forward per step.
	GradientCheckpointing bool
	// Seed fixes the weights, the data order and the synthetic windows.
	Seed uint64
	// Retries is how many times a timed step is run again when other processes kept more than
	// a quarter of a core busy during it (the least disturbed run counts); 0 means 2, or none with
	// Quick; negative means none.
	Retries int
	// NoProfile turns off the CPU profile of each phase (the Go share then goes unreported).
	NoProfile bool
	// ProfileDir keeps each phase's CPU profile there (<model>-<phase>.pprof) for go tool pprof.
	ProfileDir string
	// ChildCommand, when set, runs each model in a process of its own: the command line of a
	// process that calls RunChild with the spec file appended as its last argument (spanqa's is
	// `spanqa bench --child`). A fresh process per model gives each its own peak memory and
	// libtorch state, as HF's baseline protocol did, and an out-of-memory kill (Longformer's
	// 4096-token training batches on a small machine) costs one phase instead of the run.
	ChildCommand []string `json:"-"`
	// OnModel, when not nil, sees the report after each model (to save partial results).
	OnModel func(*Report) `json:"-"`
	// Log receives progress lines (nil: none).
	Log io.Writer `json:"-"`
}

// The four phases of each model. The seed's are run_qa.py's defaults: every window padded to
// max_seq_length, batches in random order (training) or data order (evaluation). spanqa's pad
// each batch to its longest window (rounded up to a multiple of 8), with length-bucketed batches:
// batch.Order's buckets of 50 batches for training, all windows sorted by length for inference
// (the order of inference batches does not change the predictions). Inference runs first, so its
// peak memory is not inflated by the optimizer state and the allocator's leftovers of training.
var phaseNames = []string{"infer/seed", "infer/spanqa", "train/seed", "train/spanqa"}

// cleanOtherCores is how busy other processes may keep the machine during a step that counts as
// undisturbed: a quarter of a core (HF's CPU baseline kept runs below 5% of one).
const cleanOtherCores = 0.25

// Training hyper-parameters of the measured step (the seed recipe's); they do not change speed.
const (
	learningRate = 3e-5
	maxGradNorm  = 1.0
	weightDecay  = 0.01
)

// Run measures every selected model and returns the report. It pins the calling goroutine to
// its OS thread for the whole run: libtorch keeps per-thread state (the OpenMP team, grad mode),
// and steps must not migrate between threads.
func Run(ctx context.Context, opt Options) (*Report, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	threadsNote := "libtorch default"
	switch {
	case opt.Threads == 0:
		var others float64
		opt.Threads, others = autoThreads(2 * time.Second)
		threadsNote = fmt.Sprintf("auto: other processes kept %.2f of %d cores busy", others, runtime.NumCPU())
		logf(opt.Log, "bench: %d libtorch threads (%s)", opt.Threads, threadsNote)
	case opt.Threads > 0:
		threadsNote = "set"
	}
	if opt.Threads > 0 {
		torch.SetNumThreads(opt.Threads)
	}
	if opt.Steps <= 0 {
		opt.Steps = 4
		if opt.Quick {
			opt.Steps = 2
		}
	}
	switch {
	case opt.Retries < 0 || (opt.Retries == 0 && opt.Quick):
		opt.Retries = 0
	case opt.Retries == 0:
		opt.Retries = 2
	}
	if opt.Quick && opt.Models == "" {
		opt.Models = "bert"
	}
	if opt.Seed == 0 {
		opt.Seed = 42
	}
	phases, err := selectPhases(opt.Phases)
	if err != nil {
		return nil, err
	}
	as, err := selectArchs(opt.Models)
	if err != nil {
		return nil, err
	}
	if err := torch.CheckVersion(); err != nil {
		return nil, err
	}
	r := &Report{
		Schema:  Schema,
		Source:  "spanqa",
		Created: time.Now().UTC().Format(time.RFC3339),
		Device:  opt.Device.String(),
		Quick:   opt.Quick,
		Host: Host{
			CPUModel: cpuModel(), CPUs: runtime.NumCPU(), Threads: torch.NumThreads(), ThreadsNote: threadsNote,
			Libtorch: torch.RuntimeVersion(), Go: runtime.Version(), LoadStart: loadAvg(),
		},
	}
	// Inspect also times a GEMM (about a second); it is the only way to the mapped BLAS list.
	if rep := torch.Inspect(); len(rep.BLAS) > 0 {
		r.Host.BLAS = rep.BLAS
	}
	logf(opt.Log, "bench: measuring the GEMM roofline on %s", opt.Device)
	reps := 5
	if opt.Quick {
		reps = 3
	}
	dt := torch.Float32
	if opt.BF16 {
		dt = torch.BFloat16
	}
	r.Precision = dt.String()
	r.GradientCheckpointing = opt.GradientCheckpointing
	r.Roofline = measureRoofline(opt.Device, dt, reps)
	for i := range as {
		if err := ctx.Err(); err != nil {
			return r, err
		}
		var mr *ModelResult
		if len(opt.ChildCommand) > 0 {
			mr, err = runModelIsolated(ctx, &as[i], phases, &opt, r.Roofline.GFLOPs)
		} else {
			mr, err = runModel(ctx, &as[i], phases, &opt, r.Roofline.GFLOPs, nil)
		}
		if err != nil {
			return r, err
		}
		r.Models = append(r.Models, *mr)
		r.Host.LoadEnd = loadAvg()
		if opt.OnModel != nil {
			opt.OnModel(r)
		}
	}
	return r, nil
}

// selectPhases resolves Options.Phases.
func selectPhases(list string) ([]string, error) {
	if list == "" {
		return phaseNames, nil
	}
	var out []string
	for _, p := range phaseNames {
		mode, setting, _ := cutPhase(p)
		for _, want := range splitList(list) {
			if want == p || want == mode || want == setting {
				out = append(out, p)
				break
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("bench: phases %q: want some of %v", list, phaseNames)
	}
	return out, nil
}

// runModel builds one architecture with random weights and runs its phases.
//
// A phase that fails (libtorch out of memory, say) is recorded with its error and the next one
// runs; onPhase, when not nil, sees the result after every phase.
func runModel(ctx context.Context, a *arch, phases []string, opt *Options, roofline float64, onPhase func(*ModelResult)) (*ModelResult, error) {
	cfg, err := a.config()
	if err != nil {
		return nil, err
	}
	mr := &ModelResult{Key: a.Key, Name: a.Name, ModelType: cfg.ModelType, Config: json.RawMessage(compactJSON(a.Config)), MaxLength: a.MaxLength,
		Layout: Layout{CLS: a.CLS, SEP: a.SEP, Pad: a.Pad, DoubleSep: a.DoubleSep, TypeIDs: a.TypeIDs}}
	ws, src, err := windowsFor(a, cfg, opt)
	if err != nil {
		return nil, err
	}
	mr.Windows, mr.Lengths = len(ws), src
	lengths := make([]int, len(ws))
	for i := range ws {
		lengths[i] = len(ws[i].IDs)
	}

	torch.ManualSeed(opt.Seed)
	logf(opt.Log, "bench: %s: building the model (random weights) on %s", a.Name, opt.Device)
	m, err := models.New(cfg, opt.Device)
	if err != nil {
		return nil, err
	}
	defer m.Params().Free()
	if opt.GradientCheckpointing {
		if err := models.SetGradientCheckpointing(m, true); err != nil {
			return nil, err
		}
	}
	for _, name := range m.Params().Names() {
		mr.Parameters += m.Params().Get(name).Numel()
	}
	if err := torch.Catch(func() { randomBiases(m, cfg.InitializerRange) }); err != nil {
		return nil, err
	}
	var adam *train.AdamW
	defer func() {
		if adam != nil {
			adam.Free()
		}
	}()

	for _, name := range phases {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		mode, setting, _ := cutPhase(name)
		b := phaseBatch(a, opt, name)
		if mode == "train" {
			if adam == nil {
				adam = train.NewAdamW(m.Params(), 0.9, 0.999, 1e-8, weightDecay)
			}
		}
		bc := batchConfig(mode, setting, b, a.MaxLength, a.Pad, len(ws), opt.Seed)
		plan := planEpoch(lengths, bc, opt.Steps, func(idx []int, l int) float64 {
			f := ForwardFLOPs(cfg, len(idx), l, globalTokens(ws, idx))
			if mode == "train" {
				f *= TrainFactor
			}
			return f
		})
		for k := range plan.Strata {
			for _, w := range plan.Strata[k].rep {
				plan.Strata[k].RepRows = append(plan.Strata[k].RepRows, [2]int{len(ws[w].IDs), questionTokens(&ws[w])})
			}
		}
		logf(opt.Log, "bench: %s %s: %d batches of %d, mean padded length %.0f; timing %d steps", a.Name, name, plan.Batches, b, plan.MeanL, len(plan.Strata))
		pr, err := runPhase(ctx, m, adam, ws, name, bc, &plan, opt)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			logf(opt.Log, "bench: %s %s: %v", a.Name, name, err)
			pr = failedPhase(name, bc.BatchSize, err.Error())
		} else {
			pr.finish(&plan, roofline)
			pr.addBaseline(a.Name, opt.Device)
			logf(opt.Log, "bench: %s %s: %.3f seq/s, MFU %.1f%%", a.Name, name, pr.SeqPerSec, 100*pr.MFU)
		}
		mr.Phases = append(mr.Phases, *pr)
		mr.setSpeedups()
		if onPhase != nil {
			onPhase(mr)
		}
	}
	return mr, nil
}

// phaseBatch is the batch size of a phase: the architecture's default on the device unless
// the options set one.
func phaseBatch(a *arch, opt *Options, phase string) int {
	trainB, evalB := a.batchSizes(opt.Device)
	if mode, _, _ := cutPhase(phase); mode == "train" {
		return cmp.Or(opt.TrainBatch, trainB)
	}
	return cmp.Or(opt.EvalBatch, evalB)
}

// randomBiases draws every bias from N(0, std). HF's initialisation zeroes them, and then a
// padded position, whose embedding DeBERTa zeroes and whose attention is fully masked, reaches
// each LayerNorm as a constant row: with DeBERTa's eps of 1e-7 its gradient is scaled by
// 1/sqrt(eps) at every norm, and a base-size model's first update already turns the weights to
// NaN. Pretrained biases are not zero, so real fine-tuning never meets this; speed does not
// depend on the values.
func randomBiases(m models.QAModel, std float64) {
	p := m.Params()
	torch.NoGrad(func() {
		for _, name := range p.Names() {
			if strings.HasSuffix(name, "bias") {
				p.Get(name).Normal_(0, std)
			}
		}
	})
}

// batchConfig is the batching of a phase (see phaseNames).
func batchConfig(mode, setting string, b, maxLength int, pad int64, windows int, seed uint64) batch.Config {
	c := batch.Config{BatchSize: b, PadID: pad, MaxLength: maxLength, Seed: seed, Shuffle: true}
	switch {
	case setting == "seed":
		// Every batch is padded to the maximum; order does not change the cost.
		c.PadMultiple = maxLength
		c.BucketBatches = 1 // a plain shuffle
		c.Shuffle = mode == "train"
	case mode == "train":
		c.PadMultiple = 8 // batch.Order's default buckets of 50 batches
	default:
		c.PadMultiple = 8
		c.BucketBatches = (windows + b - 1) / b // one bucket: every window sorted by length
	}
	return c
}

// globalTokens is the number of global tokens Longformer gives the rows idx: the longest
// question of the batch with its <s>.
func globalTokens(ws []features.Window, idx []int) int {
	g := 0
	for _, i := range idx {
		g = max(g, questionTokens(&ws[i]))
	}
	return g
}

// windowsFor returns the windows whose lengths the phases follow: the real SQuAD windows when the
// data set and tokenizer are at hand, else windows made from the recorded histogram.
func windowsFor(a *arch, cfg *models.Config, opt *Options) ([]features.Window, string, error) {
	if opt.Data != "recorded" {
		path, tokDir := squadPath(opt.Data), tokenizerDir(a)
		if path != "" && tokDir != "" {
			logf(opt.Log, "bench: %s: cutting %s into windows", a.Name, path)
			ws, n, err := realWindows(a, path, tokDir, int(cfg.MaxLength()))
			if err != nil {
				return nil, "", err
			}
			return ws, fmt.Sprintf("%s (%d examples, %s tokenizer, max length %d, stride %d)", path, n, a.Tokenizer, a.MaxLength, Stride), nil
		}
		if opt.Data != "" {
			return nil, "", fmt.Errorf("bench: %s: data %q or tokenizer fixture %s not found", a.Name, opt.Data, a.Tokenizer)
		}
	}
	h, err := recorded(a.Tokenizer, a.MaxLength)
	if err != nil {
		return nil, "", err
	}
	return syntheticWindows(a, h, cfg.VocabSize, opt.Seed),
		fmt.Sprintf("recorded histogram of SQuAD v1.1 dev (%d windows, %s tokenizer, max length %d, stride %d)", h.Windows, a.Tokenizer, a.MaxLength, Stride), nil
}

// runPhase times one phase: a warm-up step on the costliest timed batch (first-touch
// allocation makes a process's first pass at a shape slower), then one step per stratum. Batches
// come through batch.Loader, collated on its goroutines ahead of the step, as in training.
func runPhase(ctx context.Context, m models.QAModel, adam *train.AdamW, ws []features.Window, name string, bc batch.Config, plan *epochPlan, opt *Options) (*PhaseResult, error) {
	mode, setting, _ := cutPhase(name)
	pr := &PhaseResult{Name: name, Mode: mode, Setting: setting, Batch: bc.BatchSize, Strata: plan.Strata}
	if len(plan.Strata) == 0 {
		return nil, fmt.Errorf("no windows")
	}
	// The timed batches, warm-up first, laid end to end for a loader that keeps their order.
	warm := plan.Strata[len(plan.Strata)-1].rep
	var sel []features.Window
	for _, idx := range append([][]int{warm}, repsOf(plan.Strata)...) {
		for _, i := range idx {
			sel = append(sel, ws[i])
		}
	}
	lc := bc
	lc.BatchSize, lc.Shuffle = len(warm), false
	loader, err := batch.NewLoader(sel, lc)
	if err != nil {
		return nil, err
	}
	dev := m.Params().Device()
	prec, err := train.NewPrecision(false, opt.BF16, dev)
	if err != nil {
		return nil, err
	}
	step := func(b *batch.Batch) error {
		if mode == "train" {
			_, err := train.Step(m, adam, []train.MicroBatch{func(s *torch.Scope) models.Inputs { return infer.Inputs(s, b, dev) }}, learningRate, train.StepOptions{MaxGradNorm: maxGradNorm, Precision: prec})
			return err
		}
		b.StartPos, b.EndPos = nil, nil
		return torch.Catch(func() {
			torch.WithScope(func(s *torch.Scope) {
				torch.NoGrad(func() {
					forward := func() {
						out := m.Forward(infer.Inputs(s, b, dev), false)
						// Bring the logits to the host, as evaluation does (and so wait for them).
						out.StartLogits.ToDType(torch.Float32).Float32s()
						out.EndLogits.ToDType(torch.Float32).Float32s()
					}
					if prec != nil {
						torch.Autocast(dev, prec.Autocast, forward)
					} else {
						forward()
					}
				})
			})
		})
	}

	pr.StartRSSMiB = rssMiB("VmRSS:")
	pr.PeakRSSReset = resetPeakRSS()
	it := loader.Epoch(ctx, 0, 0) // workers start before the device label, so they go without it
	defer it.Close()
	unlabel := deviceLabels()
	defer unlabel()
	seconds := make([]float64, 0, len(plan.Strata))
	var prof *profiler
	defer func() { prof.close() }() // a no-op once stopped; ends it when a step fails
	var ms0, ms1 runtime.MemStats
	var cpu0 cpuTimes
	var t0 time.Time
	steps := 0 // timed step runs, retries included (for per-step averages)
	for i := 0; i <= len(plan.Strata); i++ {
		if i == 1 { // the warm-up is done: start measuring
			if !opt.NoProfile {
				prof = startProfile(opt.ProfileDir, m.Config().ModelType+"-"+name)
			}
			pr.LoadStart = loadAvg()[0]
			cpu0 = readCPUTimes()
			runtime.ReadMemStats(&ms0)
			t0 = time.Now()
		}
		start := time.Now()
		b, err := it.Next()
		if err != nil {
			return nil, err
		}
		wait := time.Since(start)
		// On a shared machine a step that other processes slowed down is run again (same batch),
		// up to opt.Retries times, and the least disturbed run is kept.
		var best StepResult
		for try := 0; ; try++ {
			c0 := readCPUTimes()
			if err := step(b); err != nil {
				return nil, err
			}
			torch.Synchronize(dev)
			d := time.Since(start)
			sr := StepResult{B: b.B, L: b.L, Seconds: d.Seconds(), DataWait: wait.Seconds(), OtherCores: otherCores(c0, readCPUTimes(), d.Seconds()), Runs: try + 1}
			if try == 0 || sr.OtherCores < best.OtherCores {
				best = sr
			}
			best.Runs = try + 1
			if i == 0 || sr.OtherCores <= cleanOtherCores || try >= opt.Retries {
				break
			}
			start, wait = time.Now(), 0
		}
		if i == 0 {
			pr.WarmupSeconds = best.Seconds
			continue
		}
		steps += best.Runs
		seconds = append(seconds, best.Seconds)
		pr.Steps = append(pr.Steps, best)
		logf(opt.Log, "bench:   step %d/%d: %dx%d in %.2fs (other processes: %.2f cores, %d runs)", i, len(plan.Strata), b.B, b.L, best.Seconds, best.OtherCores, best.Runs)
	}
	wall := time.Since(t0).Seconds()
	runtime.ReadMemStats(&ms1)
	pr.OtherCores = otherCores(cpu0, readCPUTimes(), wall) // retries included
	pr.LoadEnd = loadAvg()[0]
	unlabel()
	share, err := prof.stop()
	if err != nil {
		return nil, err
	}
	pr.Go = share
	pr.PeakRSSMiB = rssMiB("VmHWM:")
	n := float64(steps)
	pr.GoAllocsPerStep = float64(ms1.Mallocs-ms0.Mallocs) / n
	pr.GoBytesPerStep = float64(ms1.TotalAlloc-ms0.TotalAlloc) / n
	pr.EpochSeconds = plan.estimate(seconds)
	return pr, nil
}

func repsOf(ss []Stratum) [][]int {
	out := make([][]int, len(ss))
	for i := range ss {
		out[i] = ss[i].rep
	}
	return out
}

func logf(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format+"\n", args...)
	}
}
