package gpu

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/spanqa/spanqa/internal/fixtures"
	"github.com/spanqa/spanqa/models"
	"github.com/spanqa/spanqa/torch"
	"github.com/spanqa/spanqa/train"
)

// Tolerances. The float32 ones are the issue's: CUDA computes the same float32 arithmetic as
// the CPU in another order (TF32 stays off, libtorch's default), so only rounding may differ.
const (
	logitAbsTol = 1e-4 // largest |logit_device - logit_cpu|
	gradRelTol  = 1e-4 // ||g_device - g_cpu|| / ||g_cpu|| per parameter
	lossRelTol  = 1e-4 // |loss_device - loss_cpu| / loss_cpu
	// Final parameter norms after the AdamW steps, as train/trajectory_test.go holds spanqa to
	// HF's CPU trajectory.
	paramNormRelTol = 1e-5
	// zeroGradTol bounds, relative to the largest gradient norm, what a parameter whose true
	// gradient is zero may hold (rounding noise), as models/parity_test.go does.
	zeroGradTol = 1e-5
)

// bf16 autocast against float32 on the same device: bfloat16 keeps 8 significant bits
// (relative rounding 2^-9 ~ 2e-3 per product) and the matmuls accumulate in float32, so
// through two layers the logits move by about 1e-2 of their norm. Measured with CPU autocast
// on the four tiny models (fixture and random weights): logits up to 1.4e-2, losses 1.3e-3,
// gradients 1.6e-2 (relative L2). The bounds leave 3x or more for CUDA's bf16 GEMMs, which
// round the same way.
const (
	bf16LogitRelTol = 5e-2 // ||logits_bf16 - logits_f32|| / ||logits_f32||
	bf16LossRelTol  = 2e-2
	bf16GradRelTol  = 1e-1 // over all parameters with a non-zero true gradient, concatenated
)

// deviceUnderTest is CUDA (or $SPANQA_GPU_DEVICE); the test skips where it cannot be used,
// unless SPANQA_GPU_REQUIRE=1, which the GPU check sets so that a GPU it cannot see fails.
func deviceUnderTest(t *testing.T) torch.Device {
	t.Helper()
	name := os.Getenv("SPANQA_GPU_DEVICE")
	if name == "" {
		name = "cuda"
	}
	dev, err := torch.ParseDevice(name)
	if err != nil {
		if os.Getenv("SPANQA_GPU_REQUIRE") == "1" {
			t.Fatalf("SPANQA_GPU_REQUIRE=1 but the device cannot be used: %v", err)
		}
		t.Skipf("SKIPPED: %v (tests/gpu/check.sh runs this on a GPU; SPANQA_GPU_DEVICE=cpu runs its plumbing on the CPU)", err)
	}
	if dev.Type == torch.CPUDevice {
		t.Logf("device under test is the CPU: the CPU is compared with itself, which checks this test's plumbing, not CUDA")
	} else {
		info := torch.InspectCUDA()
		if dev.Index < len(info.GPUs) {
			g := info.GPUs[dev.Index]
			t.Logf("device under test: %s = %s, %d MiB, compute capability %s, CUDA %s, cuDNN %s", dev, g.Name, g.MemoryMiB, g.Capability, info.Runtime, info.CuDNN)
		}
	}
	return dev
}

// rows is one batch as int64 matrices [B][L]; TypeIDs may be nil.
type rows struct {
	IDs, Mask, TypeIDs [][]int64
}

type lossCase struct {
	Name       string
	Start, End []int64
}

type batch struct {
	rows
	Start, End []int64
}

// parityCase is one architecture: a model folder, the inputs it is run on, and the AdamW run.
type parityCase struct {
	Arch      string
	Dir       string
	Source    string // "fixture" (HF goldens alongside) or "random" (see randomCase)
	Overrides string // dropout off, so that train mode is deterministic on every device
	Inputs    rows
	Losses    []lossCase
	Batches   []batch
	LR        float64
	Betas     [2]float64
	Eps, WD   float64
	Warmup    int64
	MaxNorm   float64
	// Golden step losses (fixtures only), for the log: the device against HF's CPU run.
	GoldenLosses []float64
}

