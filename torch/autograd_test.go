package torch

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// EnableGrad inside NoGrad is what recomputing a block for its gradients needs (activation
// checkpointing): the modes nest, each restores the previous one on return, and only work done
// with recording on reaches the leaf's gradient.
func TestGradModesNest(t *testing.T) {
	WithScope(func(s *Scope) {
		x := FromSlice(s, []float32{1, 2, 3}).SetRequiresGrad(true)
		var outside, inside *Tensor
		NoGrad(func() {
			assert.False(t, GradEnabled(), "NoGrad turns recording off")
			outside = x.Mul(x)
			EnableGrad(func() {
				assert.True(t, GradEnabled(), "EnableGrad turns it back on inside NoGrad")
				inside = x.Mul(x)
			})
			assert.False(t, GradEnabled(), "EnableGrad restores NoGrad's mode on return")
		})
		EnableGrad(func() { assert.True(t, GradEnabled()) })

		assert.False(t, outside.RequiresGrad(), "no graph recorded under NoGrad")
		require.True(t, inside.RequiresGrad(), "graph recorded under EnableGrad")
		inside.Sum().Backward()
		g := s.Adopt(x.Grad())
		assert.Equal(t, []float32{2, 4, 6}, g.Float32s(), "d/dx sum(x*x) = 2x")

		// Recording on is the default: the same product outside both modes has a graph too.
		assert.True(t, x.Mul(x).RequiresGrad())
	})
}
