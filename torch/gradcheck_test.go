package torch

import (
	"math"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/require"
)

// gradCheck compares autograd's gradient of sum(f(x) * w) (w a fixed random weight, so every
// output element matters differently) with central finite differences, in float64.
func gradCheck(t *testing.T, name string, shape []int64, f func(x *Tensor) *Tensor, positive bool) {
	t.Helper()
	rng := rand.New(rand.NewSource(1))
	n := int(numelOf(shape))
	x0 := make([]float64, n)
	for i := range x0 {
		x0[i] = rng.NormFloat64()
		if positive {
			x0[i] = math.Abs(x0[i]) + 0.5
		}
	}
	WithScope(func(s *Scope) {
		var wvals []float64
		eval := func(vals []float64, withGrad bool) (float64, []float64) {
			var val float64
			var grad []float64
			WithScope(func(s2 *Scope) {
				x := FromSlice(s2, vals, shape...).SetRequiresGrad(withGrad)
				y := f(x)
				if wvals == nil {
					wvals = make([]float64, y.Numel())
					for i := range wvals {
						wvals[i] = rng.NormFloat64()
					}
				}
				w := FromSlice(s2, wvals, y.Shape()...)
				loss := y.ToDType(Float64).Mul(w).Sum()
				val = loss.Item()
				if withGrad {
					loss.Backward()
					g := x.Grad()
					grad = g.Float64s()
					g.Free()
				}
			})
			return val, grad
		}
		_, analytic := eval(x0, true)
		const h = 1e-6
		worst := 0.0
		for i := range x0 {
			xp := append([]float64(nil), x0...)
			xm := append([]float64(nil), x0...)
			xp[i] += h
			xm[i] -= h
			fp, _ := eval(xp, false)
			fm, _ := eval(xm, false)
			numeric := (fp - fm) / (2 * h)
			diff := math.Abs(numeric-analytic[i]) / math.Max(1, math.Abs(numeric))
			worst = math.Max(worst, diff)
		}
		require.Less(t, worst, 1e-5, "%s: gradient differs from finite differences by %g", name, worst)
	})
}

