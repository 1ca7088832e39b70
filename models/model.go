package models

import (
	"fmt"
	"runtime"

	"github.com/spanqa/spanqa/torch"
	"github.com/spanqa/spanqa/torch/nn"
)

// Inputs is one batch for a QA model. IDs, Mask and TypeIDs are int64 [B, L]; Mask (then every
// token is real), TypeIDs and GlobalMask may be nil. StartPositions/EndPositions (int64 [B]) ask
// for the loss.
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

// GradientCheckpointer is implemented by every architecture: with checkpointing on, a training
// forward keeps only each layer's input and backward recomputes the layer (HF's
// gradient_checkpointing_enable), trading one more forward for activation memory. Gradients
// are unchanged. Inference is not affected.
type GradientCheckpointer interface {
	SetGradientCheckpointing(on bool)
}

// SetGradientCheckpointing turns gradient checkpointing on or off for m.
func SetGradientCheckpointing(m QAModel, on bool) error {
	gc, ok := m.(GradientCheckpointer)
	if !ok {
		return fmt.Errorf("models: %s does not support gradient checkpointing", m.Config().ModelType)
	}
	gc.SetGradientCheckpointing(on)
	return nil
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

// New builds the architecture cfg names on dev, with random weights initialised as HF's
// from_config does; Load builds one and then fills it from a checkpoint.
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
