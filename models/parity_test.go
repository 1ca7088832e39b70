package models

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/spanqa/spanqa/internal/fixtures"
	"github.com/spanqa/spanqa/torch"
	"github.com/spanqa/spanqa/torch/weights"
)

// golden is the part of fixtures/models/<arch>/golden.json the parity tests read.
type golden struct {
	Inputs map[string][][]int64 `json:"inputs"`
	Eval   struct {
		StartLogits [][]float64 `json:"start_logits"`
		EndLogits   [][]float64 `json:"end_logits"`
	} `json:"eval"`
	Train struct {
		ConfigOverrides map[string]float64 `json:"config_overrides"`
		LossCases       []struct {
			Name           string             `json:"name"`
			StartPositions []int64            `json:"start_positions"`
			EndPositions   []int64            `json:"end_positions"`
			Loss           float64            `json:"loss"`
			GlobalGradNorm float64            `json:"global_grad_norm"`
			GradNorms      map[string]float64 `json:"grad_norms"`
		} `json:"loss_cases"`
	} `json:"train"`
}

func readGolden(t *testing.T, dir string) *golden {
	data, err := os.ReadFile(filepath.Join(dir, "golden.json"))
	require.NoError(t, err)
	var g golden
	require.NoError(t, json.Unmarshal(data, &g))
	return &g
}

func flatten(rows [][]int64) ([]int64, int64, int64) {
	var out []int64
	for _, r := range rows {
		out = append(out, r...)
	}
	return out, int64(len(rows)), int64(len(rows[0]))
}

// goldenInputs builds Inputs in scope s from the golden's inputs.
func goldenInputs(s *torch.Scope, g *golden) Inputs {
	mk := func(key string) *torch.Tensor {
		rows, ok := g.Inputs[key]
		if !ok {
			return nil
		}
		v, b, l := flatten(rows)
		return torch.FromSlice(s, v, b, l)
	}
	return Inputs{IDs: mk("input_ids"), Mask: mk("attention_mask"), TypeIDs: mk("token_type_ids")}
}

// loadFrom loads the fixture with only one weight file visible, by linking it into a temp dir.
func loadFrom(t *testing.T, dir, weightFile, overrides string) QAModel {
	tmp := t.TempDir()
	for _, f := range []string{"config.json", weightFile} {
		require.NoError(t, os.Symlink(filepath.Join(dir, f), filepath.Join(tmp, f)))
	}
	m, err := Load(tmp, LoadOptions{ConfigOverrides: overrides})
	require.NoError(t, err)
	return m
}

// parityArchs are the fixture folders whose models exist; later architectures add theirs.
var parityArchs = []string{"bert", "roberta", "deberta-v3", "longformer"}

func TestEvalLogitsParity(t *testing.T) {
	for _, arch := range parityArchs {
		for _, wf := range []string{weights.SafetensorsName, weights.TorchBinName} {
			t.Run(arch+"/"+wf, func(t *testing.T) {
				dir := fixtures.Models(t, arch)
				g := readGolden(t, dir)
				m := loadFrom(t, dir, wf, "")
				defer m.Params().Free()
				torch.WithScope(func(s *torch.Scope) {
					var out Output
					var err error
					torch.NoGrad(func() { out, err = Forward(m, goldenInputs(s, g), false) })
					require.NoError(t, err)
					maxDiff := math.Max(maxAbsDiff(t, out.StartLogits, g.Eval.StartLogits), maxAbsDiff(t, out.EndLogits, g.Eval.EndLogits))
					t.Logf("%s %s: largest logit difference %.3g", arch, wf, maxDiff)
					require.LessOrEqual(t, maxDiff, 1e-5)
				})
			})
		}
	}
}

func maxAbsDiff(t *testing.T, got *torch.Tensor, want [][]float64) float64 {
	v := got.Float32s()
	require.Equal(t, []int64{int64(len(want)), int64(len(want[0]))}, got.Shape())
	worst := 0.0
	for i, row := range want {
		for j, w := range row {
			worst = math.Max(worst, math.Abs(float64(v[i*len(row)+j])-float64(float32(w))))
		}
	}
	return worst
}

func TestTrainLossAndGradParity(t *testing.T) {
	for _, arch := range parityArchs {
		for _, wf := range []string{weights.SafetensorsName, weights.TorchBinName} {
			t.Run(arch+"/"+wf, func(t *testing.T) {
				dir := fixtures.Models(t, arch)
				g := readGolden(t, dir)
				overrides := ""
				for k, v := range g.Train.ConfigOverrides {
					if overrides != "" {
						overrides += ","
					}
					overrides += k + "=" + jsonNumber(v)
				}
				m := loadFrom(t, dir, wf, overrides)
				defer m.Params().Free()
				for _, c := range g.Train.LossCases {
					torch.WithScope(func(s *torch.Scope) {
						in := goldenInputs(s, g)
						in.StartPositions = torch.FromSlice(s, c.StartPositions)
						in.EndPositions = torch.FromSlice(s, c.EndPositions)
						m.Params().ZeroGrad()
						out, err := Forward(m, in, true)
						require.NoError(t, err)
						loss := out.Loss.Item()
						require.InEpsilon(t, c.Loss, loss, 1e-6, "%s loss", c.Name)
						out.Loss.Backward()
						names := m.Params().Names()
						norms, has := torch.GradNorms(m.Params().All())
						largest := 0.0
						for _, want := range c.GradNorms {
							largest = math.Max(largest, want)
						}
						// Parameters whose true gradient is zero hold rounding noise: they are only
						// checked for being noise, on both sides.
						zero := fixtures.ZeroGradientParams(names)
						worst := 0.0
						for i, name := range names {
							want, ok := c.GradNorms[name]
							require.True(t, ok, "golden lacks %s", name)
							require.True(t, has[i], "%s has no gradient", name)
							if zero[name] {
								require.LessOrEqual(t, math.Max(norms[i], want), 1e-5*largest, "%s %s: true gradient zero, got %g want %g", c.Name, name, norms[i], want)
								continue
							}
							rel := math.Abs(norms[i]-want) / math.Max(math.Abs(want), 1e-30)
							if want == 0 {
								rel = math.Abs(norms[i])
							}
							worst = math.Max(worst, rel)
							require.LessOrEqual(t, rel, 1e-4, "%s %s grad norm: got %g want %g", c.Name, name, norms[i], want)
						}
						require.Len(t, c.GradNorms, len(names), "parameter sets differ")
						t.Logf("%s %s %s: loss %.9g (golden %.9g), worst grad-norm rel diff %.3g", arch, wf, c.Name, loss, c.Loss, worst)
					})
				}
			})
		}
	}
}

func jsonNumber(v float64) string {
	b, _ := json.Marshal(v)
	return string(b)
}
