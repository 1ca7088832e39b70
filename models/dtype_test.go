package models

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/spanqa/spanqa/internal/fixtures"
	"github.com/spanqa/spanqa/torch"
)

// TestLoadCastsToBFloat16 loads the BERT fixture in bfloat16: every parameter is cast, the
// forward runs, and the logits stay close to the float32 goldens (bfloat16 keeps 8 bits).
func TestLoadCastsToBFloat16(t *testing.T) {
	dir := fixtures.Models(t, "bert")
	g := readGolden(t, dir)
	m, err := Load(dir, LoadOptions{DType: torch.BFloat16})
	require.NoError(t, err)
	defer m.Params().Free()
	for _, p := range m.Params().All() {
		require.Equal(t, torch.BFloat16, p.DType())
		require.True(t, p.RequiresGrad())
	}
	torch.WithScope(func(s *torch.Scope) {
		var out Output
		torch.NoGrad(func() { out, err = Forward(m, goldenInputs(s, g), false) })
		require.NoError(t, err)
		got := out.StartLogits.Float32s()
		worst := 0.0
		for i, row := range g.Eval.StartLogits {
			for j, w := range row {
				worst = math.Max(worst, math.Abs(float64(got[i*len(row)+j])-w))
			}
		}
		require.Less(t, worst, 0.25, "bfloat16 logits drift too far from float32")
		t.Logf("bfloat16 vs float32 goldens: largest start-logit difference %.3g", worst)
	})
	_, err = Load(dir, LoadOptions{DType: torch.Int64})
	require.ErrorContains(t, err, "not a floating-point type")
}
