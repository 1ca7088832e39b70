package train

import (
	"bytes"
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/spanqa/spanqa/torch"
)

func TestGradScalerSkipsOverflowAndBacksOff(t *testing.T) {
	g := NewGradScaler()
	g.GrowthInterval = 2
	torch.WithScope(func(s *torch.Scope) {
		p := torch.FromSlice(s, []float32{1, 2}).SetRequiresGrad(true)
		p.MulScalar(g.Scale).Sum().Backward()
		require.True(t, g.unscale([]*torch.Tensor{p}))
		grad := p.Grad()
		require.Equal(t, []float32{1, 1}, grad.Float32s(), "unscaled back to the true gradient")
		grad.Free()
		require.Equal(t, 65536.0, g.Scale)
		p.ZeroGrad()
		p.MulScalar(math.Inf(1)).Sum().Backward()
		require.False(t, g.unscale([]*torch.Tensor{p}), "overflow detected")
		require.Equal(t, 32768.0, g.Scale, "scale backs off")
		for i := 0; i < 2; i++ {
			p.ZeroGrad()
			p.Sum().Backward()
			require.True(t, g.unscale([]*torch.Tensor{p}))
		}
		require.Equal(t, 65536.0, g.Scale, "scale grows after GrowthInterval clean steps")
	})
}

func TestPrecisionChoices(t *testing.T) {
	_, err := NewPrecision(true, false, torch.CPU)
	require.ErrorContains(t, err, "CUDA")
	_, err = NewPrecision(true, true, torch.CUDA(0))
	require.Error(t, err)
	p, err := NewPrecision(false, false, torch.CPU)
	require.NoError(t, err)
	require.Nil(t, p)
}

func TestBF16TrainingRunsOnCPU(t *testing.T) {
	a := smallArgs(t, filepath.Join(t.TempDir(), "bf16"))
	a.MaxSteps, a.BF16 = 3, true
	var losses []float64
	tr := &Trainer{Args: a, Log: &bytes.Buffer{}, OnStep: func(_ int64, r StepResult) { losses = append(losses, r.Loss) }}
	_, err := tr.Run(context.Background())
	require.NoError(t, err)
	require.Len(t, losses, 3)
	for _, l := range losses {
		require.False(t, math.IsNaN(l) || math.IsInf(l, 0))
	}
}