var archs = []string{"bert", "roberta", "deberta-v3", "longformer"}

// cases returns the four architectures: the fixture models where ../shared (or
// $SPANQA_FIXTURES) has them, otherwise random-weight models of the same shapes. Comparing a
// device with the CPU needs no HF goldens, and a GPU machine often has the repository only.
func cases(t *testing.T) []parityCase {
	t.Helper()
	var out []parityCase
	for _, arch := range archs {
		dir := filepath.Join(fixtures.FixturesDir(), "models", arch)
		if _, err := os.Stat(filepath.Join(dir, "golden.json")); err == nil {
			out = append(out, fixtureCase(t, arch, dir))
			continue
		}
		t.Logf("%s: no fixture at %s (set SPANQA_FIXTURES): using a random-weight model of the same shape", arch, dir)
		out = append(out, randomCase(t, arch))
	}
	return out
}

func fixtureCase(t *testing.T, arch, dir string) parityCase {
	t.Helper()
	var g struct {
		Inputs map[string][][]int64 `json:"inputs"`
		Train  struct {
			ConfigOverrides map[string]float64 `json:"config_overrides"`
			LossCases       []struct {
				Name           string  `json:"name"`
				StartPositions []int64 `json:"start_positions"`
				EndPositions   []int64 `json:"end_positions"`
			} `json:"loss_cases"`
		} `json:"train"`
	}
	readJSON(t, filepath.Join(dir, "golden.json"), &g)
	var tr struct {
		ConfigOverrides map[string]float64 `json:"config_overrides"`
		Optimizer       struct {
			LR          float64   `json:"lr"`
			Betas       []float64 `json:"betas"`
			Eps         float64   `json:"eps"`
			WeightDecay float64   `json:"weight_decay"`
		} `json:"optimizer"`
		Scheduler struct {
			Name        string `json:"name"`
			WarmupSteps int64  `json:"num_warmup_steps"`
		} `json:"scheduler"`
		MaxGradNorm float64 `json:"max_grad_norm"`
		Batches     []struct {
			IDs     [][]int64 `json:"input_ids"`
			Mask    [][]int64 `json:"attention_mask"`
			TypeIDs [][]int64 `json:"token_type_ids"`
			Start   []int64   `json:"start_positions"`
			End     []int64   `json:"end_positions"`
		} `json:"batches"`
		Steps []struct {
			Loss float64 `json:"loss"`
		} `json:"steps"`
	}
	readJSON(t, filepath.Join(dir, "trajectory.json"), &tr)
	require.Equal(t, "get_linear_schedule_with_warmup", tr.Scheduler.Name)
	c := parityCase{
		Arch: arch, Dir: dir, Source: "fixture", Overrides: overrides(g.Train.ConfigOverrides),
		Inputs: rows{IDs: g.Inputs["input_ids"], Mask: g.Inputs["attention_mask"], TypeIDs: g.Inputs["token_type_ids"]},
		LR:     tr.Optimizer.LR, Betas: [2]float64{tr.Optimizer.Betas[0], tr.Optimizer.Betas[1]},
		Eps: tr.Optimizer.Eps, WD: tr.Optimizer.WeightDecay, Warmup: tr.Scheduler.WarmupSteps, MaxNorm: tr.MaxGradNorm,
	}
	require.Equal(t, c.Overrides, overrides(tr.ConfigOverrides), "golden and trajectory overrides differ")
	for _, lc := range g.Train.LossCases {
		c.Losses = append(c.Losses, lossCase{Name: lc.Name, Start: lc.StartPositions, End: lc.EndPositions})
	}
	for _, b := range tr.Batches {
		c.Batches = append(c.Batches, batch{rows: rows{IDs: b.IDs, Mask: b.Mask, TypeIDs: b.TypeIDs}, Start: b.Start, End: b.End})
	}
	for _, s := range tr.Steps {
		c.GoldenLosses = append(c.GoldenLosses, s.Loss)
	}
	return c
}

