package torch

import (
	"errors"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func roundTrip[E Element](t *testing.T, vals []E, shape ...int64) {
	t.Helper()
	WithScope(func(s *Scope) {
		x := FromSlice(s, vals, shape...)
		require.Equal(t, dtypeOf[E](), x.DType())
		require.Equal(t, shape, x.Shape())
		require.Equal(t, vals, ToSlice[E](x))
	})
}

func TestRoundTripEveryDType(t *testing.T) {
	roundTrip(t, []float32{1.5, -2, float32(math.Inf(1)), 3e-38, 0}, 5)
	roundTrip(t, []float64{1.5, -2, math.Pi, 1e-300, 0, 7}, 2, 3)
	roundTrip(t, []int64{math.MaxInt64, math.MinInt64, 0, 42}, 2, 2)
	roundTrip(t, []int32{math.MaxInt32, math.MinInt32, 7}, 3)
	roundTrip(t, []bool{true, false, true, true}, 4, 1)
	roundTrip(t, []uint8{0, 255, 7}, 3)
	roundTrip(t, []int8{-128, 127, 0}, 3)
	roundTrip(t, []float32{}, 0)
	roundTrip(t, []float32{2.5}, []int64{}...)
	// float16 / bfloat16 through raw bytes and conversion.
	WithScope(func(s *Scope) {
		half := FromBytes(s, Float16, []byte{0x00, 0x3c, 0x00, 0xc0}, 2) // 1.0, -2.0
		require.Equal(t, []float32{1, -2}, half.Float32s())
		bf := FromSlice(s, []float32{1, -2, 0.5}).ToDType(BFloat16)
		require.Equal(t, BFloat16, bf.DType())
		require.Equal(t, []byte{0x80, 0x3f, 0x00, 0xc0, 0x00, 0x3f}, bf.Bytes())
		require.Equal(t, []float32{1, -2, 0.5}, bf.Float32s())
	})
}

func TestErrorsAreErrorsNotCrashes(t *testing.T) {
	s := NewScope()
	defer s.Close()
	a := FromSlice(s, []float32{1, 2, 3, 4, 5, 6}, 2, 3)
	cases := map[string]func() *Tensor{
		"shape mismatch": func() *Tensor { return a.Matmul(a) },
		"bad view":       func() *Tensor { return a.View(4, 2) },
		"bad index":      func() *Tensor { return a.IndexSelect(1, FromSlice(s, []int64{7})) },
		"wrong dtype":    func() *Tensor { return Embedding(a, FromSlice(s, []float32{1}), -1) },
		"bad dim":        func() *Tensor { return a.Softmax(5) },
		"bad select":     func() *Tensor { return a.Select(0, 9) },
		"fill mismatch":  func() *Tensor { return FromSlice(s, []float32{1, 2, 3}, 2, 2) },
		"freed tensor": func() *Tensor {
			b := FromSlice(nil, []float32{1})
			b.Free()
			return b.Neg()
		},
		"bad split": func() *Tensor { return a.Split(0, 0)[0] },
	}
	for name, fn := range cases {
		_, err := Try(fn)
		var te *Error
		require.Error(t, err, name)
		require.True(t, errors.As(err, &te), name)
		assert.NotContains(t, err.Error(), "\n", "%s: message should be short: %v", name, err)
		assert.False(t, errors.Is(err, ErrOutOfMemory), name)
	}
}

func TestOutOfMemoryIsDistinct(t *testing.T) {
	_, err := Try(func() *Tensor { return Empty(nil, Float32, CPU, 1<<40, 1<<20) })
	require.Error(t, err)
	require.True(t, errors.Is(err, ErrOutOfMemory), "got %v", err)
}

func TestScopeFreesAndKeeps(t *testing.T) {
	before := SettledLiveTensors()
	var kept *Tensor
	WithScope(func(s *Scope) {
		x := FromSlice(s, []float32{1, 2, 3})
		y := x.MulScalar(2).Add(x) // intermediates join x's scope
		kept = s.Keep(y.Sum())
		require.Greater(t, LiveTensors(), before+2)
	})
	require.Equal(t, before+1, LiveTensors())
	require.Equal(t, 18.0, kept.Item())
	kept.Free()
	kept.Free() // harmless
	require.Equal(t, before, LiveTensors())
}

func TestNoGradIsPerCall(t *testing.T) {
	WithScope(func(s *Scope) {
		x := FromSlice(s, []float32{1, 2}).SetRequiresGrad(true)
		var y *Tensor
		NoGrad(func() { y = x.MulScalar(3) })
		require.False(t, y.RequiresGrad())
		require.True(t, x.MulScalar(3).RequiresGrad())
	})
}

func rssKB(t *testing.T) int64 {
	data, err := os.ReadFile("/proc/self/status")
	require.NoError(t, err)
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			v, err := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			require.NoError(t, err)
			return v
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// TestNoLeakOverManySteps runs thousands of forward+backward+update steps of a small MLP and
// checks that neither the live-tensor count nor the RSS grows.
func TestNoLeakOverManySteps(t *testing.T) {
	steps := 3000
	if testing.Short() {
		steps = 500
	}
	ManualSeed(0)
	w1 := Randn(nil, Float32, CPU, 64, 32).MulScalar(0.1).SetRequiresGrad(true)
	w2 := Randn(nil, Float32, CPU, 8, 64).MulScalar(0.1).SetRequiresGrad(true)
	params := []*Tensor{w1, w2}
	m := []*Tensor{w1.ZerosLike(), w2.ZerosLike()}
	v := []*Tensor{w1.ZerosLike(), w2.ZerosLike()}
	defer func() {
		for _, p := range append(append(params, m...), v...) {
			p.Free()
		}
	}()
	step := func(i int) {
		WithScope(func(s *Scope) {
			x := Randn(s, Float32, CPU, 16, 32)
			target := FromSlice(s, []int64{0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7})
			h := Linear(x, w1, nil).Gelu().Dropout(0.1, true)
			loss := CrossEntropy(Linear(h, w2, nil), target, -100, ReduceMean)
			loss.Backward()
			ClipGradNorm(params, 1.0)
			for j, p := range params {
				AdamWStep(p, m[j], v[j], 1e-3, 0.9, 0.999, 1e-8, 0.01, int64(i+1))
				p.ZeroGrad()
			}
		})
	}
	warm := steps / 10
	for i := 0; i < warm; i++ {
		step(i)
	}
	// settle: loose tensors of earlier tests are freed by GC cleanups on their own schedule.
	liveBefore, rssBefore := SettledLiveTensors(), rssKB(t)
	for i := warm; i < steps; i++ {
		step(i)
	}
	liveAfter, rssAfter := SettledLiveTensors(), rssKB(t)
	t.Logf("%d steps: live tensors %d -> %d, RSS %d -> %d KiB", steps, liveBefore, liveAfter, rssBefore, rssAfter)
	require.Equal(t, liveBefore, liveAfter, "live tensor count grew")
	require.Less(t, rssAfter-rssBefore, int64(20*1024), "RSS grew by more than 20 MiB")
}

func TestVersionCheck(t *testing.T) {
	require.NoError(t, CheckVersion(), "the loaded libtorch is the one compiled against")
	require.Equal(t, "1.13", majorMinor("1.13.1"))
	require.Equal(t, "2.4", majorMinor("2.4.0+cu121"))
	require.NotEqual(t, majorMinor(CompiledVersion()), majorMinor("0.1.0"))
}
