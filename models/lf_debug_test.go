package models

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/spanqa/spanqa/internal/fixtures"
	"github.com/spanqa/spanqa/torch"
	"github.com/spanqa/spanqa/torch/weights"
)

func TestLFDebug(t *testing.T) {
	dir := fixtures.Models(t, "longformer")
	g := readGolden(t, dir)
	m := loadFrom(t, dir, weights.SafetensorsName, "").(*Longformer)
	gf, err := weights.OpenSafetensors(filepath.Join(dir, "golden.safetensors"))
	require.NoError(t, err)
	torch.WithScope(func(s *torch.Scope) {
		torch.NoGrad(func() {
			in := goldenInputs(s, g)
			b, length := in.IDs.Size(0), in.IDs.Size(1)
			merged := m.mergedMask(in)
			n := int64(48)
			ids := in.IDs.Pad([]int64{0, n - length}, 1)
			padded := make([]int64, b*n)
			for r := int64(0); r < b; r++ {
				copy(padded[r*n:r*n+length], merged[r*length:(r+1)*length])
			}
			x := m.embeddings.forward(ids, ids.ZerosLike(), robertaPositions(ids, 1), false)
			masks := newLongformerMasks(padded, b, n, 32, x.DType(), x.Device())
			cmp := func(name string, got *torch.Tensor) {
				w, err := gf.Get(name)
				require.NoError(t, err)
				want, _ := w.Float32s()
				v := got.Narrow(1, 0, length).Contiguous().Float32s()
				worst, diffs := 0.0, 0
				for i := range v {
					if v[i] != want[i] {
						diffs++
					}
					worst = math.Max(worst, math.Abs(float64(v[i]-want[i])))
				}
				t.Logf("%s: max diff %.3g, %d of %d differ", name, worst, diffs, len(v))
			}
			cmp("hidden_states.0", x)
			for i, l := range m.layers {
				x = l.forward(x, masks, false)
				cmp("hidden_states."+string(rune('1'+i)), x)
			}
		})
	})
}

func TestLFDebugGrads(t *testing.T) {
	dir := fixtures.Models(t, "longformer")
	g := readGolden(t, dir)
	m := loadFrom(t, dir, weights.SafetensorsName, "attention_probs_dropout_prob=0,hidden_dropout_prob=0")
	for _, c := range g.Train.LossCases {
		torch.WithScope(func(s *torch.Scope) {
			in := goldenInputs(s, g)
			in.StartPositions = torch.FromSlice(s, c.StartPositions)
			in.EndPositions = torch.FromSlice(s, c.EndPositions)
			m.Params().ZeroGrad()
			out, err := Forward(m, in, true)
			require.NoError(t, err)
			t.Logf("%s loss %.9g golden %.9g rel %.3g", c.Name, out.Loss.Item(), c.Loss, math.Abs(out.Loss.Item()-c.Loss)/c.Loss)
			out.Loss.Backward()
			norms, _ := torch.GradNorms(m.Params().All())
			for i, name := range m.Params().Names() {
				want := c.GradNorms[name]
				rel := math.Abs(norms[i]-want) / want
				if rel > 1e-6 {
					t.Logf("  %-70s got %.9g want %.9g rel %.3g", name, norms[i], want, rel)
				}
			}
		})
	}
}
