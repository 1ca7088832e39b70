package torch

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// block is a small layer with every ingredient a transformer layer's checkpoint must get right:
// a parameter captured by the closure, a non-leaf input needing a gradient, an input without one,
// and dropout drawing from the RNG.
func block(w *Tensor) func(args []*Tensor) *Tensor {
	return func(a []*Tensor) *Tensor {
		x, bias := a[0], a[1]
		h := x.Matmul(w).Add(bias).Tanh().Dropout(0.3, true)
		return h.Matmul(w).Mul(x)
	}
}

// runBlocks runs three blocks, each with its own weight as layers have, on x (checkpointed or
// not), back-propagates sum(out^2) and returns the gradients of the weights and of the input,
// and the next random draw after it all. (A weight shared between checkpointed blocks would get
// its contributions summed in another order, as in PyTorch: equal to rounding only.)
func runBlocks(t *testing.T, checkpoint bool) (gw, gx []float32, next float32) {
	ManualSeed(7)
	var ws []*Tensor
	for range 3 {
		ws = append(ws, Randn(nil, Float32, CPU, 6, 6).SetRequiresGrad(true))
	}
	defer func() {
		for _, w := range ws {
			w.Free()
		}
	}()
	WithScope(func(s *Scope) {
		x0 := Randn(s, Float32, CPU, 4, 6).SetRequiresGrad(true)
		bias := Randn(s, Float32, CPU, 6) // no gradient wanted
		x := x0.MulScalar(1.5)            // a non-leaf input, as a layer's hidden states are
		for _, w := range ws {
			if checkpoint {
				x = Checkpoint(block(w), x, bias)
			} else {
				x = block(w)([]*Tensor{x, bias})
			}
		}
		x.Mul(x).Sum().Backward()
		for _, w := range ws {
			gw = append(gw, s.Adopt(w.Grad()).Float32s()...)
		}
		gx = s.Adopt(x0.Grad()).Float32s()
		next = Randn(s, Float32, CPU, 1).Float32s()[0]
	})
	return gw, gx, next
}

func TestCheckpointGradientsAreExact(t *testing.T) {
	gw, gx, next := runBlocks(t, false)
	cgw, cgx, cnext := runBlocks(t, true)
	assert.Equal(t, gw, cgw, "parameter gradient")
	assert.Equal(t, gx, cgx, "input gradient (through every block)")
	assert.Equal(t, next, cnext, "the rerun replays the RNG and puts it back: the stream goes on as without checkpointing")
}

func TestCheckpointKeepsNoActivations(t *testing.T) {
	// Without a graph the block's intermediates are gone once it returns; only the saved input
	// and the output remain. Run many times: nothing may accumulate (handles or Go functions).
	w := Randn(nil, Float32, CPU, 6, 6).SetRequiresGrad(true)
	defer w.Free()
	before := SettledLiveTensors()
	for range 50 {
		WithScope(func(s *Scope) {
			x := Randn(s, Float32, CPU, 4, 6).SetRequiresGrad(true)
			y := Checkpoint(block(w), x.MulScalar(2), Zeros(s, Float32, CPU, 6))
			y.Sum().Backward()
		})
		w.ZeroGrad()
	}
	assert.Equal(t, before, SettledLiveTensors(), "live tensor handles")
}

func TestCheckpointReportsErrors(t *testing.T) {
	WithScope(func(s *Scope) {
		x := Randn(s, Float32, CPU, 2, 3).SetRequiresGrad(true)
		err := Catch(func() {
			Checkpoint(func(a []*Tensor) *Tensor { return a[0].Matmul(a[0]) }, x) // [2,3] x [2,3]
		})
		var te *Error
		require.True(t, errors.As(err, &te), "a libtorch error in the function comes back as *Error, got %v", err)
		assert.Contains(t, err.Error(), "checkpoint")
		assert.Contains(t, err.Error(), "mat1 and mat2 shapes cannot be multiplied")

		// A Go panic inside the function must not unwind through C++ either.
		err = Catch(func() {
			Checkpoint(func(a []*Tensor) *Tensor { panic("boom") }, x)
		})
		assert.ErrorContains(t, err, "boom")
	})
}

func TestScopeOnClose(t *testing.T) {
	loose := Ones(nil, Float32, CPU, 3)
	s := NewScope()
	var order []string
	s.OnClose(func() { order = append(order, "first"); loose.Free() })
	s.OnClose(func() { order = append(order, "second") })
	// A loose tensor tied to s by OnClose does not pull results into s.
	y := loose.MulScalar(2)
	assert.Nil(t, y.Scope())
	y.Free()
	s.Close()
	assert.Equal(t, []string{"first", "second"}, order)
	require.Panics(t, func() { loose.Float32s() }, "freed at Close")
	ran := false
	s.OnClose(func() { ran = true }) // on a closed scope: at once
	assert.True(t, ran)
	var none *Scope
	none.OnClose(func() { t.Fatal("a nil scope never closes") })
}
