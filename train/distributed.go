package train

// Data-parallel training over torch/dist (Trainer.Dist). The trainer's code calls into this file
// at marked points ("[dist]"); with Dist nil every function here is a no-op or the plain
// single-process path.
//
// What a data-parallel run does differently, and why it reproduces a single process:
//
//   - Data: the loader batches windows in global batches of world*b from the same seeded order
//     on every rank, and rank r trains on rows r, r+world, ... of each (interleaved, so that
//     the length-sorted rows of a bucket spread evenly). Together the ranks see exactly the
//     batches one process with batch world*b would see.
//   - Gradients: each rank weights its micro-batch loss by its share of the global batch
//     (rows/global rows/accumulation steps) and the GradReducer sums the gradients over ranks
//     in buckets during backward: the result is the gradient of the global batch's mean loss,
//     also for a short last batch. Clipping and AdamW then run on identical gradients, so the
//     weights stay identical everywhere; the reported loss is the global mean too.
//   - Start: rank 0's weights are broadcast after model creation or resumption, and all ranks
//     check that they resumed from the same step.
//   - Files: rank 0 alone writes checkpoints, logs, evaluation files and the final model; the
//     others wait for it (and learn whether it failed) before going on. Everybody resumes from
//     the checkpoint folder, which must therefore be on storage all ranks share.
//   - Evaluation: each evaluation batch is split across the ranks, and the logits gathered;
//     post-processing then runs everywhere (it is cheap), files on rank 0 only.
//   - Stopping: Ctrl-C reaches the ranks at slightly different moments, so it is not acted on
//     directly: each step's loss reduction carries a stop vote, and all ranks stop (and
//     checkpoint) after the same step, the one during which any of them saw the interrupt.

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spanqa/spanqa/data/batch"
	"github.com/spanqa/spanqa/data/features"
	"github.com/spanqa/spanqa/eval"
	"github.com/spanqa/spanqa/torch"
	"github.com/spanqa/spanqa/torch/dist"
)

// GradSync is the data-parallel part of an optimizer step (nil: a single process).
type GradSync interface {
	// LossWeight is micro-batch i's factor in the global batch's loss (instead of 1/len).
	LossWeight(i int) float64
	// BeforeBackward runs before micro-batch i's backward.
	BeforeBackward(i int) error
	// Reduce runs after the last backward: the gradients become those of the global batch,
	// and it returns the global loss from this rank's weighted loss.
	Reduce(loss float64) (float64, error)
}

// ddpState is a Trainer's data-parallel machinery while Run runs.
type ddpState struct {
	g       *dist.Group
	reducer *dist.GradReducer
	userCtx context.Context    // the caller's: its cancellation becomes this rank's stop vote
	stop    context.CancelFunc // cancels the loop's context once the ranks agreed to stop
}

// isMain reports whether this process writes files: always in a single process.
func (t *Trainer) isMain() bool { return t.Dist == nil || t.Dist.IsMain() }

// worldSize is the number of data-parallel ranks (1 without Dist).
func (t *Trainer) worldSize() int {
	if t.Dist == nil {
		return 1
	}
	return t.Dist.WorldSize()
}

// globalBatchSize is the loader's batch: every rank's rows of one step (per micro-batch).
func (t *Trainer) globalBatchSize() int { return t.Args.PerDeviceTrainBatchSize * t.worldSize() }

// distStart makes the ranks agree before the first step: same resume step, rank 0's weights,
// and the gradient reducer's hooks. It returns the context the loop must use: cancelled only
// when the ranks agree to stop.
func (t *Trainer) distStart(ctx context.Context) (context.Context, error) {
	if t.Dist == nil {
		return ctx, nil
	}
	g := t.Dist
	steps, err := g.AllGatherInt64s([]int64{t.state.GlobalStep})
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	for r, s := range steps {
		if s[0] != t.state.GlobalStep {
			return nil, fmt.Errorf("train: rank %d is at step %d but rank %d at step %d: --output-dir must be on storage every rank shares",
				g.Rank(), t.state.GlobalStep, r, s[0])
		}
	}
	if err := g.Broadcast(t.opt.Params(), 0); err != nil {
		return nil, fmt.Errorf("train: broadcasting rank 0's weights: %w", err)
	}
	red, err := g.NewGradReducer(t.opt.Params())
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	loopCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	t.ddp = &ddpState{g: g, reducer: red, userCtx: ctx, stop: stop}
	t.logf("train: data parallel: %d ranks (%s), %d windows per step (%d per rank), gradients in %d buckets",
		g.WorldSize(), g.Backend(), t.globalBatchSize()*t.Args.GradientAccumulationSteps, t.Args.PerDeviceTrainBatchSize, red.Buckets())
	return loopCtx, nil
}

// distStop releases what distStart made (not the group, which the caller owns).
func (t *Trainer) distStop() {
	if t.ddp == nil {
		return
	}
	t.ddp.reducer.Free()
	t.ddp.stop()
	t.ddp = nil
}

