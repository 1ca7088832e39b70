package models

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/spanqa/spanqa/internal/fixtures"
	"github.com/spanqa/spanqa/torch"
)

// gradients runs one training forward and backward of m on the fixture's inputs, with dropout
// as the config has it and a fixed seed, and returns every parameter's gradient (HF order).
func gradients(t *testing.T, m QAModel, g *golden, bf16 bool) (loss float64, grads [][]float32) {
	torch.ManualSeed(1234)
	m.Params().ZeroGrad()
	torch.WithScope(func(s *torch.Scope) {
		in := goldenInputs(s, g)
		c := g.Train.LossCases[0]
		in.StartPositions = torch.FromSlice(s, c.StartPositions)
		in.EndPositions = torch.FromSlice(s, c.EndPositions)
		var out Output
		var err error
		forward := func() { out, err = Forward(m, in, true) }
		if bf16 {
			torch.Autocast(torch.CPU, torch.BFloat16, forward)
		} else {
			forward()
		}
		require.NoError(t, err)
		loss = out.Loss.Item()
		// Backward (which reruns checkpointed layers) must leave nothing in the pass's scope:
		// a layer's rerun that put its tensors there would keep every layer's activations
		// until the step ends, which is what checkpointing is meant to avoid.
		live := torch.LiveTensors()
		out.Loss.Backward()
		require.Equal(t, live, torch.LiveTensors(), "tensor handles left by backward")
		for _, p := range m.Params().All() {
			gr := p.Grad()
			require.NotNil(t, gr)
			grads = append(grads, s.Adopt(gr).ToDType(torch.Float32).Float32s())
		}
	})
	m.Params().ZeroGrad()
	return loss, grads
}

// HF's gradient_checkpointing changes memory, not results: with dropout on, the same seed, and
// under bf16 autocast too (backward runs outside the autocast region, the rerun must not),
// every gradient of every architecture is what the plain pass gives.
func TestGradientCheckpointingLeavesGradientsUnchanged(t *testing.T) {
	for _, arch := range parityArchs {
		for _, bf16 := range []bool{false, true} {
			name := arch + "/f32"
			if bf16 {
				name = arch + "/bf16"
			}
			t.Run(name, func(t *testing.T) {
				dir := fixtures.Models(t, arch)
				g := readGolden(t, dir)
				m := loadFrom(t, dir, "model.safetensors", "hidden_dropout_prob=0.1,attention_probs_dropout_prob=0.1")
				defer m.Params().Free()
				plainLoss, plain := gradients(t, m, g, bf16)
				require.NoError(t, SetGradientCheckpointing(m, true))
				liveBefore := torch.SettledLiveTensors()
				ckptLoss, ckpt := gradients(t, m, g, bf16)
				require.Equal(t, liveBefore, torch.SettledLiveTensors(), "a checkpointed step leaves no tensor behind")
				require.NoError(t, SetGradientCheckpointing(m, false))

				require.Equal(t, plainLoss, ckptLoss, "loss")
				names := m.Params().Names()
				for i := range plain {
					require.Equal(t, plain[i], ckpt[i], "%s gradient", names[i])
				}
				t.Logf("%s: loss %.9g, every gradient bit for bit equal", name, plainLoss)
			})
		}
	}
}
