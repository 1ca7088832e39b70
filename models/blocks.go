package models

import (
	"fmt"
	"strings"

	"github.com/spanqa/spanqa/torch"
	"github.com/spanqa/spanqa/torch/nn"
)

// The blocks every architecture shares: the parts of a transformer layer around its
// self-attention (add&norm, feed-forward), the span head and its loss, attention masks,
// activations, HF's weight initialisation and per-layer scopes. Names follow HF's BertLayer:
// encoder.layer.N.{attention.self.*, attention.output.{dense,LayerNorm}, intermediate.dense,
// output.{dense,LayerNorm}}; only attention.self differs between the architectures.

// modelBase is what every architecture holds the same way: its configuration and its
// parameters, with the QAModel methods that return them.
type modelBase struct {
	cfg    *Config
	params *nn.Params
	// checkpointing is HF's gradient_checkpointing: training recomputes each layer's
	// activations in backward instead of keeping them.
	checkpointing bool
}

func newModelBase(cfg *Config, dev torch.Device) modelBase {
	return modelBase{cfg: cfg, params: nn.NewParams(dev)}
}

// Params implements QAModel.
func (m *modelBase) Params() *nn.Params { return m.params }

// Config implements QAModel.
func (m *modelBase) Config() *Config { return m.cfg }

// SetGradientCheckpointing implements GradientCheckpointer.
func (m *modelBase) SetGradientCheckpointing(on bool) { m.checkpointing = on }

// layerRunner runs one encoder layer, fn over args (the layer's input first, then every other
// tensor it needs a gradient for or derives large tensors from), returning its output in the
// caller's scope.
type layerRunner func(fn func(args []*torch.Tensor) *torch.Tensor, args ...*torch.Tensor) *torch.Tensor

// runner picks how this pass runs its layers: checkpointed when training with gradient
// checkpointing on (and recording gradients: HF checkpoints only in training), otherwise each
// in a scope of its own, so that its intermediates go when it returns unless autograd needs
// them.
func (m *modelBase) runner(train bool) layerRunner {
	if m.recomputes(train) {
		return torch.Checkpoint
	}
	return inOwnScope
}

// recomputes says whether this pass's layers run again in backward (after Forward returns), so
// that what they capture must live as long as the pass's tensors.
func (m *modelBase) recomputes(train bool) bool {
	return train && m.checkpointing && torch.GradEnabled()
}

// attentionMask is the batch's attention mask [B, L], or all ones (every token real) when it
// has none.
func (in Inputs) attentionMask() *torch.Tensor {
	if in.Mask != nil {
		return in.Mask
	}
	return in.IDs.OnesLike()
}

// layerOutput is what follows the self-attention in every architecture's layer (HF's
// *SelfOutput, *Intermediate and *Output): add&norm over the attention output, then the
// feed-forward block, each with its own residual.
type layerOutput struct {
	attention *addNorm // attention.output
	ffn       *feedForward
}

// newLayerOutput registers the blocks under layer p (encoder.layer.N). Call it after the
// layer's attention.self, as HF registers them in that order.
func newLayerOutput(p *nn.Params, cfg *Config) layerOutput {
	return layerOutput{
		attention: newAddNorm(p.Sub("attention.output"), cfg.HiddenSize, cfg.HiddenSize, cfg.LayerNormEps, cfg.HiddenDropoutProb),
		ffn:       newFeedForward(p, cfg),
	}
}

// forward runs a layer on its input x [B, L, H]: attend (the architecture's self-attention,
// [B, L, H] to [B, L, H]) and the add&norm after it, then the feed-forward block. Each of the
// two runs in a scope of its own, so that under NoGrad a layer holds one block's intermediates
// at a time (its [B, L, intermediate] activations go before the next layer starts, say). Every
// use of a block's input lies inside its scope, so autograd still sums that input's gradients
// in HF's order.
func (o layerOutput) forward(x *torch.Tensor, attend func(x *torch.Tensor) *torch.Tensor, train bool) *torch.Tensor {
	h := inOwnScope(func(t []*torch.Tensor) *torch.Tensor { return o.attention.forward(attend(t[0]), t[0], train) }, x)
	return inOwnScope(func(t []*torch.Tensor) *torch.Tensor { return o.ffn.forward(t[0], train) }, h)
}