// randomConfigs are tiny models shaped like the fixtures (hidden 32, 2 layers, 4 heads, the
// same attention options), with initializer_range 0.2 as there, so that the gradients are
// large enough to compare.
var randomConfigs = map[string]string{
	"bert": `{"model_type": "bert", "vocab_size": 1000, "hidden_size": 32, "num_hidden_layers": 2,
		"num_attention_heads": 4, "intermediate_size": 37, "hidden_act": "gelu", "max_position_embeddings": 128,
		"type_vocab_size": 2, "initializer_range": 0.2, "layer_norm_eps": 1e-12, "pad_token_id": 0}`,
	"roberta": `{"model_type": "roberta", "vocab_size": 1000, "hidden_size": 32, "num_hidden_layers": 2,
		"num_attention_heads": 4, "intermediate_size": 37, "hidden_act": "gelu", "max_position_embeddings": 130,
		"type_vocab_size": 1, "initializer_range": 0.2, "layer_norm_eps": 1e-5, "pad_token_id": 1,
		"bos_token_id": 0, "eos_token_id": 2}`,
	"deberta-v3": `{"model_type": "deberta-v2", "vocab_size": 1000, "hidden_size": 32, "num_hidden_layers": 2,
		"num_attention_heads": 4, "intermediate_size": 37, "hidden_act": "gelu", "max_position_embeddings": 128,
		"type_vocab_size": 0, "initializer_range": 0.2, "layer_norm_eps": 1e-7, "relative_attention": true,
		"max_relative_positions": -1, "position_buckets": 16, "norm_rel_ebd": "layer_norm", "share_att_key": true,
		"pos_att_type": ["p2c", "c2p"], "position_biased_input": false, "pad_token_id": 0, "pooler_dropout": 0,
		"pooler_hidden_size": 32, "pooler_hidden_act": "gelu"}`,
	"longformer": `{"model_type": "longformer", "vocab_size": 1000, "hidden_size": 32, "num_hidden_layers": 2,
		"num_attention_heads": 4, "intermediate_size": 37, "hidden_act": "gelu", "max_position_embeddings": 130,
		"type_vocab_size": 1, "initializer_range": 0.2, "layer_norm_eps": 1e-5, "pad_token_id": 1,
		"bos_token_id": 0, "eos_token_id": 2, "sep_token_id": 2, "attention_window": [8, 8]}`,
}

