package bench

import "github.com/spanqa/spanqa/models"

// Model FLOPs: the matrix products of one forward pass, 2·m·n·k each, attention's QKᵀ and PV
// included; embeddings, norms, softmax and element-wise work are left out, as is usual for MFU.
// A training step counts 3× the forward (the backward computes two products per forward one).
// The shapes are the ones the device runs: padding counts, since the device computes it.

// TrainFactor is a training step's FLOPs relative to its forward pass.
const TrainFactor = 3

// ForwardFLOPs is the matmul FLOPs of one forward of cfg's model over b rows padded to length l.
// global is the number of global tokens per row (Longformer only: the longest question of the
// batch with its <s>); other architectures ignore it.
func ForwardFLOPs(cfg *models.Config, b, l, global int) float64 {
	B, L, H, I := float64(b), float64(l), float64(cfg.HiddenSize), float64(cfg.IntermediateSize)
	layers := float64(cfg.NumHiddenLayers)
	// Q, K, V and output projections (4·H·H per token) and the feed-forward block (2·H·I).
	dense := 2 * B * L * H * (4*H + 2*I)
	head := 2 * B * L * H * 2 // qa_outputs: two logits per token
	switch cfg.ModelType {
	case "deberta-v2":
		perLayer := dense + 2*2*B*L*L*H // content-to-content QKᵀ and PV
		d := cfg.DeBERTa
		if d.RelativeAttention {
			span := float64(d.PositionBuckets)
			if d.PositionBuckets <= 0 {
				span = float64(d.MaxRelativePositions)
				if d.MaxRelativePositions < 1 {
					span = float64(cfg.MaxPositionEmbeddings)
				}
			}
			for _, t := range d.PosAttType {
				if t == models.C2P || t == models.P2C {
					// Projection of the 2·span relative embeddings (once per layer, shared by the
					// batch), then queries (or keys) against them.
					perLayer += 2*2*span*H*H + 2*B*L*2*span*H
				}
			}
		}
		total := layers * perLayer
		if d.ConvKernelSize > 0 { // DeBERTa-v2's convolution after the first layer
			groups := float64(max(d.ConvGroups, 1))
			total += 2 * B * L * H * H * float64(d.ConvKernelSize) / groups
		}
		return total + head
	case "longformer":
		return longformerFLOPs(cfg, B, L, H, I, float64(global)) + head
	default: // bert, roberta: full self-attention
		return layers*(dense+2*2*B*L*L*H) + head
	}
}

// longformerFLOPs counts spanqa's Longformer (models/longformer.go): the input is padded to a
// multiple of the attention windows; every token scores its sliding window in chunks of 2w
// overlapping by w and applies the probabilities block by block over 3w keys; G global tokens
// are scored by every token and attend to all tokens with projections of their own.
func longformerFLOPs(cfg *models.Config, B, L, H, I, G float64) float64 {
	multiple := int64(1)
	for _, w := range cfg.Longformer.AttentionWindow {
		multiple = lcm(multiple, w)
	}
	n := float64((int64(L) + multiple - 1) / multiple * multiple)
	var total float64
	for _, window := range cfg.Longformer.AttentionWindow {
		w := float64(window / 2)
		perLayer := 2 * B * n * H * (4*H + 2*I)
		perLayer += 2 * B * (n/w - 1) * (2 * w) * (2 * w) * H // sliding scores
		perLayer += 2 * B * (n / w) * w * (3 * w) * H         // sliding application
		if G > 0 {
			perLayer += 2*B*G*H*H + 2*2*B*n*H*H // query_global on G rows, key/value_global on all
			perLayer += 4 * 2 * B * n * G * H   // scores against and values of global keys, both ways
		}
		total += perLayer
	}
	return total
}

func lcm(a, b int64) int64 {
	x, y := a, b
	for y != 0 {
		x, y = y, x%y
	}
	return a / x * b
}