// qkv are an attention's query, key and value projections, [B, L, H] to [B, L, H] each.
type qkv struct{ query, key, value *nn.Linear }

// newQKV registers query<suffix>, key<suffix> and value<suffix>, in that order (HF's).
func newQKV(p *nn.Params, hidden int64, suffix string) qkv {
	return qkv{
		query: nn.NewLinear(p, "query"+suffix, hidden, hidden, true),
		key:   nn.NewLinear(p, "key"+suffix, hidden, hidden, true),
		value: nn.NewLinear(p, "value"+suffix, hidden, hidden, true),
	}
}

// addNorm is HF's *SelfOutput / *Output block: LayerNorm(dropout(dense(x)) + residual).
type addNorm struct {
	dense   *nn.Linear
	norm    *nn.LayerNorm
	dropout nn.Dropout
}

func newAddNorm(p *nn.Params, in, out int64, eps, dropout float64) *addNorm {
	return &addNorm{
		dense:   nn.NewLinear(p, "dense", in, out, true),
		norm:    nn.NewLayerNorm(p, "LayerNorm", out, eps),
		dropout: nn.Dropout{P: dropout},
	}
}

func (a *addNorm) forward(x, residual *torch.Tensor, train bool) *torch.Tensor {
	return a.norm.Forward(a.dropout.Forward(a.dense.Forward(x), train).Add(residual))
}

// feedForward is intermediate.dense + activation + output (addNorm): [B, L, H] to [B, L, I]
// and back.
type feedForward struct {
	intermediate *nn.Linear
	act          Activation
	output       *addNorm
}

func newFeedForward(p *nn.Params, cfg *Config) *feedForward {
	return &feedForward{
		intermediate: nn.NewLinear(p.Sub("intermediate"), "dense", cfg.HiddenSize, cfg.IntermediateSize, true),
		act:          cfg.HiddenAct,
		output:       newAddNorm(p.Sub("output"), cfg.IntermediateSize, cfg.HiddenSize, cfg.LayerNormEps, cfg.HiddenDropoutProb),
	}
}

func (f *feedForward) forward(x *torch.Tensor, train bool) *torch.Tensor {
	return f.output.forward(f.act.forward(f.intermediate.Forward(x)), x, train)
}

// forward applies the activation. ParseConfig accepts only the ones implemented here.
func (a Activation) forward(x *torch.Tensor) *torch.Tensor {
	switch a {
	case GELU:
		return x.Gelu()
	case GELUNew, GELUPytorchTanh:
		return x.GeluTanh()
	case ReLU:
		return x.Relu()
	case Tanh:
		return x.Tanh()
	}
	panic(&torch.Error{Op: "activation", Msg: fmt.Sprintf("activation %q is not supported", string(a))})
}

// splitHeads reshapes [B, L, H] to [B, heads, L, headDim].
func splitHeads(x *torch.Tensor, heads int64) *torch.Tensor {
	s := x.Shape()
	return x.View(s[0], s[1], heads, s[2]/heads).Permute(0, 2, 1, 3)
}

// mergeHeads reshapes [B, heads, L, headDim] back to [B, L, H].
func mergeHeads(x *torch.Tensor) *torch.Tensor {
	s := x.Shape()
	return x.Permute(0, 2, 1, 3).Contiguous().View(s[0], s[2], s[1]*s[3])
}

// qaHead is the span head: one Linear to two logits per token (row 0 start, row 1 end).
type qaHead struct{ proj *nn.Linear }

func newQAHead(p *nn.Params, hidden int64) *qaHead {
	return &qaHead{proj: nn.NewLinear(p, "qa_outputs", hidden, 2, true)}
}