// randomCase writes a seeded random-weight model folder and makes batches in the
// architecture's pair layout: Longformer finds the question (its global attention) by the
// separator, RoBERTa counts positions from the pad id.
func randomCase(t *testing.T, arch string) parityCase {
	t.Helper()
	cfg, err := models.ParseConfig([]byte(randomConfigs[arch]))
	require.NoError(t, err)
	torch.ManualSeed(42)
	m, err := models.New(cfg, torch.CPU)
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, models.Save(m, dir))
	m.Params().Free()

	cls, sep, pad, doubleSep := int64(3), int64(4), int64(0), false
	if arch == "roberta" || arch == "longformer" {
		cls, sep, pad, doubleSep = 0, 2, 1, true
	}
	types := arch == "bert"
	r := rand.New(rand.NewSource(int64(len(arch))))
	mk := func(lengths []int, width int) (rows, []int64, []int64) {
		var b rows
		var start, end []int64
		for _, n := range lengths {
			q := 5 + r.Intn(5)
			ids := []int64{cls}
			for range q {
				ids = append(ids, 5+r.Int63n(995))
			}
			ids = append(ids, sep)
			if doubleSep {
				ids = append(ids, sep)
			}
			ctxStart := len(ids)
			for len(ids) < n-1 {
				ids = append(ids, 5+r.Int63n(995))
			}
			ids = append(ids, sep)
			mask := make([]int64, width)
			tt := make([]int64, width)
			for i := range width {
				if i < len(ids) {
					mask[i] = 1
					if i >= ctxStart {
						tt[i] = 1
					}
				}
			}
			for len(ids) < width {
				ids = append(ids, pad)
			}
			b.IDs, b.Mask = append(b.IDs, ids), append(b.Mask, mask)
			if types {
				b.TypeIDs = append(b.TypeIDs, tt)
			}
			s := int64(ctxStart + r.Intn(n-1-ctxStart))
			start, end = append(start, s), append(end, min(s+int64(r.Intn(4)), int64(n-2)))
		}
		return b, start, end
	}
	c := parityCase{
		Arch: arch, Dir: dir, Source: "random", Overrides: "hidden_dropout_prob=0,attention_probs_dropout_prob=0",
		LR: 1e-3, Betas: [2]float64{0.9, 0.999}, Eps: 1e-8, WD: 0.01, Warmup: 2, MaxNorm: 1,
	}
	var start, end []int64
	c.Inputs, start, end = mk([]int{45, 30, 38}, 45)
	// Two cases as in the fixtures: one with a position past the window (clamped, then
	// ignored by the loss), one with every position inside.
	clamped := append([]int64(nil), end...)
	clamped[2] = 200
	c.Losses = []lossCase{{Name: "mixed_with_clamp", Start: start, End: clamped}, {Name: "all_valid", Start: start, End: end}}
	for i := range 6 {
		w := 24 + 4*i
		b, s, e := mk([]int{w, w - 5, w - 9}, w)
		c.Batches = append(c.Batches, batch{rows: b, Start: s, End: e})
	}
	return c
}

func overrides(m map[string]float64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys) // map order is random; the comparison of the two files' overrides needs one

	s := ""
	for _, k := range keys {
		if s != "" {
			s += ","
		}
		s += fmt.Sprintf("%s=%g", k, m[k])
	}
	return s
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, v))
}

func load(t *testing.T, c parityCase, dev torch.Device) models.QAModel {
	t.Helper()
	m, err := models.Load(c.Dir, models.LoadOptions{Device: dev, ConfigOverrides: c.Overrides})
	require.NoError(t, err)
	return m
}

// matrix uploads an int64 matrix to dev in scope s.
func matrix(s *torch.Scope, m [][]int64, dev torch.Device) *torch.Tensor {
	if m == nil {
		return nil
	}
	var flat []int64
	for _, r := range m {
		flat = append(flat, r...)
	}
	return torch.FromSlice(s, flat, int64(len(m)), int64(len(m[0]))).ToDevice(dev)
}

func vector(s *torch.Scope, v []int64, dev torch.Device) *torch.Tensor {
	if v == nil {
		return nil
	}
	return torch.FromSlice(s, v).ToDevice(dev)
}

func inputs(s *torch.Scope, r rows, start, end []int64, dev torch.Device) models.Inputs {
	return models.Inputs{IDs: matrix(s, r.IDs, dev), Mask: matrix(s, r.Mask, dev), TypeIDs: matrix(s, r.TypeIDs, dev),
		StartPositions: vector(s, start, dev), EndPositions: vector(s, end, dev)}
}

// evalLogits runs an eval-mode forward without gradients (under bf16 autocast when bf16) and
// returns the start and end logits on the host as float32.
func evalLogits(t *testing.T, m models.QAModel, r rows, dev torch.Device, bf16 bool) (start, end []float32) {
	t.Helper()
	torch.WithScope(func(s *torch.Scope) {
		in := inputs(s, r, nil, nil, dev)
		var out models.Output
		var err error
		run := func() { out, err = models.Forward(m, in, false) }
		torch.NoGrad(func() {
			if bf16 {
				torch.Autocast(dev, torch.BFloat16, run)
			} else {
				run()
			}
		})
		require.NoError(t, err)
		start, end = out.StartLogits.Float32s(), out.EndLogits.Float32s()
	})
	return start, end
}

