package train

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/spanqa/spanqa/data/features"
	"github.com/spanqa/spanqa/eval"
	"github.com/spanqa/spanqa/internal/disttest"
	"github.com/spanqa/spanqa/torch/dist"
	"github.com/spanqa/spanqa/torch/weights"
)

// Data-parallel training with Gloo over loopback, two worker processes (this test binary run
// again per rank, see ddpWorker):
//
//   - 2 ranks with per-rank batch 4 reproduce one process with batch 8 (dropout off, same seed)
//     to 1e-5 relative on every step's loss and every final parameter norm, across epoch
//     boundaries and a short last batch (21 windows: 8, 8, 5, the 5 split 3 + 2);
//   - an interrupt seen by one rank stops both after the same step, with a checkpoint, and a
//     resumed 2-process run ends with the same weights, bit for bit, as an uninterrupted one;
//   - a rank killed mid-run makes the other exit with an error within the collective timeout,
//     and restarting both with --resume continues from the last checkpoint to the same weights.

const (
	ddpSteps       = 8
	ddpTimeout     = 5 * time.Second
	ddpJobDeadline = 3 * time.Minute // whole job, workers killed past it
)

// ddpArgs is the shared setup: smallArgs without dropout, 13 examples (21 windows), epochs of
// 3 steps of 8 windows. The subtests' step and checkpoint numbers follow from the 21 windows,
// which the test checks first: if the synthetic data changes, pick the example count anew.
func ddpArgs(t *testing.T, dir string) Args {
	a := smallArgs(t, dir)
	a.ConfigOverrides = "hidden_size=32,num_hidden_layers=1,num_attention_heads=2,intermediate_size=48,hidden_dropout_prob=0,attention_probs_dropout_prob=0"
	a.MaxTrainSamples = 13
	a.MaxSteps = ddpSteps
	a.SaveSteps = 0 // checkpoints at epoch ends: steps 3 and 6
	a.LoggingSteps = 1
	return a
}

// ddpResult is what a worker reports on its stdout.
type ddpResult struct {
	Rank        int       `json:"rank"`
	Losses      []float64 `json:"losses"`
	Step        int64     `json:"step"`
	Interrupted bool      `json:"interrupted"`
	EvalF1      float64   `json:"eval_f1"`
	Err         string    `json:"err"`
}

const ddpResultPrefix = "DDPRESULT "