// openTrainLog opens train_log.jsonl on rank 0; other ranks keep no log file (nil).
func (t *Trainer) openTrainLog() (*os.File, error) {
	if !t.isMain() {
		return nil, nil
	}
	return os.OpenFile(filepath.Join(t.Args.OutputDir, "train_log.jsonl"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
}

// onMain runs write on rank 0 and makes every rank wait for it and return its failure, so that
// no rank runs ahead of a checkpoint or goes on after rank 0 could not write one.
func (t *Trainer) onMain(what string, write func() error) error {
	if t.ddp == nil {
		return write()
	}
	var err error
	failed := 0.0
	if t.isMain() {
		if err = write(); err != nil {
			failed = 1
		}
	}
	votes, cerr := t.ddp.g.AllReduceFloat64s([]float64{failed})
	switch {
	case err != nil:
		return err
	case cerr != nil:
		return fmt.Errorf("train: waiting for rank 0 to write the %s: %w", what, cerr)
	case votes[0] > 0:
		return fmt.Errorf("train: rank 0 failed to write the %s (see its log)", what)
	}
	return nil
}

// rankShare returns what this rank trains on in one step of the loop's batch group, and the
// step's GradSync: in a single process the group itself and nil; data-parallel, this rank's
// rows of each batch, with losses weighted by their share of the global group.
func (t *Trainer) rankShare(group []*batch.Batch) ([]*batch.Batch, GradSync) {
	if t.ddp == nil {
		return group, nil
	}
	g := t.ddp.g
	sync := &gradSync{d: t.ddp}
	var mine []*batch.Batch
	for _, b := range group {
		sb := shardRows(b, g.Rank(), g.WorldSize())
		if sb.B == 0 {
			continue // a short last batch may leave this rank nothing: it still joins the reduction
		}
		mine = append(mine, sb)
		sync.weights = append(sync.weights, float64(sb.B)/float64(b.B)/float64(len(group)))
	}
	return mine, sync
}

// shardRows returns rank's rows of a global batch: r, r+world, ... Padding stays at the global
// batch's length, so every row is computed at the shape one process would use.
func shardRows(b *batch.Batch, rank, world int) *batch.Batch {
	var rows []int
	for i := rank; i < b.B; i += world {
		rows = append(rows, i)
	}
	out := &batch.Batch{B: len(rows), L: b.L, Pos: b.Pos}
	pickRows := func(v []int64) []int64 {
		if v == nil {
			return nil
		}
		o := make([]int64, 0, len(rows)*b.L)
		for _, i := range rows {
			o = append(o, v[i*b.L:(i+1)*b.L]...)
		}
		return o
	}
	pick := func(v []int64) []int64 {
		if v == nil {
			return nil
		}
		o := make([]int64, len(rows))
		for k, i := range rows {
			o[k] = v[i]
		}
		return o
	}
	out.IDs, out.Mask, out.TypeIDs, out.GlobalMask = pickRows(b.IDs), pickRows(b.Mask), pickRows(b.TypeIDs), pickRows(b.GlobalMask)
	out.StartPos, out.EndPos = pick(b.StartPos), pick(b.EndPos)
	for _, i := range rows {
		if i < len(b.Windows) {
			out.Windows = append(out.Windows, b.Windows[i])
		}
	}
	return out
}

// gradSync is GradSync over the trainer's GradReducer.
type gradSync struct {
	d       *ddpState
	weights []float64 // per micro-batch of this rank
}

func (s *gradSync) LossWeight(i int) float64 { return s.weights[i] }

// BeforeBackward arms the reducer for the last micro-batch only: earlier backwards just
// accumulate locally (DDP's no_sync), and the last one reduces the accumulated sum.
func (s *gradSync) BeforeBackward(i int) error {
	if i == len(s.weights)-1 {
		return s.d.reducer.Arm()
	}
	return nil
}

func (s *gradSync) Reduce(loss float64) (float64, error) {
	// The losses are pre-weighted by each rank's share: the plain sum is the global gradient.
	if err := s.d.reducer.Finish(1); err != nil {
		return 0, err
	}
	vote := 0.0
	if s.d.userCtx.Err() != nil {
		vote = 1
	}
	sums, err := s.d.g.AllReduceFloat64s([]float64{loss, vote})
	if err != nil {
		return 0, err
	}
	if sums[1] > 0 {
		s.d.stop() // every rank sees the same sum: all stop after this step
	}
	return sums[0], nil
}

// runEval evaluates the model: directly in a single process; data-parallel, each evaluation
// batch (per-device batch size times world) is split across the ranks and the logits gathered,
// then every rank post-processes (cheap, and gives every rank the metrics) while only rank 0
// keeps the files.
func (t *Trainer) runEval(ctx context.Context, p eval.Predictor, cfg eval.RunConfig) (*eval.RunResult, error) {
	if t.ddp == nil {
		return eval.Run(ctx, p, t.evalEx, t.evalWin, cfg)
	}
	g := t.ddp.g
	cfg.BatchSize *= g.WorldSize()
	if !g.IsMain() {
		tmp, err := os.MkdirTemp("", "spanqa-eval-rank*")
		if err != nil {
			return nil, fmt.Errorf("train: %w", err)
		}
		defer os.RemoveAll(tmp)
		cfg.OutputDir = tmp
	}
	// Every rank must make the same collectives: an interrupt is acted on at the next step.
	return eval.Run(context.WithoutCancel(ctx), &shardedPredictor{g: g, inner: p}, t.evalEx, t.evalWin, cfg)
}

// shardedPredictor computes rank r's slice of each batch and gathers every rank's logits.
type shardedPredictor struct {
	g     *dist.Group
	inner eval.Predictor
}

func (p *shardedPredictor) Logits(ctx context.Context, ws []features.Window) (start, end [][]float32, err error) {
	n, w := len(ws), p.g.WorldSize()
	part := func(r int) (int, int) { return r * n / w, (r + 1) * n / w }
	lo, hi := part(p.g.Rank())
	var s, e [][]float32
	if hi > lo {
		s, e, err = p.inner.Logits(ctx, ws[lo:hi])
	}
	// A local failure still takes part in the gather (status byte 1), so the others learn of it
	// instead of waiting out the timeout.
	buf := []byte{0}
	if err != nil {
		buf[0] = 1
	} else {
		for k := range s {
			l := len(ws[lo+k].IDs) // rows may be padded longer; eval.Run reads only the window's tokens
			buf = appendFloat32s(buf, s[k][:l])
			buf = appendFloat32s(buf, e[k][:l])
		}
	}
	parts, gerr := p.g.AllGatherBytes(buf)
	if err != nil {
		return nil, nil, err
	}
	if gerr != nil {
		return nil, nil, gerr
	}
	start, end = make([][]float32, n), make([][]float32, n)
	for r, data := range parts {
		if len(data) == 0 || data[0] != 0 {
			return nil, nil, fmt.Errorf("train: evaluation failed on rank %d", r)
		}
		data = data[1:]
		a, b := part(r)
		for i := a; i < b; i++ {
			l := len(ws[i].IDs)
			if len(data) < 8*l {
				return nil, nil, fmt.Errorf("train: evaluation: rank %d sent %d bytes too few", r, 8*l-len(data))
			}
			start[i], data = readFloat32s(data, l)
			end[i], data = readFloat32s(data, l)
		}
	}
	return start, end, nil
}

func appendFloat32s(b []byte, v []float32) []byte {
	b = slices.Grow(b, 4*len(v))
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

func readFloat32s(b []byte, n int) ([]float32, []byte) {
	out := make([]float32, n)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out, b[4*n:]
}

// JoinFromEnv makes this process a rank of the data-parallel job that torchrun's environment
// variables describe (see dist.FromEnv), or returns nil when there is none. A plain "cuda"
// device becomes this rank's GPU, cuda:LOCAL_RANK.
func JoinFromEnv(ctx context.Context, a *Args, timeout time.Duration) (*dist.Group, error) {
	env, ok, err := dist.FromEnv()
	if err != nil || !ok {
		return nil, err
	}
	dev, err := torch.ParseDevice(a.Device)
	if err != nil {
		return nil, err
	}
	if dev.Type == torch.CUDADevice && !strings.Contains(a.Device, ":") {
		dev = torch.CUDA(env.LocalRank)
		a.Device = fmt.Sprintf("cuda:%d", env.LocalRank)
	}
	g, err := dist.Init(ctx, dist.Config{Env: env, Device: dev, Timeout: timeout})
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	return g, nil
}

// ShareArgs runs prepare (a recipe: it may download or write data files) on rank 0 only and
// hands its arguments to every rank, so that ranks never write the same files at once. Without
// a group it just runs prepare.
func ShareArgs(g *dist.Group, prepare func() (Args, error)) (Args, error) {
	if g == nil {
		return prepare()
	}
	var a Args
	var data []byte
	var err error
	if g.IsMain() {
		if a, err = prepare(); err == nil {
			data, err = json.Marshal(a)
		}
	}
	// Rank 0 always takes part (sending nothing on failure) so that the others learn of it.
	parts, gerr := g.AllGatherBytes(data)
	switch {
	case err != nil:
		return Args{}, err
	case gerr != nil:
		return Args{}, fmt.Errorf("train: %w", gerr)
	case len(parts[0]) == 0:
		return Args{}, fmt.Errorf("train: rank 0 could not prepare the training arguments (see its log)")
	}
	if err := json.Unmarshal(parts[0], &a); err != nil {
		return Args{}, fmt.Errorf("train: arguments from rank 0: %w", err)
	}
	return a, nil
}
