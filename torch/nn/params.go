// Package nn holds the few layers spanqa's models share (Linear, Embedding, LayerNorm,
// Dropout) and Params, the registry that names every parameter by its Hugging Face state-dict
// key so checkpoints load without renaming.
package nn

import (
	"fmt"

	"github.com/spanqa/spanqa/torch"
)

// Params is an ordered registry of named parameters. Sub-registries share the same storage and
// only add a name prefix, mirroring how PyTorch modules nest.
type Params struct {
	store  *paramStore
	prefix string
}

type paramStore struct {
	names  []string
	byName map[string]*torch.Tensor
	norms  map[string]bool
	device torch.Device
	dtype  torch.DType
}

// NewParams returns an empty registry whose parameters are created as float32 on dev.
func NewParams(dev torch.Device) *Params {
	return &Params{store: &paramStore{byName: map[string]*torch.Tensor{}, norms: map[string]bool{}, device: dev, dtype: torch.Float32}}
}

// Sub returns a view of the registry that prefixes names with name + ".".
func (p *Params) Sub(name string) *Params {
	return &Params{store: p.store, prefix: p.prefix + name + "."}
}

// Device is where new parameters are created.
func (p *Params) Device() torch.Device { return p.store.device }

// New registers a zero-initialised parameter (requiring grad) under prefix+name. Models
// initialise or load values afterwards.
func (p *Params) New(name string, shape ...int64) *torch.Tensor {
	full := p.prefix + name
	if _, dup := p.store.byName[full]; dup {
		panic(fmt.Sprintf("nn: parameter %s registered twice", full))
	}
	t := torch.Zeros(nil, p.store.dtype, p.store.device, shape...).SetRequiresGrad(true)
	p.store.names = append(p.store.names, full)
	p.store.byName[full] = t
	return t
}

// markNorm records that prefix+name belongs to a normalisation layer.
func (p *Params) markNorm(name string) { p.store.norms[p.prefix+name] = true }

// IsNorm reports whether the parameter (a full key) belongs to a LayerNorm. HF's Trainer
// exempts those, and every bias, from weight decay.
func (p *Params) IsNorm(name string) bool { return p.store.norms[name] }

// Names lists all parameter names in registration order (HF's named_parameters order).
func (p *Params) Names() []string { return append([]string(nil), p.store.names...) }

// Get returns the parameter called name (a full key), or nil.
func (p *Params) Get(name string) *torch.Tensor { return p.store.byName[name] }

// All returns the parameters in registration order.
func (p *Params) All() []*torch.Tensor {
	out := make([]*torch.Tensor, len(p.store.names))
	for i, n := range p.store.names {
		out[i] = p.store.byName[n]
	}
	return out
}

// Len is the number of parameter tensors.
func (p *Params) Len() int { return len(p.store.names) }

// Count is the total number of scalar parameters.
func (p *Params) Count() int64 {
	var n int64
	for _, t := range p.store.byName {
		n += t.Numel()
	}
	return n
}

// ZeroGrad drops every parameter's gradient.
func (p *Params) ZeroGrad() {
	for _, t := range p.store.byName {
		t.ZeroGrad()
	}
}

// Free releases every parameter; the registry must not be used afterwards.
func (p *Params) Free() {
	for _, t := range p.store.byName {
		t.Free()
	}
}

// To moves every parameter to dev and casts floating-point ones to dt in place (the layers
// keep their tensors), e.g. to run a float32 checkpoint in bfloat16 on a GPU.
func (p *Params) To(dev torch.Device, dt torch.DType) {
	torch.NoGrad(func() {
		for _, name := range p.store.names {
			t := p.store.byName[name]
			target := t.DType()
			if target.IsFloat() {
				target = dt
			}
			if t.Device() == dev && t.DType() == target {
				continue
			}
			moved := t.To(target, dev)
			t.SetData(moved)
			moved.Free()
		}
	})
	p.store.device, p.store.dtype = dev, dt
}

// DType is the floating-point type of the parameters.
func (p *Params) DType() torch.DType { return p.store.dtype }
