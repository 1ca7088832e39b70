package models

import (
	"fmt"
	"runtime"

	"github.com/spanqa/spanqa/torch"
	"github.com/spanqa/spanqa/torch/nn"
)

// Inputs is one batch for a QA model. IDs, Mask and TypeIDs are int64 [B, L]; TypeIDs and
// GlobalMask may be nil. StartPositions/EndPositions (int64 [B]) ask for the loss.
type Inputs struct {
	IDs, Mask, TypeIDs *torch.Tensor
	// GlobalMask (Longformer only) marks tokens with global attention; nil lets the model put
	// it on the question, as HF's LongformerForQuestionAnswering does.
	GlobalMask                   *torch.Tensor
	StartPositions, EndPositions *torch.Tensor
}

// Output holds start/end logits [B, L] and, when positions were given, the loss (a scalar).
type Output struct {
	StartLogits, EndLogits *torch.Tensor
	Loss                   *torch.Tensor
}

// QAModel is what every architecture implements, so training, evaluation and serving never
// switch on the architecture.
type QAModel interface {
	// Forward runs the model; train turns dropout on. It panics with *torch.Error on bad
	// inputs: call the package-level Forward for an error instead.
	Forward(in Inputs, train bool) Output
	// Params are the named parameters in HF order.
	Params() *nn.Params
	// Config is the model's configuration.
	Config() *Config
}

// Forward runs m and turns any libtorch failure (bad shapes, out of memory) into an error.
func Forward(m QAModel, in Inputs, train bool) (out Output, err error) {
	if in.IDs == nil {
		return out, fmt.Errorf("models: forward: no input ids")
	}
	if s := in.IDs.Shape(); len(s) != 2 {
		return out, fmt.Errorf("models: forward: input ids have shape %v, want [batch, length]", s)
	}
	// Autograd numbers graph nodes with per-OS-thread counters and orders backward by them:
	// a forward that hops threads would make gradients differ in the last bit from run to run.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	err = torch.Catch(func() { out = m.Forward(in, train) })
	if err != nil {
		return Output{}, fmt.Errorf("models: %s forward: %w", m.Config().ModelType, err)
	}
	return out, nil
}

// builders maps config.json's model_type to a constructor.
var builders = map[string]func(*Config, torch.Device) QAModel{}

func register(modelType string, build func(*Config, torch.Device) QAModel) {
	builders[modelType] = build
}

// New builds an architecture with zero parameters (see InitWeights and Load) on dev.
func New(cfg *Config, dev torch.Device) (m QAModel, err error) {
	build, ok := builders[cfg.ModelType]
	if !ok {
		return nil, fmt.Errorf("models: model_type %q is not supported (have %v)", cfg.ModelType, Supported())
	}
	err = torch.Catch(func() { m = build(cfg, dev) })
	return m, err
}

// Supported lists the model types New accepts.
func Supported() []string {
	var out []string
	for _, k := range []string{"bert", "roberta", "deberta-v2", "longformer"} {
		if _, ok := builders[k]; ok {
			out = append(out, k)
		}
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

// qaHead is the span head: one Linear to two logits per token (row 0 start, row 1 end).
type qaHead struct{ proj *nn.Linear }

func newQAHead(p *nn.Params, hidden int64) *qaHead {
	return &qaHead{proj: nn.NewLinear(p, "qa_outputs", hidden, 2, true)}
}

// forward returns the output given the final hidden states [B, L, H].
func (h *qaHead) forward(hidden *torch.Tensor, in Inputs) Output {
	logits := h.proj.Forward(hidden)
	parts := logits.Split(1, -1)
	out := Output{
		StartLogits: parts[0].Squeeze(-1).Contiguous(),
		EndLogits:   parts[1].Squeeze(-1).Contiguous(),
	}
	if in.StartPositions != nil && in.EndPositions != nil {
		out.Loss = qaLoss(out.StartLogits, out.EndLogits, in.StartPositions, in.EndPositions)
	}
	return out
}

// additiveMask turns an attention mask [B, L] (1 keep, 0 pad) into the additive bias
// [B, 1, 1, L] HF uses: 0 where kept and the dtype's most negative value where padded (not
// -10000, so float16/bfloat16 stay correct).
func additiveMask(mask *torch.Tensor, dt torch.DType) *torch.Tensor {
	m := mask.Unsqueeze(1).Unsqueeze(2).ToDType(dt)
	return m.RSubScalar(1).MulScalar(minValue(dt))
}

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

// activation applies a config.json hidden_act.
func activation(name string, x *torch.Tensor) *torch.Tensor {
	switch name {
	case "gelu":
		return x.Gelu()
	case "gelu_new", "gelu_pytorch_tanh":
		return x.GeluTanh()
	case "relu":
		return x.Relu()
	case "tanh":
		return x.Tanh()
	}
	panic(&torch.Error{Op: "activation", Msg: fmt.Sprintf("hidden_act %q is not supported", name)})
}