func TestDataParallel(t *testing.T) {
	if !dist.Gloo.Available() {
		t.Skip("SKIPPED: this cbridge has no Gloo backend: install libgloo-dev (make deps) and rebuild")
	}
	if disttest.IsWorker() {
		ddpWorker(t)
		return
	}
	dir := t.TempDir()
	base := ddpArgs(t, filepath.Join(dir, "data"))

	// The reference: one process, batch 8.
	single := base
	single.OutputDir = filepath.Join(dir, "single")
	single.PerDeviceTrainBatchSize = 8
	var refLoss []float64
	var refLog bytes.Buffer
	tr := &Trainer{Args: single, Log: &refLog, OnStep: func(_ int64, r StepResult) { refLoss = append(refLoss, r.Loss) }}
	ref, err := tr.Run(context.Background())
	require.NoError(t, err)
	require.Contains(t, refLog.String(), " 21 training windows,", "the subtests below assume 21 windows (see ddpArgs)")
	require.Len(t, refLoss, ddpSteps)

	// 2 ranks, batch 4 each.
	par := base
	par.PerDeviceTrainBatchSize = 4
	run := func(name string, a Args, mode string) (*disttest.Job, []ddpResult) {
		t.Helper()
		a.OutputDir = filepath.Join(dir, name)
		argsFile := filepath.Join(dir, name+".args.json")
		data, err := json.Marshal(a)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(argsFile, data, 0o644))
		job := disttest.Start(t, "TestDataParallel", 2, func(int) []string {
			return []string{"SPANQA_DDP_ARGS=" + argsFile, "SPANQA_DDP_MODE=" + mode}
		})
		procs := job.Wait(ddpJobDeadline)
		res := make([]ddpResult, 2)
		for i, p := range procs {
			res[i] = parseDDPResult(p.Output())
		}
		return job, res
	}
	requireOK := func(job *disttest.Job, res []ddpResult) {
		t.Helper()
		for r := range 2 {
			require.NoError(t, job.Proc(r).Err, job.Outputs())
			require.Empty(t, res[r].Err, job.Outputs())
		}
	}

	t.Run("matches one process with twice the batch", func(t *testing.T) {
		job, res := run("straight", par, "")
		requireOK(job, res)
		require.Equal(t, res[0].Losses, res[1].Losses, "every rank reports the global loss")
		require.Len(t, res[0].Losses, ddpSteps)
		worst := 0.0
		for i, want := range refLoss {
			rel := math.Abs(res[0].Losses[i]-want) / math.Abs(want)
			worst = max(worst, rel)
			require.Less(t, rel, 1e-5, "step %d: loss %.9g, one process %.9g", i+1, res[0].Losses[i], want)
		}
		refNorms := paramNorms(t, filepath.Join(single.OutputDir, "model.safetensors"))
		norms := paramNorms(t, filepath.Join(dir, "straight", "model.safetensors"))
		require.Equal(t, len(refNorms), len(norms))
		worstNorm, worstName := 0.0, ""
		var refTotal, total float64
		for name, want := range refNorms {
			refTotal += want * want
			total += norms[name] * norms[name]
			if gradientVanishes(name, refNorms) {
				// Its exact gradient is 0, so what AdamW does with it is normalised rounding
				// noise, different for any change of summation order (thread count included).
				continue
			}
			rel := math.Abs(norms[name]-want) / want
			if rel > worstNorm {
				worstNorm, worstName = rel, name
			}
			require.Less(t, rel, 1e-5, "%s: norm %.9g, one process %.9g", name, norms[name], want)
		}
		totalRel := math.Abs(math.Sqrt(total)-math.Sqrt(refTotal)) / math.Sqrt(refTotal)
		require.Less(t, totalRel, 1e-5, "norm of all parameters")
		t.Logf("%d steps: worst relative difference to one process with batch 8: loss %.2e, parameter norm %.2e (%s), norm of all parameters %.2e; eval F1 %.2f vs %.2f",
			ddpSteps, worst, worstNorm, worstName, totalRel, res[0].EvalF1, ref.EvalF1)
		// Rank 0 alone wrote the logs (one line per step, not two) and evaluation files.
		logLines := countLines(t, filepath.Join(dir, "straight", "train_log.jsonl"))
		require.Equal(t, countLines(t, filepath.Join(single.OutputDir, "train_log.jsonl")), logLines)
		require.FileExists(t, filepath.Join(dir, "straight", "eval", "predictions.json"))
	})

	// The gradient reducer's hooks fire inside checkpointed layers' reruns; the result must not
	// change: the same weights, byte for byte, as the run above.
	t.Run("gradient checkpointing leaves the data-parallel run unchanged", func(t *testing.T) {
		ckpt := par
		ckpt.GradientCheckpointing = true
		job, res := run("checkpointed", ckpt, "")
		requireOK(job, res)
		want, err := os.ReadFile(filepath.Join(dir, "straight", "model.safetensors"))
		require.NoError(t, err)
		got, err := os.ReadFile(filepath.Join(dir, "checkpointed", "model.safetensors"))
		require.NoError(t, err)
		require.True(t, bytes.Equal(want, got), "weights differ from the run without checkpointing")
	})

	t.Run("interrupt stops every rank after the same step and resumes", func(t *testing.T) {
		job, res := run("interrupted", par, "interrupt@4")
		requireOK(job, res)
		for r := range 2 {
			require.True(t, res[r].Interrupted, job.Outputs())
			require.EqualValues(t, 5, res[r].Step, "rank 1 saw the interrupt after step 4: all stop after step 5")
		}
		cks, err := Checkpoints(filepath.Join(dir, "interrupted"))
		require.NoError(t, err)
		require.Equal(t, "checkpoint-5", filepath.Base(cks[len(cks)-1]))

		resumed := par
		resumed.Resume = true
		job, res = run("interrupted", resumed, "")
		requireOK(job, res)
		require.EqualValues(t, ddpSteps, res[0].Step)
		requireSameFile(t, filepath.Join(dir, "straight", "model.safetensors"), filepath.Join(dir, "interrupted", "model.safetensors"))
	})

	t.Run("killed rank makes the other exit within the timeout; restart resumes", func(t *testing.T) {
		job, res := run("killed", par, "die@5")
		p0, p1 := job.Proc(0), job.Proc(1)
		require.Error(t, p1.Err, "rank 1 killed itself")
		require.Error(t, p0.Err, "rank 0 must fail, not hang:\n%s", job.Outputs())
		require.Contains(t, res[0].Err, "dist: rank 0 of 2", job.Outputs())
		require.Contains(t, res[0].Err, "a peer rank died", job.Outputs())
		after := p0.Elapsed - p1.Elapsed
		require.Less(t, after, ddpTimeout+5*time.Second, "rank 0 exited %s after rank 1 died", after)
		t.Logf("rank 0 exited %s after rank 1 was killed (timeout %s): %s", after.Round(time.Millisecond), ddpTimeout, res[0].Err)

		cks, err := Checkpoints(filepath.Join(dir, "killed"))
		require.NoError(t, err)
		require.Equal(t, "checkpoint-3", filepath.Base(cks[len(cks)-1]), "the last complete checkpoint")
		restarted := par
		restarted.Resume = true
		job, res = run("killed", restarted, "")
		requireOK(job, res)
		require.EqualValues(t, ddpSteps, res[0].Step)
		require.Len(t, res[0].Losses, ddpSteps-3, "resumed after step 3")
		requireSameFile(t, filepath.Join(dir, "straight", "model.safetensors"), filepath.Join(dir, "killed", "model.safetensors"))
	})
}

