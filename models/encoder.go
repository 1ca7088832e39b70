package models

import (
	"fmt"
	"math"

	"github.com/spanqa/spanqa/torch"
	"github.com/spanqa/spanqa/torch/nn"
)

// The BERT-style transformer encoder shared by BERT and RoBERTa (and, for its feed-forward and
// output blocks, Longformer and DeBERTa). Names follow HF's BertLayer:
// encoder.layer.N.{attention.self.{query,key,value}, attention.output.{dense,LayerNorm},
// intermediate.dense, output.{dense,LayerNorm}}.

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

// feedForward is intermediate.dense + activation + output (addNorm).
type feedForward struct {
	intermediate *nn.Linear
	act          string
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
	return f.output.forward(activation(f.act, f.intermediate.Forward(x)), x, train)
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

// selfAttention is BERT's multi-head scaled dot-product attention. With
// position_embedding_type relative_key (or relative_key_query) each layer also learns an
// embedding per query-key distance (HF's distance_embedding) and adds query·distance (and
// key·distance) to the scores, as in Shaw et al. and Huang et al.; the embeddings then add no
// absolute positions.
type selfAttention struct {
	query, key, value *nn.Linear
	heads             int64
	dropout           nn.Dropout
	relative          string        // "", "relative_key" or "relative_key_query"
	distance          *nn.Embedding // [2*max_position_embeddings-1, headDim] when relative
	maxDistance       int64         // max_position_embeddings: distance 0 is row maxDistance-1
}

func newSelfAttention(p *nn.Params, cfg *Config) *selfAttention {
	h := cfg.HiddenSize
	a := &selfAttention{
		query:   nn.NewLinear(p, "query", h, h, true),
		key:     nn.NewLinear(p, "key", h, h, true),
		value:   nn.NewLinear(p, "value", h, h, true),
		heads:   cfg.NumAttentionHeads,
		dropout: nn.Dropout{P: cfg.AttentionProbsDropoutProb},
	}
	if cfg.relativePositions() {
		a.relative, a.maxDistance = cfg.PositionEmbeddingType, cfg.MaxPositionEmbeddings
		a.distance = nn.NewEmbedding(p, "distance_embedding", 2*cfg.MaxPositionEmbeddings-1, cfg.HeadDim(), -1)
	}
	return a
}

// forward attends x [B, L, H] with the additive mask [B, 1, 1, L].
func (a *selfAttention) forward(x, mask *torch.Tensor, train bool) *torch.Tensor {
	q := splitHeads(a.query.Forward(x), a.heads)
	k := splitHeads(a.key.Forward(x), a.heads)
	v := splitHeads(a.value.Forward(x), a.heads)
	if a.relative == "" {
		// The fused kernel of libtorch 2.x, as HF's default "sdpa" attention.
		return mergeHeads(torch.Attention(q, k, v, mask, a.dropout.P, train))
	}
	headDim := float64(x.Size(-1) / a.heads)
	scores := q.Matmul(k.Transpose(-1, -2)).Add(a.relativeScores(q, k))
	scores = scores.DivScalar(math.Sqrt(headDim)).Add(mask)
	probs := a.dropout.Forward(scores.Softmax(-1), train)
	return mergeHeads(probs.Matmul(v))
}

// relativeScores is HF's einsum("bhld,lrd->bhlr", q, D) (+ einsum("bhrd,lrd->bhlr", k, D))
// with D[l, r] the embedding of distance l-r, done as batched products over one position.
func (a *selfAttention) relativeScores(q, k *torch.Tensor) *torch.Tensor {
	s := q.Shape() // [B, heads, L, headDim]
	b, h, n, d := s[0], s[1], s[2], s[3]
	// Row of distance l-r: l + (maxDistance-1) - r, all in int64.
	left := torch.Arange(q.Scope(), float64(a.maxDistance-1), float64(a.maxDistance-1+n), 1, torch.Int64, q.Device())
	right := torch.Arange(q.Scope(), 0, float64(n), 1, torch.Int64, q.Device())
	table := a.distance.Forward(left.Unsqueeze(1).Sub(right.Unsqueeze(0))).To(q.DType(), q.Device()) // [L(l), L(r), headDim]
	// [L(l), B*heads, d] x [L(l), d, L(r)] -> [L(l), B*heads, L(r)] -> [B, heads, L(l), L(r)]
	byQuery := q.Permute(2, 0, 1, 3).Reshape(n, b*h, d).Bmm(table.Transpose(1, 2)).
		View(n, b, h, n).Permute(1, 2, 0, 3)
	if a.relative != "relative_key_query" {
		return byQuery
	}
	// [L(r), B*heads, d] x [L(r), d, L(l)] -> [L(r), B*heads, L(l)] -> [B, heads, L(l), L(r)]
	byKey := k.Permute(2, 0, 1, 3).Reshape(n, b*h, d).Bmm(table.Permute(1, 2, 0)).
		View(n, b, h, n).Permute(1, 2, 3, 0)
	return byQuery.Add(byKey)
}

// bertLayer is one encoder layer.
type bertLayer struct {
	attention *selfAttention
	attnOut   *addNorm
	ffn       *feedForward
}

func newBertLayer(p *nn.Params, cfg *Config) *bertLayer {
	att := p.Sub("attention")
	return &bertLayer{
		attention: newSelfAttention(att.Sub("self"), cfg),
		attnOut:   newAddNorm(att.Sub("output"), cfg.HiddenSize, cfg.HiddenSize, cfg.LayerNormEps, cfg.HiddenDropoutProb),
		ffn:       newFeedForward(p, cfg),
	}
}

func (l *bertLayer) forward(x, mask *torch.Tensor, train bool) *torch.Tensor {
	a := l.attnOut.forward(l.attention.forward(x, mask, train), x, train)
	return l.ffn.forward(a, train)
}

// bertEncoder is the stack of layers under "encoder".
type bertEncoder struct{ layers []*bertLayer }

func newBertEncoder(p *nn.Params, cfg *Config) *bertEncoder {
	e := &bertEncoder{}
	for i := 0; i < cfg.NumHiddenLayers; i++ {
		e.layers = append(e.layers, newBertLayer(p.Sub(fmt.Sprintf("encoder.layer.%d", i)), cfg))
	}
	return e
}

func (e *bertEncoder) forward(x, mask *torch.Tensor, train bool) *torch.Tensor {
	for _, l := range e.layers {
		// Each layer's intermediates are freed as it returns (see inOwnScope), not with the pass.
		x = inOwnScope(func(v []*torch.Tensor) *torch.Tensor { return l.forward(v[0], mask, train) }, x)
	}
	return x
}

// initBertWeights is HF's BertPreTrainedModel._init_weights for every registered parameter:
// Linear and Embedding weights from N(0, initializer_range), biases 0, LayerNorm 1/0, padding
// rows zeroed. Registration order makes the draws follow HF's module order.
func initBertWeights(p *nn.Params, cfg *Config, paddingRows map[string]int64) {
	torch.NoGrad(func() {
		for _, name := range p.Names() {
			t := p.Get(name)
			switch {
			case hasSuffix(name, "LayerNorm.weight"):
				t.Fill_(1)
			case hasSuffix(name, ".bias"):
				t.Zero_()
			default:
				t.Normal_(0, cfg.InitializerRange)
				if row, ok := paddingRows[name]; ok && row >= 0 {
					nn.ZeroRow(t, row)
				}
			}
		}
	})
}

func hasSuffix(s, suffix string) bool {
	return len(s) >= len(suffix) && s[len(s)-len(suffix):] == suffix
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