// lossAndGrads runs a train-mode forward (dropout is off) with positions and a backward (the
// forward under bf16 autocast when bf16, the backward outside it, as torch.autocast wants) and
// returns the loss and every parameter's gradient on the host, in Params order.
func lossAndGrads(t *testing.T, m models.QAModel, r rows, start, end []int64, dev torch.Device, bf16 bool) (float64, [][]float32) {
	t.Helper()
	m.Params().ZeroGrad()
	var loss float64
	torch.WithScope(func(s *torch.Scope) {
		in := inputs(s, r, start, end, dev)
		var out models.Output
		var err error
		run := func() { out, err = models.Forward(m, in, true) }
		if bf16 {
			torch.Autocast(dev, torch.BFloat16, run)
		} else {
			run()
		}
		require.NoError(t, err)
		loss = out.Loss.Item()
		require.NoError(t, torch.Catch(out.Loss.Backward))
	})
	if bf16 {
		require.True(t, torch.GradsAllFinite(m.Params().All()), "bf16 gradients hold inf or NaN")
	}
	grads := make([][]float32, 0, m.Params().Len())
	for _, name := range m.Params().Names() {
		g := m.Params().Get(name).Grad()
		require.NotNil(t, g, "%s has no gradient", name)
		grads = append(grads, g.Float32s())
		g.Free()
	}
	m.Params().ZeroGrad()
	return loss, grads
}

func norm(v []float32) float64 {
	s := 0.0
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}

// relL2 is ||got - want|| / ||want|| (||got|| when want is zero).
func relL2(got, want []float32) float64 {
	if len(got) != len(want) {
		return math.Inf(1)
	}
	d := 0.0
	for i := range got {
		x := float64(got[i]) - float64(want[i])
		d += x * x
	}
	if w := norm(want); w > 0 {
		return math.Sqrt(d) / w
	}
	return math.Sqrt(d)
}

func maxAbs(got, want []float32) float64 {
	if len(got) != len(want) {
		return math.Inf(1)
	}
	worst := 0.0
	for i := range got {
		worst = math.Max(worst, math.Abs(float64(got[i])-float64(want[i])))
	}
	return worst
}

func finite(v []float32) bool {
	for _, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return false
		}
	}
	return true
}

func relDiff(got, want float64) float64 {
	if want == 0 {
		return math.Abs(got)
	}
	return math.Abs(got-want) / math.Abs(want)
}

// TestCUDAParity: eval logits, train-mode losses and every gradient of the four fixture
// architectures in float32 on the device against the CPU.
func TestCUDAParity(t *testing.T) {
	dev := deviceUnderTest(t)
	for _, c := range cases(t) {
		t.Run(c.Arch, func(t *testing.T) {
			cpu, gpu := load(t, c, torch.CPU), load(t, c, dev)
			defer cpu.Params().Free()
			defer gpu.Params().Free()

			cs, ce := evalLogits(t, cpu, c.Inputs, torch.CPU, false)
			gs, ge := evalLogits(t, gpu, c.Inputs, dev, false)
			logitDiff := math.Max(maxAbs(gs, cs), maxAbs(ge, ce))
			require.LessOrEqual(t, logitDiff, logitAbsTol, "%s: eval logits on %s differ from the CPU's", c.Arch, dev)

			names := cpu.Params().Names()
			zero := fixtures.ZeroGradientParams(names)
			worstGrad, worstLoss := 0.0, 0.0
			for _, lc := range c.Losses {
				cl, cg := lossAndGrads(t, cpu, c.Inputs, lc.Start, lc.End, torch.CPU, false)
				gl, gg := lossAndGrads(t, gpu, c.Inputs, lc.Start, lc.End, dev, false)
				worstLoss = math.Max(worstLoss, relDiff(gl, cl))
				require.LessOrEqual(t, relDiff(gl, cl), lossRelTol, "%s %s: loss %.9g on %s, %.9g on the CPU", c.Arch, lc.Name, gl, dev, cl)
				largest := 0.0
				for _, g := range cg {
					largest = math.Max(largest, norm(g))
				}
				for i, name := range names {
					if zero[name] {
						// True gradient zero: both sides must hold noise only.
						require.LessOrEqual(t, math.Max(norm(cg[i]), norm(gg[i])), zeroGradTol*largest,
							"%s %s %s: true gradient zero, |g| %g on %s, %g on the CPU", c.Arch, lc.Name, name, norm(gg[i]), dev, norm(cg[i]))
						continue
					}
					d := relL2(gg[i], cg[i])
					worstGrad = math.Max(worstGrad, d)
					require.LessOrEqual(t, d, gradRelTol, "%s %s %s: gradient on %s differs from the CPU's", c.Arch, lc.Name, name, dev)
				}
			}
			t.Logf("PARITY %s (%s models): logits max |diff| %.3g, loss rel %.3g, worst gradient rel L2 %.3g over %d parameters",
				c.Arch, c.Source, logitDiff, worstLoss, worstGrad, len(names))
		})
	}
}

