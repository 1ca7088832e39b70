package torch

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// The multi-tensor AdamW (spanqa's path for CUDA parameters, torch's default there) computes what
// the single-tensor one (spanqa's and torch's CPU path) computes, step after step, including
// the parameter without a gradient, which both leave alone.
func TestAdamWForeachMatchesSingleTensor(t *testing.T) {
	ManualSeed(11)
	WithScope(func(s *Scope) {
		shapes := [][]int64{{5, 3}, {7}, {2, 2, 4}, {3}}
		var single, multi, m1, v1, m2, v2 []*Tensor
		for _, sh := range shapes {
			p := Randn(s, Float32, CPU, sh...)
			single = append(single, p.Clone().SetRequiresGrad(true))
			multi = append(multi, p.Clone().SetRequiresGrad(true))
			m1, v1 = append(m1, p.ZerosLike()), append(v1, p.ZerosLike())
			m2, v2 = append(m2, p.ZerosLike()), append(v2, p.ZerosLike())
		}
		for step := int64(1); step <= 5; step++ {
			for i := range shapes {
				single[i].ZeroGrad()
				multi[i].ZeroGrad()
			}
			// The last parameter gets no gradient; the others get the same random one on both sides.
			for i := 0; i < len(shapes)-1; i++ {
				r := Randn(s, Float32, CPU, shapes[i]...)
				single[i].Mul(r).Sum().Backward()
				multi[i].Mul(r).Sum().Backward()
			}
			lr := 1e-2 / float64(step)
			for i := range shapes {
				AdamWStep(single[i], m1[i], v1[i], lr, 0.9, 0.999, 1e-8, 0.01, step)
			}
			AdamWStepForeach(multi, m2, v2, lr, 0.9, 0.999, 1e-8, 0.01, step)
		}
		for i := range shapes {
			a, b := single[i].Detach().Float32s(), multi[i].Detach().Float32s()
			for j := range a {
				require.LessOrEqual(t, math.Abs(float64(a[j]-b[j])), 1e-6*math.Max(1, math.Abs(float64(a[j]))), "param %d elem %d", i, j)
			}
		}
		require.Equal(t, 0.0, m2[len(shapes)-1].Abs().Sum().Item(), "a parameter without gradient was updated")
	})
}
