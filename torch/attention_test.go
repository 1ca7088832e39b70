package torch

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// explicitAttention is the definition Attention must compute, written out op by op.
func explicitAttention(q, k, v, mask *Tensor) *Tensor {
	scores := q.Matmul(k.Transpose(-1, -2)).DivScalar(math.Sqrt(float64(q.Size(-1))))
	if mask != nil {
		scores = scores.Add(mask)
	}
	return scores.Softmax(-1).Matmul(v)
}

func maxAbs(a, b *Tensor) float64 {
	worst := 0.0
	av, bv := a.ToDType(Float64), b.ToDType(Float64)
	x, y := ToSlice[float64](av), ToSlice[float64](bv)
	for i := range x {
		worst = math.Max(worst, math.Abs(x[i]-y[i]))
	}
	return worst
}

// Attention (fused scaled_dot_product_attention on libtorch 2.x, explicit on 1.13) computes the
// definition, forward and backward, with a padding mask as the models pass it.
func TestAttentionIsTheDefinition(t *testing.T) {
	ManualSeed(3)
	WithScope(func(s *Scope) {
		const b, h, l, d = 2, 3, 7, 8
		q := Randn(s, Float32, CPU, b, h, l, d).SetRequiresGrad(true)
		k := Randn(s, Float32, CPU, b, h, l, d).SetRequiresGrad(true)
		v := Randn(s, Float32, CPU, b, h, l, d).SetRequiresGrad(true)
		// Row 1 has its last three positions padded; -3.4e38 is float32's lowest, as HF's mask.
		m := make([]float32, b*l)
		for j := l - 3; j < l; j++ {
			m[l+j] = -3.4028235e38
		}
		mask := FromSlice(s, m, b, 1, 1, l)

		got := Attention(q, k, v, mask, 0, true)
		want := explicitAttention(q, k, v, mask)
		assert.Less(t, maxAbs(got, want), 1e-5, "forward")

		grads := func(out *Tensor) []*Tensor {
			for _, x := range []*Tensor{q, k, v} {
				x.ZeroGrad()
			}
			out.Mul(out).Sum().Backward()
			return []*Tensor{q.Grad().Clone(), k.Grad().Clone(), v.Grad().Clone()}
		}
		g1, g2 := grads(got), grads(want)
		for i, name := range []string{"q", "k", "v"} {
			assert.Less(t, maxAbs(g1[i], g2[i]), 1e-4, "grad %s", name)
		}

		// Without a mask, and in inference (dropout off even with p > 0).
		NoGrad(func() {
			assert.Less(t, maxAbs(Attention(q, k, v, nil, 0, false), explicitAttention(q, k, v, nil)), 1e-5)
			assert.Equal(t, 0.0, maxAbs(Attention(q, k, v, mask, 0.5, false), Attention(q, k, v, mask, 0, false)))
		})
		// Dropout in training changes the output and keeps it finite.
		dropped := Attention(q, k, v, mask, 0.5, true)
		require.Equal(t, 1.0, dropped.AllFinite().Item())
		assert.Greater(t, maxAbs(dropped, got), 1e-3)
	})
}
