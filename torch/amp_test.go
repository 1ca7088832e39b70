package torch

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAutocastBF16OnCPU(t *testing.T) {
	WithScope(func(s *Scope) {
		x := Randn(s, Float32, CPU, 4, 8)
		w := Randn(s, Float32, CPU, 3, 8)
		var y *Tensor
		Autocast(CPU, BFloat16, func() { y = Linear(x, w, nil) })
		require.Equal(t, BFloat16, y.DType(), "linear runs in bfloat16 under autocast")
		require.Equal(t, Float32, Linear(x, w, nil).DType(), "autocast ends with the region")
		ref := Linear(x, w, nil).Float32s()
		got := y.Float32s()
		for i := range ref {
			require.InDelta(t, ref[i], got[i], 0.05*math.Max(1, math.Abs(float64(ref[i]))))
		}
	})
	_, err := Try(func() *Tensor {
		Autocast(CPU, Float16, func() {})
		return nil
	})
	require.Error(t, err)
}

func TestGradsAllFinite(t *testing.T) {
	WithScope(func(s *Scope) {
		p := FromSlice(s, []float32{1, 2}).SetRequiresGrad(true)
		q := FromSlice(s, []float32{3}).SetRequiresGrad(true)
		require.True(t, GradsAllFinite([]*Tensor{p, q}), "no gradients yet")
		p.MulScalar(2).Sum().Add(q.Sum()).Backward()
		require.True(t, GradsAllFinite([]*Tensor{p, q}))
		ScaleGrads([]*Tensor{q}, math.Inf(1))
		require.False(t, GradsAllFinite([]*Tensor{p, q}))
	})
}