func TestGradCheckOps(t *testing.T) {
	s := NewScope()
	defer s.Close()
	w34 := FromSlice(s, []float64{0.3, -0.2, 0.5, 0.1, -0.4, 0.7, 0.2, -0.1, 0.6, -0.3, 0.05, 0.9}, 3, 4)
	b3 := FromSlice(s, []float64{0.1, -0.2, 0.3})
	ln := FromSlice(s, []float64{1.1, 0.9, 1.2, 0.8})
	lb := FromSlice(s, []float64{0.1, 0.0, -0.1, 0.2})
	ids := FromSlice(s, []int64{2, 0, 1, 2})
	target := FromSlice(s, []int64{1, 3})
	mask := FromSlice(s, []bool{true, false, false, true, false, true, false, false}, 2, 4)
	cases := []struct {
		name     string
		shape    []int64
		f        func(x *Tensor) *Tensor
		positive bool
	}{
		// element-wise
		{"tanh", []int64{2, 3}, func(x *Tensor) *Tensor { return x.Tanh() }, false},
		{"gelu", []int64{2, 3}, func(x *Tensor) *Tensor { return x.Gelu() }, false},
		{"gelu_tanh", []int64{2, 3}, func(x *Tensor) *Tensor { return x.GeluTanh() }, false},
		{"exp_sigmoid", []int64{5}, func(x *Tensor) *Tensor { return x.Exp().Add(x.Sigmoid()) }, false},
		{"sqrt_log_rsqrt", []int64{4}, func(x *Tensor) *Tensor { return x.Sqrt().Add(x.Log()).Add(x.Rsqrt()) }, true},
		{"pow_div", []int64{4}, func(x *Tensor) *Tensor { return x.PowScalar(3).Div(x.AddScalar(3)) }, true},
		{"scalar_ops", []int64{4}, func(x *Tensor) *Tensor { return x.MulScalar(2).AddScalar(1).RSubScalar(3).DivScalar(4) }, false},
		{"clamp", []int64{6}, func(x *Tensor) *Tensor { return x.ClampRange(-0.5, 0.5) }, false},
		{"masked_fill_where", []int64{2, 4}, func(x *Tensor) *Tensor {
			return Where(mask, x.MaskedFill(mask.LogicalNot(), 0), x.Square())
		}, false},
		// products
		{"matmul", []int64{2, 3}, func(x *Tensor) *Tensor { return x.Matmul(w34) }, false},
		{"bmm", []int64{2, 2, 3}, func(x *Tensor) *Tensor { return x.Bmm(x.Transpose(1, 2)) }, false},
		// nn
		{"linear", []int64{2, 4}, func(x *Tensor) *Tensor { return Linear(x, w34, b3) }, false},
		{"layer_norm", []int64{3, 4}, func(x *Tensor) *Tensor { return LayerNorm(x, ln, lb, 1e-5) }, false},
		{"softmax", []int64{2, 5}, func(x *Tensor) *Tensor { return x.Softmax(-1) }, false},
		{"log_softmax", []int64{2, 5}, func(x *Tensor) *Tensor { return x.LogSoftmax(1) }, false},
		{"embedding", []int64{3, 2}, func(x *Tensor) *Tensor { return Embedding(x, ids, -1) }, false},
		{"cross_entropy", []int64{2, 5}, func(x *Tensor) *Tensor { return CrossEntropy(x, target, 5, ReduceMean) }, false},
		{"cross_entropy_ignore", []int64{2, 5}, func(x *Tensor) *Tensor {
			return CrossEntropy(x, FromSlice(x.Scope(), []int64{1, 5}), 5, ReduceMean)
		}, false},
		{"conv1d", []int64{1, 2, 5}, func(x *Tensor) *Tensor {
			return Conv1d(x, x.Narrow(2, 0, 3).Contiguous().Repeat(2, 1, 1), nil, 1, 1, 1)
		}, false},
		// shape
		{"permute_reshape", []int64{2, 3, 2}, func(x *Tensor) *Tensor { return x.Permute(2, 0, 1).Reshape(4, 3).Square() }, false},
		{"narrow_slice_select", []int64{4, 3}, func(x *Tensor) *Tensor {
			return x.Narrow(0, 1, 2).Square().Add(x.Slice(0, 0, 4, 2).Exp()).Add(x.Select(1, 2).Narrow(0, 0, 2).Unsqueeze(1))
		}, false},
		{"gather_index_select", []int64{3, 4}, func(x *Tensor) *Tensor {
			idx := FromSlice(x.Scope(), []int64{0, 3, 1, 1, 2, 0}, 3, 2)
			return x.Gather(1, idx).Square().Add(x.IndexSelect(1, FromSlice(x.Scope(), []int64{2, 0})).Exp())
		}, false},
		{"cat_stack_split", []int64{2, 3}, func(x *Tensor) *Tensor {
			parts := x.Split(2, 1)
			return Stack([]*Tensor{Cat([]*Tensor{parts[1], parts[0]}, 1), x.Square()}, 0)
		}, false},
		{"pad_unfold_as_strided", []int64{2, 6}, func(x *Tensor) *Tensor {
			p := x.Pad([]int64{1, 1}, 0.5).Square()
			return p.Unfold(1, 3, 2).Sum().Add(x.Contiguous().AsStrided([]int64{2, 3}, []int64{6, 2}, 0).Exp().Sum())
		}, false},
		{"tril_flip_expand", []int64{3, 3}, func(x *Tensor) *Tensor {
			return x.Tril(0).Flip(0).Add(x.Select(0, 0).Expand(3, 3)).Square()
		}, false},
		// reductions
		{"sum_mean_dims", []int64{2, 3, 2}, func(x *Tensor) *Tensor { return x.Square().SumDims(false, 1).Add(x.MeanDims(false, 1)) }, false},
		{"max_cumsum_norm", []int64{3, 4}, func(x *Tensor) *Tensor {
			v, _ := x.MaxDim(1, false)
			return v.Add(x.Cumsum(1).Select(1, 3)).Add(x.Norm())
		}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { gradCheck(t, c.name, c.shape, c.f, c.positive) })
	}
}