// TestCUDABF16Autocast: bf16 autocast forward and backward on the device are finite and close
// to float32 on the same device.
func TestCUDABF16Autocast(t *testing.T) {
	dev := deviceUnderTest(t)
	for _, c := range cases(t) {
		t.Run(c.Arch, func(t *testing.T) {
			m := load(t, c, dev)
			defer m.Params().Free()
			fs, fe := evalLogits(t, m, c.Inputs, dev, false)
			bs, be := evalLogits(t, m, c.Inputs, dev, true)
			require.True(t, finite(bs) && finite(be), "%s: bf16 logits hold inf or NaN", c.Arch)
			logitRel := math.Max(relL2(bs, fs), relL2(be, fe))
			require.LessOrEqual(t, logitRel, bf16LogitRelTol, "%s: bf16 logits against float32", c.Arch)

			zero := fixtures.ZeroGradientParams(m.Params().Names())
			lc := c.Losses[len(c.Losses)-1]
			fl, fg := lossAndGrads(t, m, c.Inputs, lc.Start, lc.End, dev, false)
			bl, bg := lossAndGrads(t, m, c.Inputs, lc.Start, lc.End, dev, true)
			require.False(t, math.IsNaN(bl) || math.IsInf(bl, 0), "%s: bf16 loss %v", c.Arch, bl)
			require.LessOrEqual(t, relDiff(bl, fl), bf16LossRelTol, "%s: bf16 loss %.6g, float32 %.6g", c.Arch, bl, fl)
			var fAll, bAll []float32
			for i, name := range m.Params().Names() {
				require.True(t, finite(bg[i]), "%s: bf16 gradient of %s", c.Arch, name)
				if !zero[name] {
					fAll, bAll = append(fAll, fg[i]...), append(bAll, bg[i]...)
				}
			}
			gradRel := relL2(bAll, fAll)
			require.LessOrEqual(t, gradRel, bf16GradRelTol, "%s: bf16 gradients against float32", c.Arch)
			t.Logf("BF16 %s (%s models): logits rel L2 %.3g, loss rel %.3g, gradients rel L2 %.3g (bounds %g, %g, %g)",
				c.Arch, c.Source, logitRel, relDiff(bl, fl), gradRel, bf16LogitRelTol, bf16LossRelTol, bf16GradRelTol)
		})
	}
}

