package nn

import "github.com/spanqa/spanqa/torch"

// Linear is y = x W^T + b with W shaped [out, in] (HF/PyTorch layout).
type Linear struct {
	Weight, Bias *torch.Tensor
}

// NewLinear registers <name>.weight and, when bias is set, <name>.bias.
func NewLinear(p *Params, name string, in, out int64, bias bool) *Linear {
	s := p.Sub(name)
	l := &Linear{Weight: s.New("weight", out, in)}
	if bias {
		l.Bias = s.New("bias", out)
	}
	return l
}

// Forward applies the layer to the last dimension of x.
func (l *Linear) Forward(x *torch.Tensor) *torch.Tensor { return torch.Linear(x, l.Weight, l.Bias) }

// Embedding maps ids to rows of Weight [num, dim]. PaddingIdx (-1: none) receives no gradient.
type Embedding struct {
	Weight     *torch.Tensor
	PaddingIdx int64
}

// NewEmbedding registers <name>.weight.
func NewEmbedding(p *Params, name string, num, dim, paddingIdx int64) *Embedding {
	return &Embedding{Weight: p.Sub(name).New("weight", num, dim), PaddingIdx: paddingIdx}
}

// Forward looks up ids (int64, any shape).
func (e *Embedding) Forward(ids *torch.Tensor) *torch.Tensor {
	return torch.Embedding(e.Weight, ids, e.PaddingIdx)
}

// ZeroRow zeroes row i of a loose tensor such as a parameter. The row view would be loose too,
// left for a GC cleanup; it is freed at once instead.
func ZeroRow(t *torch.Tensor, i int64) {
	row := t.Select(0, i)
	defer row.Free()
	row.Zero_()
}

// LayerNorm normalises the last dimension with learned scale and shift.
type LayerNorm struct {
	Weight, Bias *torch.Tensor
	Eps          float64
}

// NewLayerNorm registers <name>.weight (ones) and <name>.bias (zeros).
func NewLayerNorm(p *Params, name string, dim int64, eps float64) *LayerNorm {
	s := p.Sub(name)
	ln := &LayerNorm{Weight: s.New("weight", dim), Bias: s.New("bias", dim), Eps: eps}
	s.markNorm("weight")
	s.markNorm("bias")
	torch.NoGrad(func() { ln.Weight.Fill_(1) })
	return ln
}

// Forward normalises x.
func (ln *LayerNorm) Forward(x *torch.Tensor) *torch.Tensor {
	return torch.LayerNorm(x, ln.Weight, ln.Bias, ln.Eps)
}

// Dropout zeroes activations with probability P in training.
type Dropout struct{ P float64 }

// Forward applies dropout when train is set and P > 0; otherwise x passes through unchanged.
func (d Dropout) Forward(x *torch.Tensor, train bool) *torch.Tensor {
	if !train || d.P == 0 {
		return x
	}
	return x.Dropout(d.P, true)
}
