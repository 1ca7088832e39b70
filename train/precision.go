package train

import (
	"fmt"

	"github.com/spanqa/spanqa/torch"
)

// Precision selects mixed-precision training: bf16 or fp16 autocast (HF's --bf16/--fp16),
// with dynamic loss scaling for fp16 as torch.cuda.amp.GradScaler does it.
type Precision struct {
	// Autocast is the lower-precision dtype (Float16 or BFloat16), or 0 for full float32.
	Autocast torch.DType
	Device   torch.Device
	// Scaler is set for fp16.
	Scaler *GradScaler
}

// NewPrecision checks the --fp16/--bf16 choice against the device.
func NewPrecision(fp16, bf16 bool, dev torch.Device) (*Precision, error) {
	switch {
	case fp16 && bf16:
		return nil, fmt.Errorf("train: --fp16 and --bf16 are exclusive")
	case fp16 && dev.Type != torch.CUDADevice:
		return nil, fmt.Errorf("train: --fp16 needs a CUDA device (use --bf16 on CPU)")
	case fp16:
		return &Precision{Autocast: torch.Float16, Device: dev, Scaler: NewGradScaler()}, nil
	case bf16:
		return &Precision{Autocast: torch.BFloat16, Device: dev}, nil
	}
	return nil, nil
}

// run executes fn under autocast when enabled.
func (p *Precision) run(fn func()) {
	if p == nil || p.Autocast == 0 {
		fn()
		return
	}
	torch.Autocast(p.Device, p.Autocast, fn)
}

// GradScaler is dynamic loss scaling: the loss is multiplied by Scale before backward so small
// fp16 gradients do not flush to zero; before the update the gradients are unscaled, and a
// step whose gradients overflowed is skipped and the scale reduced. After GrowthInterval clean
// steps the scale grows again. The defaults are torch.cuda.amp.GradScaler's.
type GradScaler struct {
	Scale          float64
	GrowthFactor   float64
	BackoffFactor  float64
	GrowthInterval int
	goodSteps      int
}

// NewGradScaler returns a scaler with PyTorch's defaults (2^16, x2 every 2000 steps, /2 on
// overflow).
func NewGradScaler() *GradScaler {
	return &GradScaler{Scale: 65536, GrowthFactor: 2, BackoffFactor: 0.5, GrowthInterval: 2000}
}

// unscale divides the gradients by the scale and reports whether they are all finite; it
// updates the scale for the next step.
func (g *GradScaler) unscale(params []*torch.Tensor) bool {
	torch.ScaleGrads(params, 1/g.Scale)
	finite := torch.GradsAllFinite(params)
	if !finite {
		g.Scale *= g.BackoffFactor
		g.goodSteps = 0
		return false
	}
	g.goodSteps++
	if g.goodSteps >= g.GrowthInterval {
		g.Scale *= g.GrowthFactor
		g.goodSteps = 0
	}
	return true
}
