package models

import (
	"fmt"
	"math"

	"github.com/spanqa/spanqa/torch"
	"github.com/spanqa/spanqa/torch/nn"
)

// BERT and RoBERTa: HF's BertForQuestionAnswering and RobertaForQuestionAnswering are the same
// network (embeddings, a stack of self-attention layers, the span head), and differ only in
// their position ids: BERT numbers positions 0, 1, 2, ...; RoBERTa numbers real tokens from
// pad_token_id+1 and gives padding pad_token_id. This file reads top down: the model, its
// embeddings, the encoder, one layer, self-attention. The blocks after the attention are in
// blocks.go.

// Bert is BertForQuestionAnswering or, built by NewRoberta, RobertaForQuestionAnswering.
// Keys: bert.* (roberta.*) for embeddings and encoder, qa_outputs.* for the head.
type Bert struct {
	modelBase
	embeddings *bertEmbeddings
	encoder    *bertEncoder
	head       *qaHead
	// roberta selects RoBERTa's position ids.
	roberta bool
}

func init() {
	register("bert", func(c *Config, d torch.Device) QAModel { return NewBert(c, d) })
	register("roberta", func(c *Config, d torch.Device) QAModel { return NewRoberta(c, d) })
}

// NewBert builds BERT with HF-initialised random weights.
func NewBert(cfg *Config, dev torch.Device) *Bert { return newBert(cfg, dev, "bert", false) }

// NewRoberta builds RoBERTa with HF-initialised random weights.
func NewRoberta(cfg *Config, dev torch.Device) *Bert { return newBert(cfg, dev, "roberta", true) }

func newBert(cfg *Config, dev torch.Device, prefix string, roberta bool) *Bert {
	m := &Bert{modelBase: newModelBase(cfg, dev), roberta: roberta}
	// RoBERTa's position table has a padding row (padding's position id); BERT's has none.
	positionPadding := int64(-1)
	if roberta {
		positionPadding = cfg.PadTokenID
	}
	p := m.params
	m.embeddings = newBertEmbeddings(p.Sub(prefix+".embeddings"), cfg, positionPadding)
	m.encoder = newBertEncoder(p.Sub(prefix), cfg)
	m.head = newQAHead(p, cfg.HiddenSize)
	initHFWeights(p, cfg.InitializerRange, map[string]int64{
		prefix + ".embeddings.word_embeddings.weight":     cfg.PadTokenID,
		prefix + ".embeddings.position_embeddings.weight": positionPadding,
	})
	return m
}

// Forward implements QAModel.
func (m *Bert) Forward(in Inputs, train bool) Output {
	positions := m.positionIDs(in.IDs)
	mask := in.attentionMask()
	x := m.embeddings.forward(in.IDs, in.TypeIDs, positions, train) // [B, L, H]
	x = m.encoder.forward(x, additiveMask(mask, x.DType()), train, m.runner(train))
	return m.head.forward(x, in)
}

// positionIDs is the one difference between BERT and RoBERTa: BERT's positions are 0..L-1
// ([1, L], the same for every row); RoBERTa's are HF's create_position_ids_from_input_ids
// ([B, L]): real tokens get pad+1, pad+2, ... in order, padding tokens get pad. The RoBERTa rule
// looks at the ids, not the mask.
func (m *Bert) positionIDs(ids *torch.Tensor) *torch.Tensor {
	if m.roberta {
		return robertaPositions(ids, m.cfg.PadTokenID)
	}
	return torch.Arange(ids.Scope(), 0, float64(ids.Size(1)), 1, torch.Int64, ids.Device()).Unsqueeze(0)
}

// robertaPositions is RoBERTa's rule (Longformer uses it too): int64 ids [B, L] to position ids
// [B, L].
func robertaPositions(ids *torch.Tensor, pad int64) *torch.Tensor {
	real := ids.NeScalar(float64(pad)).ToDType(torch.Int64)
	return real.Cumsum(1).Mul(real).AddScalar(float64(pad))
}

// bertEmbeddings are BERT's (and RoBERTa's) input embeddings: word + token type (+ position,
// unless the attention uses relative positions), then LayerNorm and dropout.
type bertEmbeddings struct {
	word, position, tokenType *nn.Embedding
	absolute                  bool // add position embeddings (false with relative attention)
	norm                      *nn.LayerNorm
	dropout                   nn.Dropout
}