// forward returns the output given the final hidden states [B, L, H], with the loss when the
// inputs carry answer positions.
func (h *qaHead) forward(hidden *torch.Tensor, in Inputs) Output {
	logits := h.proj.Forward(hidden) // [B, L, 2]
	parts := logits.Split(1, -1)     // 2 x [B, L, 1]
	out := Output{
		StartLogits: parts[0].Squeeze(-1).Contiguous(), // [B, L]
		EndLogits:   parts[1].Squeeze(-1).Contiguous(),
	}
	if in.StartPositions != nil && in.EndPositions != nil {
		out.Loss = qaLoss(out.StartLogits, out.EndLogits, in.StartPositions, in.EndPositions)
	}
	return out
}

// qaLoss is HF's QA loss: the mean of start and end cross-entropy, positions clamped to
// [0, L] and position L ignored (so out-of-window targets drop out of the mean).
func qaLoss(start, end, startPos, endPos *torch.Tensor) *torch.Tensor {
	ignored := start.Size(1)
	sp := startPos.ClampRange(0, float64(ignored))
	ep := endPos.ClampRange(0, float64(ignored))
	ls := torch.CrossEntropy(start, sp, ignored, torch.ReduceMean)
	le := torch.CrossEntropy(end, ep, ignored, torch.ReduceMean)
	return ls.Add(le).DivScalar(2)
}

// additiveMask turns an attention mask [B, L] (1 keep, 0 pad) into the additive bias
// [B, 1, 1, L] HF uses: 0 where kept and the dtype's most negative value where padded (not
// -10000, so float16/bfloat16 stay correct).
func additiveMask(mask *torch.Tensor, dt torch.DType) *torch.Tensor {
	m := mask.Unsqueeze(1).Unsqueeze(2).ToDType(dt) // [B, 1, 1, L]
	return m.RSubScalar(1).MulScalar(minValue(dt))
}

// minValue is the dtype's most negative finite value (torch.finfo(dtype).min), which masked
// scores get.
func minValue(dt torch.DType) float64 {
	switch dt {
	case torch.Float16:
		return -65504
	case torch.BFloat16:
		return -3.3895313892515355e38
	case torch.Float64:
		return -1.7976931348623157e308
	default:
		return -3.4028234663852886e38
	}
}

// initHFWeights is the _init_weights that HF's BERT, RoBERTa, DeBERTa-v2 and Longformer
// pre-trained model classes share, applied to every registered parameter: Linear and Embedding
// weights from N(0, std) (std is initializer_range), biases 0, LayerNorm 1/0, and the padding row
// of each table in paddingRows (parameter name to row; -1 for none) zeroed. Registration order
// makes the draws follow HF's module order.
func initHFWeights(p *nn.Params, std float64, paddingRows map[string]int64) {
	torch.NoGrad(func() {
		for _, name := range p.Names() {
			t := p.Get(name)
			switch {
			case strings.HasSuffix(name, "LayerNorm.weight"):
				t.Fill_(1)
			case strings.HasSuffix(name, ".bias"):
				t.Zero_()
			default:
				t.Normal_(0, std)
				if row, ok := paddingRows[name]; ok && row >= 0 {
					nn.ZeroRow(t, row)
				}
			}
		}
	})
}

// inOwnScope runs fn in a scope of its own, on views of args that belong to that scope, so that
// the intermediates fn creates are released when it returns instead of when the caller's scope
// closes: a long input then needs one layer's (or one kernel's) activations at a time under
// NoGrad, not all of them. Autograd keeps its own references to what backward needs, so
// releasing our handles is safe in training too. Only fn's result survives, moved into the
// first argument's scope. fn must derive its tensors from the views it is given (an operation
// lands in its first scoped operand's scope).
func inOwnScope(fn func(args []*torch.Tensor) *torch.Tensor, args ...*torch.Tensor) *torch.Tensor {
	outer := args[0].Scope()
	var out *torch.Tensor
	torch.WithScope(func(s *torch.Scope) {
		views := make([]*torch.Tensor, len(args))
		for i, a := range args {
			views[i] = s.Adopt(a.View(a.Shape()...))
		}
		out = s.Keep(fn(views))
	})
	return outer.Adopt(out)
}