// TestCUDAAdamW: six optimizer steps (forward, backward, clipping, AdamW, linear schedule with
// warm-up: train.Step, as training runs them) on the device and on the CPU, then bf16 steps
// on the device, which must stay finite and near the float32 losses.
func TestCUDAAdamW(t *testing.T) {
	dev := deviceUnderTest(t)
	for _, c := range cases(t) {
		t.Run(c.Arch, func(t *testing.T) {
			run := func(dev torch.Device, prec *train.Precision) ([]train.StepResult, models.QAModel) {
				m := load(t, c, dev)
				opt := train.NewAdamW(m.Params(), c.Betas[0], c.Betas[1], c.Eps, c.WD)
				defer opt.Free()
				sched := train.Schedule{Kind: "linear", WarmupSteps: c.Warmup, TotalSteps: int64(len(c.Batches))}
				var res []train.StepResult
				for i, b := range c.Batches {
					mb := func(s *torch.Scope) models.Inputs { return inputs(s, b.rows, b.Start, b.End, dev) }
					r, err := train.Step(m, opt, []train.MicroBatch{mb}, c.LR*sched.Factor(int64(i)), train.StepOptions{MaxGradNorm: c.MaxNorm, Precision: prec})
					require.NoError(t, err, "%s step %d on %s", c.Arch, i+1, dev)
					res = append(res, r)
				}
				return res, m
			}
			cpuRes, cpu := run(torch.CPU, nil)
			defer cpu.Params().Free()
			gpuRes, gpu := run(dev, nil)
			defer gpu.Params().Free()
			worst := map[string]float64{}
			for i := range cpuRes {
				for k, d := range map[string]float64{"loss": relDiff(gpuRes[i].Loss, cpuRes[i].Loss), "grad_norm": relDiff(gpuRes[i].GradNorm, cpuRes[i].GradNorm)} {
					worst[k] = math.Max(worst[k], d)
					require.LessOrEqual(t, d, lossRelTol, "%s step %d %s on %s against the CPU", c.Arch, i+1, k, dev)
				}
				if i < len(c.GoldenLosses) {
					worst["loss_vs_hf"] = math.Max(worst["loss_vs_hf"], relDiff(gpuRes[i].Loss, c.GoldenLosses[i]))
				}
			}
			// As train/trajectory_test.go: parameters whose true gradient is zero move by AdamW's
			// normalised noise, at most (1-beta1)/sqrt(1-beta2) * lr per element and step.
			zero := fixtures.ZeroGradientParams(cpu.Params().Names())
			lrSum := 0.0
			sched := train.Schedule{Kind: "linear", WarmupSteps: c.Warmup, TotalSteps: int64(len(c.Batches))}
			for i := range c.Batches {
				lrSum += c.LR * sched.Factor(int64(i))
			}
			maxStep := (1 - c.Betas[0]) / math.Sqrt(1-c.Betas[1])
			for _, name := range cpu.Params().Names() {
				cv, gv := cpu.Params().Get(name).Float32s(), gpu.Params().Get(name).Float32s()
				cn, gn := norm(cv), norm(gv)
				if zero[name] {
					bound := maxStep * lrSum * math.Sqrt(float64(len(cv)))
					require.LessOrEqual(t, math.Abs(gn-cn), bound, "%s final norm of %s (true gradient zero)", c.Arch, name)
					continue
				}
				worst["param_norm"] = math.Max(worst["param_norm"], relDiff(gn, cn))
				require.LessOrEqual(t, relDiff(gn, cn), paramNormRelTol, "%s final norm of %s on %s against the CPU", c.Arch, name, dev)
				worst["param_rel_l2"] = math.Max(worst["param_rel_l2"], relL2(gv, cv))
			}

			prec, err := train.NewPrecision(false, true, dev)
			require.NoError(t, err)
			bfRes, bf := run(dev, prec)
			defer bf.Params().Free()
			for i := range bfRes {
				require.False(t, math.IsNaN(bfRes[i].Loss) || math.IsInf(bfRes[i].GradNorm, 0), "%s bf16 step %d: loss %v grad norm %v", c.Arch, i+1, bfRes[i].Loss, bfRes[i].GradNorm)
				worst["bf16_loss"] = math.Max(worst["bf16_loss"], relDiff(bfRes[i].Loss, gpuRes[i].Loss))
				require.LessOrEqual(t, relDiff(bfRes[i].Loss, gpuRes[i].Loss), bf16LossRelTol, "%s bf16 step %d loss against float32", c.Arch, i+1)
			}
			t.Logf("ADAMW %s (%s models): %d steps, worst relative differences %v (param_rel_l2 and loss_vs_hf are reported, not bounded)",
				c.Arch, c.Source, len(c.Batches), worst)
		})
	}
}
