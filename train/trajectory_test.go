package train

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/spanqa/spanqa/internal/fixtures"
	"github.com/spanqa/spanqa/models"
	"github.com/spanqa/spanqa/torch"
)

type trajectory struct {
	ConfigOverrides map[string]float64 `json:"config_overrides"`
	Optimizer       struct {
		LR          float64   `json:"lr"`
		Betas       []float64 `json:"betas"`
		Eps         float64   `json:"eps"`
		WeightDecay float64   `json:"weight_decay"`
	} `json:"optimizer"`
	NoDecay   []string `json:"no_decay_parameter_names"`
	Scheduler struct {
		Name          string `json:"name"`
		WarmupSteps   int64  `json:"num_warmup_steps"`
		TrainingSteps int64  `json:"num_training_steps"`
	} `json:"scheduler"`
	MaxGradNorm float64                      `json:"max_grad_norm"`
	Batches     []map[string]json.RawMessage `json:"batches"`
	Steps       []struct {
		Step     int     `json:"step"`
		LR       float64 `json:"lr"`
		Loss     float64 `json:"loss"`
		GradNorm float64 `json:"grad_norm_before_clip"`
	} `json:"steps"`
	FinalParamNorms map[string]float64 `json:"final_param_norms"`
}

// trajectoryArchs are the fixture folders whose models exist.
var trajectoryArchs = []string{"bert", "roberta", "deberta-v3", "longformer"}

func relDiff(got, want float64) float64 {
	if want == 0 {
		return math.Abs(got)
	}
	return math.Abs(got-want) / math.Abs(want)
}

func TestTrajectoryParity(t *testing.T) {
	for _, arch := range trajectoryArchs {
		t.Run(arch, func(t *testing.T) {
			dir := fixtures.Models(t, arch)
			data, err := os.ReadFile(filepath.Join(dir, "trajectory.json"))
			require.NoError(t, err)
			var tr trajectory
			require.NoError(t, json.Unmarshal(data, &tr))
			overrides := ""
			for k, v := range tr.ConfigOverrides {
				if overrides != "" {
					overrides += ","
				}
				overrides += fmt.Sprintf("%s=%g", k, v)
			}
			m, err := models.Load(dir, models.LoadOptions{ConfigOverrides: overrides})
			require.NoError(t, err)
			defer m.Params().Free()
			opt := NewAdamW(m.Params(), tr.Optimizer.Betas[0], tr.Optimizer.Betas[1], tr.Optimizer.Eps, tr.Optimizer.WeightDecay)
			defer opt.Free()
			_, noDecay := opt.DecayNames()
			require.ElementsMatch(t, tr.NoDecay, noDecay, "weight-decay groups")
			require.Equal(t, "get_linear_schedule_with_warmup", tr.Scheduler.Name)
			sched := Schedule{Kind: "linear", WarmupSteps: tr.Scheduler.WarmupSteps, TotalSteps: tr.Scheduler.TrainingSteps}
			worst := map[string]float64{}
			lrSum := 0.0
			for i, b := range tr.Batches {
				mb := func(s *torch.Scope) models.Inputs {
					mat := func(key string) *torch.Tensor {
						raw, ok := b[key]
						if !ok {
							return nil
						}
						var rows [][]int64
						require.NoError(t, json.Unmarshal(raw, &rows))
						var flat []int64
						for _, r := range rows {
							flat = append(flat, r...)
						}
						return torch.FromSlice(s, flat, int64(len(rows)), int64(len(rows[0])))
					}
					vec := func(key string) *torch.Tensor {
						var v []int64
						require.NoError(t, json.Unmarshal(b[key], &v))
						return torch.FromSlice(s, v)
					}
					return models.Inputs{IDs: mat("input_ids"), Mask: mat("attention_mask"), TypeIDs: mat("token_type_ids"),
						StartPositions: vec("start_positions"), EndPositions: vec("end_positions")}
				}
				lr := tr.Optimizer.LR * sched.Factor(int64(i))
				lrSum += lr
				res, err := Step(m, opt, []MicroBatch{mb}, lr, StepOptions{MaxGradNorm: tr.MaxGradNorm})
				require.NoError(t, err)
				want := tr.Steps[i]
				for k, d := range map[string]float64{"lr": relDiff(res.LR, want.LR), "loss": relDiff(res.Loss, want.Loss), "grad_norm": relDiff(res.GradNorm, want.GradNorm)} {
					worst[k] = math.Max(worst[k], d)
					require.LessOrEqual(t, d, 1e-5, "step %d %s", want.Step, k)
				}
			}
			// A parameter whose true gradient is zero is moved by AdamW's normalised rounding noise
			// (m/sqrt(v) of noise is of order one): its path is noise in HF too. It is only held to
			// what AdamW can move it at most, (1-beta1)/sqrt(1-beta2) * lr per element and step.
			zero := fixtures.ZeroGradientParams(m.Params().Names())
			maxStep := (1 - tr.Optimizer.Betas[0]) / math.Sqrt(1-tr.Optimizer.Betas[1])
			torch.NoGrad(func() {
				for _, name := range m.Params().Names() {
					got := m.Params().Get(name).ToDType(torch.Float64)
					if zero[name] {
						bound := maxStep * lrSum * math.Sqrt(float64(got.Numel()))
						require.LessOrEqual(t, math.Abs(got.Norm().Item()-tr.FinalParamNorms[name]), bound, "final norm of %s (true gradient zero)", name)
						got.Free()
						continue
					}
					d := relDiff(got.Norm().Item(), tr.FinalParamNorms[name])
					got.Free()
					worst["param_norm"] = math.Max(worst["param_norm"], d)
					require.LessOrEqual(t, d, 1e-5, "final norm of %s", name)
				}
			})
			t.Logf("%s: worst relative differences over 6 steps: %v", arch, worst)
		})
	}
}