// ddpWorker is one rank: it trains with the arguments the parent wrote and reports a ddpResult.
// SPANQA_DDP_MODE "interrupt@k" cancels rank 1's context after step k; "die@k" SIGKILLs rank 1
// after step k.
func ddpWorker(t *testing.T) {
	var a Args
	data, err := os.ReadFile(os.Getenv("SPANQA_DDP_ARGS"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &a))
	e, ok, err := dist.FromEnv()
	require.NoError(t, err)
	require.True(t, ok)
	// Small buckets: the model's gradients go in many all-reduces, most started during backward
	// (the sums, and so the results, do not depend on the bucketing).
	g, err := dist.Init(context.Background(), dist.Config{Env: e, Timeout: ddpTimeout, BucketBytes: 16 << 10})
	require.NoError(t, err)
	defer g.Close()

	shardedPredictorCheck(t, g)
	mode, at := parseMode(os.Getenv("SPANQA_DDP_MODE"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res := ddpResult{Rank: g.Rank()}
	tr := &Trainer{Args: a, Dist: g, Log: os.Stderr, OnStep: func(step int64, r StepResult) {
		res.Losses = append(res.Losses, r.Loss)
		if g.Rank() == 1 && step == at {
			switch mode {
			case "interrupt":
				cancel()
			case "die":
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
			}
		}
	}}
	out, err := tr.Run(ctx)
	if out != nil {
		res.Step, res.Interrupted, res.EvalF1 = out.GlobalStep, out.Interrupted, out.EvalF1
	}
	if err != nil {
		res.Err = err.Error()
	}
	line, _ := json.Marshal(res)
	fmt.Printf("%s%s\n", ddpResultPrefix, line)
	require.NoError(t, err)
}

// shardedPredictorCheck: split over the ranks and gathered, a predictor's rows come back exactly
// (trimmed to each window's length), also for batches smaller than the number of ranks.
func shardedPredictorCheck(t *testing.T, g *dist.Group) {
	fake := eval.PredictorFunc(func(_ context.Context, ws []features.Window) (start, end [][]float32, err error) {
		for _, w := range ws {
			s, e := make([]float32, len(w.IDs)+3), make([]float32, len(w.IDs)+3) // padded rows
			for j, id := range w.IDs {
				s[j], e[j] = float32(id)+0.5*float32(j), -float32(id)
			}
			start, end = append(start, s), append(end, e)
		}
		return start, end, nil
	})
	var ws []features.Window
	for i := range 5 {
		ids := make([]int64, 3+2*i)
		for j := range ids {
			ids[j] = int64(100*i + j)
		}
		ws = append(ws, features.Window{IDs: ids})
	}
	sp := &shardedPredictor{g: g, inner: fake}
	for _, batch := range [][]features.Window{ws, ws[:1]} {
		s, e, err := sp.Logits(context.Background(), batch)
		require.NoError(t, err)
		ws, we, _ := fake(context.Background(), batch)
		for i := range batch {
			n := len(batch[i].IDs)
			require.Equal(t, ws[i][:n], s[i])
			require.Equal(t, we[i][:n], e[i])
		}
	}
}

func parseMode(s string) (string, int64) {
	mode, step, ok := strings.Cut(s, "@")
	if !ok {
		return s, -1
	}
	var n int64
	fmt.Sscan(step, &n)
	return mode, n
}

func parseDDPResult(out string) ddpResult {
	var r ddpResult
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), ddpResultPrefix); ok {
			json.Unmarshal([]byte(line), &r)
		}
	}
	return r
}

// gradientVanishes reports the BERT QA parameters whose gradient is exactly zero because softmax
// ignores a constant shift: qa_outputs.bias (shifts every start or end logit alike), the last
// layer's output LayerNorm bias (reaches the logits only through qa_outputs, as such a shift) and
// every attention key bias (shifts all scores of a query alike).
func gradientVanishes(name string, all map[string]float64) bool {
	last := -1
	for n := range all {
		var l int
		if _, err := fmt.Sscanf(n, "bert.encoder.layer.%d.", &l); err == nil {
			last = max(last, l)
		}
	}
	return name == "qa_outputs.bias" || strings.HasSuffix(name, ".attention.self.key.bias") ||
		name == fmt.Sprintf("bert.encoder.layer.%d.output.LayerNorm.bias", last)
}

// paramNorms reads a saved model's parameters and returns each one's L2 norm.
func paramNorms(t *testing.T, path string) map[string]float64 {
	t.Helper()
	set, err := weights.OpenFile(path)
	require.NoError(t, err)
	defer set.Close()
	out := map[string]float64{}
	for _, name := range set.Names() {
		w, err := set.Get(name)
		require.NoError(t, err)
		v, err := w.Float64s()
		require.NoError(t, err)
		s := 0.0
		for _, x := range v {
			s += x * x
		}
		out[name] = math.Sqrt(s)
	}
	return out
}

func requireSameFile(t *testing.T, a, b string) {
	t.Helper()
	x, err := os.ReadFile(a)
	require.NoError(t, err)
	y, err := os.ReadFile(b)
	require.NoError(t, err)
	require.True(t, bytes.Equal(x, y), "%s and %s differ", a, b)
}

func countLines(t *testing.T, path string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return bytes.Count(data, []byte("\n"))
}