func newBertEmbeddings(p *nn.Params, cfg *Config, positionPadding int64) *bertEmbeddings {
	return &bertEmbeddings{
		word:      nn.NewEmbedding(p, "word_embeddings", cfg.VocabSize, cfg.HiddenSize, cfg.PadTokenID),
		position:  nn.NewEmbedding(p, "position_embeddings", cfg.MaxPositionEmbeddings, cfg.HiddenSize, positionPadding),
		tokenType: nn.NewEmbedding(p, "token_type_embeddings", cfg.TypeVocabSize, cfg.HiddenSize, -1),
		norm:      nn.NewLayerNorm(p, "LayerNorm", cfg.HiddenSize, cfg.LayerNormEps),
		dropout:   nn.Dropout{P: cfg.HiddenDropoutProb},
		absolute:  !cfg.RelativePositions(),
	}
}

// forward embeds ids [B, L] (token types default to 0) at positions [B or 1, L] into [B, L, H].
func (e *bertEmbeddings) forward(ids, typeIDs, positions *torch.Tensor, train bool) *torch.Tensor {
	if typeIDs == nil {
		typeIDs = ids.ZerosLike()
	}
	x := e.word.Forward(ids).Add(e.tokenType.Forward(typeIDs))
	if e.absolute {
		x = x.Add(e.position.Forward(positions))
	}
	return e.dropout.Forward(e.norm.Forward(x), train)
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

// forward runs the layers over x [B, L, H] with the additive mask [B, 1, 1, L].
func (e *bertEncoder) forward(x, mask *torch.Tensor, train bool, run layerRunner) *torch.Tensor {
	for _, l := range e.layers {
		x = run(func(v []*torch.Tensor) *torch.Tensor { return l.forward(v[0], mask, train) }, x)
	}
	return x
}

// bertLayer is one encoder layer: self-attention, then the shared output blocks.
type bertLayer struct {
	attention *selfAttention
	output    layerOutput
}

func newBertLayer(p *nn.Params, cfg *Config) *bertLayer {
	return &bertLayer{attention: newSelfAttention(p.Sub("attention.self"), cfg), output: newLayerOutput(p, cfg)}
}

func (l *bertLayer) forward(x, mask *torch.Tensor, train bool) *torch.Tensor {
	return l.output.forward(x, func(x *torch.Tensor) *torch.Tensor { return l.attention.forward(x, mask, train) }, train)
}

// selfAttention is BERT's multi-head scaled dot-product attention. With
// position_embedding_type relative_key (or relative_key_query) each layer also learns an
// embedding per query-key distance (HF's distance_embedding) and adds query·distance (and
// key·distance) to the scores, as in Shaw et al. and Huang et al.; the embeddings then add no
// absolute positions.
type selfAttention struct {
	qkv
	heads       int64
	dropout     nn.Dropout
	relative    PositionEmbedding // "" (absolute), relative_key or relative_key_query
	distance    *nn.Embedding     // [2*max_position_embeddings-1, headDim] when relative
	maxDistance int64             // max_position_embeddings: distance 0 is row maxDistance-1
}

func newSelfAttention(p *nn.Params, cfg *Config) *selfAttention {
	a := &selfAttention{
		qkv:     newQKV(p, cfg.HiddenSize, ""),
		heads:   cfg.NumAttentionHeads,
		dropout: nn.Dropout{P: cfg.AttentionProbsDropoutProb},
	}
	if cfg.RelativePositions() {
		a.relative, a.maxDistance = cfg.PositionEmbeddingType, cfg.MaxPositionEmbeddings
		a.distance = nn.NewEmbedding(p, "distance_embedding", 2*cfg.MaxPositionEmbeddings-1, cfg.HeadDim(), -1)
	}
	return a
}

// forward attends x [B, L, H] with the additive mask [B, 1, 1, L] and returns [B, L, H].
func (a *selfAttention) forward(x, mask *torch.Tensor, train bool) *torch.Tensor {
	q := splitHeads(a.query.Forward(x), a.heads) // [B, heads, L, headDim]
	k := splitHeads(a.key.Forward(x), a.heads)
	v := splitHeads(a.value.Forward(x), a.heads)
	if a.relative == "" {
		// The fused kernel of libtorch 2.x, as HF's default "sdpa" attention.
		return mergeHeads(torch.Attention(q, k, v, mask, a.dropout.P, train))
	}
	headDim := float64(x.Size(-1) / a.heads)
	scores := q.Matmul(k.Transpose(-1, -2)).Add(a.relativeScores(q, k)) // [B, heads, L, L]
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
	if a.relative != RelativeKeyQuery {
		return byQuery
	}
	// [L(r), B*heads, d] x [L(r), d, L(l)] -> [L(r), B*heads, L(l)] -> [B, heads, L(l), L(r)]
	byKey := k.Permute(2, 0, 1, 3).Reshape(n, b*h, d).Bmm(table.Permute(1, 2, 0)).
		View(n, b, h, n).Permute(1, 2, 3, 0)
	return byQuery.Add(byKey)
}
