package models

import (
	"fmt"
	"math"

	"github.com/spanqa/spanqa/torch"
	"github.com/spanqa/spanqa/torch/nn"
)

// Deberta is DebertaV2ForQuestionAnswering (model_type "deberta-v2", which covers the v2 and
// v3 checkpoints): embeddings without absolute positions (unless position_biased_input), an
// encoder with disentangled self-attention over log-bucketed relative positions, the optional
// convolution after the first layer (v2), and the span head.
//
// Keys: deberta.embeddings.*, deberta.encoder.layer.N.*, deberta.encoder.rel_embeddings.weight,
// deberta.encoder.LayerNorm.*, deberta.encoder.conv.*, qa_outputs.*.
type Deberta struct {
	modelBase
	embeddings *debertaEmbeddings
	encoder    *debertaEncoder
	head       *qaHead
}

func init() {
	register("deberta-v2", func(c *Config, d torch.Device) QAModel { return NewDeberta(c, d) })
}

// NewDeberta builds the architecture with HF-initialised random weights. Parameters are
// registered in HF's named_parameters order.
func NewDeberta(cfg *Config, dev torch.Device) *Deberta {
	m := &Deberta{modelBase: newModelBase(cfg, dev)}
	p := m.params
	m.embeddings = newDebertaEmbeddings(p.Sub("deberta.embeddings"), cfg)
	m.encoder = newDebertaEncoder(p.Sub("deberta.encoder"), cfg)
	m.head = newQAHead(p, cfg.HiddenSize)
	initHFWeights(p, cfg.InitializerRange, map[string]int64{"deberta.embeddings.word_embeddings.weight": cfg.PadTokenID})
	if m.encoder.conv != nil {
		// HF's _init_weights skips Conv1d, so the convolution keeps PyTorch's default init.
		m.encoder.conv.initDefault()
	}
	return m
}

// Forward implements QAModel.
func (m *Deberta) Forward(in Inputs, train bool) Output {
	mask := in.attentionMask()                                 // [B, L]
	x := m.embeddings.forward(in.IDs, in.TypeIDs, mask, train) // [B, L, H]
	x = m.encoder.forward(x, mask, train, m.runner(train))
	return m.head.forward(x, in)
}

// debertaEmbeddings are DebertaV2Embeddings. v3 checkpoints have neither position nor
// token-type embeddings; embedding_size may differ from hidden_size (then embed_proj maps it).
type debertaEmbeddings struct {
	word      *nn.Embedding
	position  *nn.Embedding // nil unless position_biased_input
	tokenType *nn.Embedding // nil when type_vocab_size is 0
	proj      *nn.Linear    // nil when embedding_size == hidden_size
	norm      *nn.LayerNorm
	dropout   nn.Dropout
}

func newDebertaEmbeddings(p *nn.Params, cfg *Config) *debertaEmbeddings {
	size := debertaEmbeddingSize(cfg)
	e := &debertaEmbeddings{
		word:    nn.NewEmbedding(p, "word_embeddings", cfg.VocabSize, size, cfg.PadTokenID),
		dropout: nn.Dropout{P: cfg.HiddenDropoutProb},
	}
	if cfg.DeBERTa.PositionBiasedInput {
		e.position = nn.NewEmbedding(p, "position_embeddings", cfg.MaxPositionEmbeddings, size, -1)
	}
	if cfg.TypeVocabSize > 0 {
		e.tokenType = nn.NewEmbedding(p, "token_type_embeddings", cfg.TypeVocabSize, size, -1)
	}
	if size != cfg.HiddenSize {
		e.proj = nn.NewLinear(p, "embed_proj", size, cfg.HiddenSize, false)
	}
	e.norm = nn.NewLayerNorm(p, "LayerNorm", cfg.HiddenSize, cfg.LayerNormEps)
	return e
}

// debertaEmbeddingSize is embedding_size, which defaults to hidden_size.
func debertaEmbeddingSize(cfg *Config) int64 {
	if cfg.DeBERTa.EmbeddingSize > 0 {
		return cfg.DeBERTa.EmbeddingSize
	}
	return cfg.HiddenSize
}

// forward embeds ids [B, L]. The output is multiplied by the attention mask, so padded
// positions enter the first layer as exact zeros (HF does the same).
func (e *debertaEmbeddings) forward(ids, typeIDs, mask *torch.Tensor, train bool) *torch.Tensor {
	x := e.word.Forward(ids)
	if e.position != nil {
		positions := torch.Arange(ids.Scope(), 0, float64(ids.Size(1)), 1, torch.Int64, ids.Device()).Unsqueeze(0) // [1, L]
		x = x.Add(e.position.Forward(positions))
	}
	if e.tokenType != nil {
		if typeIDs == nil {
			typeIDs = ids.ZerosLike()
		}
		x = x.Add(e.tokenType.Forward(typeIDs))
	}
	if e.proj != nil {
		x = e.proj.Forward(x)
	}
	x = e.norm.Forward(x)
	x = x.Mul(mask.Unsqueeze(2).ToDType(x.DType())) // mask as [B, L, 1]
	return e.dropout.Forward(x, train)
}

// debertaEncoder is DebertaV2Encoder: the layers, the shared relative-position embeddings
// (optionally layer-normalised) and the convolution applied after the first layer.
type debertaEncoder struct {
	layers []*debertaLayer
	// relEmb holds 2*span rows, one per relative-position bucket; nil without
	// relative_attention.
	relEmb  *nn.Embedding
	relNorm *nn.LayerNorm // with norm_rel_ebd layer_norm
	conv    *debertaConv
	rel     relativeConfig
}

// relativeConfig is what the relative-position arithmetic needs.
type relativeConfig struct {
	// span is att_span: position_buckets when bucketing, else max_relative_positions.
	span int64
	// buckets and maxPosition parameterise the log buckets (buckets <= 0: none).
	buckets, maxPosition int64
}

func newRelativeConfig(cfg *Config) relativeConfig {
	maxRel := cfg.DeBERTa.MaxRelativePositions
	if maxRel < 1 {
		maxRel = cfg.MaxPositionEmbeddings
	}
	r := relativeConfig{span: maxRel, buckets: cfg.DeBERTa.PositionBuckets, maxPosition: maxRel}
	if cfg.DeBERTa.PositionBuckets > 0 {
		r.span = cfg.DeBERTa.PositionBuckets
	}
	return r
}

func newDebertaEncoder(p *nn.Params, cfg *Config) *debertaEncoder {
	e := &debertaEncoder{rel: newRelativeConfig(cfg)}
	for i := 0; i < cfg.NumHiddenLayers; i++ {
		e.layers = append(e.layers, newDebertaLayer(p.Sub(fmt.Sprintf("layer.%d", i)), cfg, e.rel))
	}
	if cfg.DeBERTa.RelativeAttention {
		e.relEmb = nn.NewEmbedding(p, "rel_embeddings", 2*e.rel.span, cfg.HiddenSize, -1)
	}
	if cfg.DeBERTa.LayerNormRelEmbeddings {
		e.relNorm = nn.NewLayerNorm(p, "LayerNorm", cfg.HiddenSize, cfg.LayerNormEps)
	}
	if cfg.DeBERTa.ConvKernelSize > 0 {
		e.conv = newDebertaConv(p.Sub("conv"), cfg)
	}
	return e
}

// relativeInputs are computed once per forward pass and shared by every layer.
type relativeInputs struct {
	emb *torch.Tensor // relative embeddings [2*span, H], after the encoder LayerNorm
	// c2p and p2c index the [.., 2*span] position scores for each (query, key) pair: the
	// bucketed relative position i-j shifted by span (negated for p2c), clamped to the table.
	c2p, p2c *torch.Tensor // int64 [L, L]
}

// tensors lists the inputs' tensors (none without relative attention), in from's order.
func (r *relativeInputs) tensors() []*torch.Tensor {
	if r == nil {
		return nil
	}
	return []*torch.Tensor{r.emb, r.c2p, r.p2c}
}

// from rebuilds relative inputs from tensors listed by tensors (nil from none).
func (r *relativeInputs) from(ts []*torch.Tensor) *relativeInputs {
	if r == nil {
		return nil
	}
	return &relativeInputs{emb: ts[0], c2p: ts[1], p2c: ts[2]}
}

// forward runs the layers over x [B, L, H] with the 2-D attention mask [B, L].
func (e *debertaEncoder) forward(x, mask *torch.Tensor, train bool, run layerRunner) *torch.Tensor {
	s := x.Scope()
	rmask := pairwiseMask(mask)
	var rel *relativeInputs
	if e.relEmb != nil {
		// A view of the parameter, adopted so that everything derived from it (the LayerNorm,
		// the position projections in each layer) lives in this pass's scope.
		emb := s.Adopt(e.relEmb.Weight.Narrow(0, 0, 2*e.rel.span))
		if e.relNorm != nil {
			emb = e.relNorm.Forward(emb)
		}
		rel = &relativeInputs{emb: emb}
		pos := relativePositions(s, x.Size(1), e.rel.buckets, e.rel.maxPosition, x.Device())
		rel.c2p = pos.AddScalar(float64(e.rel.span)).ClampRange(0, float64(2*e.rel.span-1))
		rel.p2c = pos.Neg().AddScalar(float64(e.rel.span)).ClampRange(0, float64(2*e.rel.span-1))
	}
	input := x
	for i, l := range e.layers {
		// Each layer's intermediates (several [B*heads, L, L] score tensors, its projections of
		// the relative embeddings) are freed as it returns, not with the pass: under NoGrad a
		// long input then holds one layer's at a time. The relative inputs go in as arguments so
		// that what a layer derives from them lands in its scope too (and, checkpointed, so that
		// their gradients flow back through the layer's node).
		x = run(func(v []*torch.Tensor) *torch.Tensor { return l.forward(v[0], rmask, rel.from(v[1:]), train) },
			append([]*torch.Tensor{x}, rel.tensors()...)...)
		if i == 0 && e.conv != nil {
			x = e.conv.forward(input, x, mask, train)
		}
	}
	return x
}

// pairwiseMask is HF's get_attention_mask plus XSoftmax's inversion: token i may attend to
// token j when both are real, so the result [B, 1, L, L] is true where attention is masked.
// Padded query rows are fully masked, which masked softmax turns into all-zero rows.
func pairwiseMask(mask *torch.Tensor) *torch.Tensor {
	keys := mask.Unsqueeze(1).Unsqueeze(2)    // [B, 1, 1, L]
	queries := mask.Unsqueeze(1).Unsqueeze(3) // [B, 1, L, 1]
	return keys.Mul(queries).EqScalar(0)
}

// relativePositions returns the int64 [L, L] relative positions i - j (query minus key),
// log-bucketed when buckets > 0 and maxPosition > 0, in scope s.
func relativePositions(s *torch.Scope, length, buckets, maxPosition int64, dev torch.Device) *torch.Tensor {
	ids := torch.Arange(s, 0, float64(length), 1, torch.Int64, dev)
	rel := ids.Unsqueeze(1).Sub(ids.Unsqueeze(0))
	if buckets > 0 && maxPosition > 0 {
		rel = logBucketPositions(rel, buckets, maxPosition)
	}
	return rel
}

// logBucketPositions is HF's make_log_bucket_position on int64 relative positions: distances
// up to bucket/2 are kept, longer ones are compressed logarithmically so that maxPosition maps
// to bucket-1. The arithmetic runs in float32 in HF's operation order (the ceil makes the
// result sensitive to the last bit), and the result is truncated back to int64.
func logBucketPositions(rel *torch.Tensor, buckets, maxPosition int64) *torch.Tensor {
	s, dev := rel.Scope(), rel.Device()
	mid := buckets / 2
	sign := rel.Sign()
	// Inside (-mid, mid) the log branch is discarded anyway; mid-1 keeps log() finite there.
	inner := rel.LtScalar(float64(mid)).LogicalAnd(rel.GtScalar(float64(-mid)))
	absPos := torch.Where(inner, torch.Full(s, float64(mid-1), torch.Int64, dev), rel.Abs())
	// HF's log((maxPosition-1)/mid) is taken of a float32 tensor, so use the same kernel.
	logMax := torch.Full(s, float64(float32(float64(maxPosition-1)/float64(mid))), torch.Float32, dev).Log()
	logPos := absPos.ToDType(torch.Float32).DivScalar(float64(mid)).Log().Div(logMax).
		MulScalar(float64(mid - 1)).Ceil().AddScalar(float64(mid))
	bucketed := torch.Where(absPos.LeScalar(float64(mid)), rel.ToDType(torch.Float32), logPos.Mul(sign))
	return bucketed.ToDType(torch.Int64)
}

// debertaLayer is DebertaV2Layer: disentangled attention, then the shared output blocks.
type debertaLayer struct {
	attention *disentangledAttention
	output    layerOutput
}

func newDebertaLayer(p *nn.Params, cfg *Config, rel relativeConfig) *debertaLayer {
	return &debertaLayer{attention: newDisentangledAttention(p.Sub("attention.self"), cfg, rel), output: newLayerOutput(p, cfg)}
}

func (l *debertaLayer) forward(x, rmask *torch.Tensor, rel *relativeInputs, train bool) *torch.Tensor {
	return l.output.forward(x, func(x *torch.Tensor) *torch.Tensor { return l.attention.forward(x, rmask, rel, train) }, train)
}

// disentangledAttention is DisentangledSelfAttention: content-to-content scores plus, when
// relative attention is on, content-to-position (c2p) and position-to-content (p2c) scores
// against the shared relative embeddings.
type disentangledAttention struct {
	qkv // query_proj, key_proj, value_proj
	// posKey and posQuery project the relative embeddings when share_att_key is false; with
	// shared keys (sharedKeys), key and query do it.
	posKey, posQuery *nn.Linear
	sharedKeys       bool
	heads            int64
	relative         bool
	c2p, p2c         bool
	// scaleFactor is 1 + the number of score terms beyond content; every term is divided by
	// sqrt(head_dim * scaleFactor), so the sum keeps the variance of one term.
	scaleFactor int64
	span        int64
	dropout     nn.Dropout
	posDropout  nn.Dropout
	// zeroMaskedRows is transformers 4.x's XSoftmax, which zeroes the attention of padded
	// queries; 5.x softmaxes their fully masked rows to uniform weights, which changes the
	// logits at padded positions and so the loss. Checkpoints written by 4.x keep 4.x's rule.
	zeroMaskedRows bool
}

func newDisentangledAttention(p *nn.Params, cfg *Config, rel relativeConfig) *disentangledAttention {
	h := cfg.HiddenSize
	a := &disentangledAttention{
		qkv:         newQKV(p, h, "_proj"),
		heads:       cfg.NumAttentionHeads,
		relative:    cfg.DeBERTa.RelativeAttention,
		span:        rel.span,
		scaleFactor: 1,
		sharedKeys:  cfg.DeBERTa.ShareAttKey,
		dropout:     nn.Dropout{P: cfg.AttentionProbsDropoutProb},
		posDropout:  nn.Dropout{P: cfg.HiddenDropoutProb},

		zeroMaskedRows: cfg.Before5(),
	}
	for _, t := range cfg.DeBERTa.PosAttType {
		switch t {
		case C2P:
			a.c2p = true
		case P2C:
			a.p2c = true
		}
	}
	// HF counts the terms from pos_att_type even when relative attention is off.
	if a.c2p {
		a.scaleFactor++
	}
	if a.p2c {
		a.scaleFactor++
	}
	if a.relative && !cfg.DeBERTa.ShareAttKey {
		if a.c2p {
			a.posKey = nn.NewLinear(p, "pos_key_proj", h, h, true)
		}
		if a.p2c {
			a.posQuery = nn.NewLinear(p, "pos_query_proj", h, h, true)
		}
	}
	return a
}

// forward attends x [B, L, H]; rmask [B, 1, L, L] is true where attention is masked.
//
// The shapes, memory layouts and operation order below are HF's, not just its mathematics:
// libtorch picks reduction orders and GEMM transposition flags from shapes and strides, and the
// autograd engine orders backward (and so the order in which a tensor's gradients are summed)
// by when each node was created. Anything else changes results in the last bit, which six
// optimizer steps amplify past the trajectory tolerance.
func (a *disentangledAttention) forward(x, rmask *torch.Tensor, rel *relativeInputs, train bool) *torch.Tensor {
	b, l, h := x.Size(0), x.Size(1), x.Size(2)
	q := a.headsFirst(a.query.Forward(x)) // [B*heads, L, d], contiguous
	k := a.headsFirst(a.key.Forward(x))
	v := a.headsFirst(a.value.Forward(x))
	scale := a.scale(q.Size(-1))
	// The score tensors ([B*heads, L, L] each, and more of them with relative attention) go as
	// soon as the probabilities exist: each stage runs in a scope of its own, so that under
	// NoGrad a layer holds a few of them at a time rather than every one it made.
	probs := inOwnScope(func(t []*torch.Tensor) *torch.Tensor {
		scores := inOwnScope(func(t []*torch.Tensor) *torch.Tensor {
			q, k := t[0], t[1]
			// HF scales the transposed keys, not the product: the rounding differs.
			scores := q.Bmm(k.Transpose(-1, -2).DivScalar(scale)) // [B*heads, L, L]
			if a.relative && rel != nil {
				if bias := a.relativeScores(q, k, rel.from(t[2:]), scale, train); bias != nil {
					scores = scores.Add(bias)
				}
			}
			return scores
		}, t...)
		probs := maskedSoftmax(scores.View(b, a.heads, l, l), rmask, a.zeroMaskedRows) // [B, heads, L, L]
		return a.dropout.Forward(probs, train)
	}, append([]*torch.Tensor{q, k}, rel.tensors()...)...)
	ctx := probs.View(b*a.heads, l, l).Bmm(v)                                                // [B*heads, L, d]
	return ctx.View(b, a.heads, l, h/a.heads).Permute(0, 2, 1, 3).Contiguous().View(b, l, h) // [B, L, H]
}

// headsFirst is HF's transpose_for_scores: [N, L, H] to a contiguous [N*heads, L, d], so that
// the batched products (torch.bmm there) see the same shapes and strides as in HF.
func (a *disentangledAttention) headsFirst(x *torch.Tensor) *torch.Tensor {
	n, l, h := x.Size(0), x.Size(1), x.Size(2)
	return x.View(n, l, a.heads, h/a.heads).Permute(0, 2, 1, 3).Contiguous().View(n*a.heads, l, h/a.heads)
}

// scale is sqrt(headDim * scaleFactor) rounded to float32, as HF computes it from a float32
// tensor (sqrt is correctly rounded, so float64 then float32 gives the same value).
func (a *disentangledAttention) scale(headDim int64) float64 {
	return float64(float32(math.Sqrt(float64(float32(headDim * a.scaleFactor)))))
}

// relativeScores is HF's disentangled_attention_bias: c2p + p2c, each already divided by the
// scale, as [B*heads, L, L] for q and k [B*heads, L, d]. It returns nil when pos_att_type names
// neither term.
func (a *disentangledAttention) relativeScores(q, k *torch.Tensor, rel *relativeInputs, scale float64, train bool) *torch.Tensor {
	if !a.c2p && !a.p2c {
		return nil
	}
	// Each layer takes its own [1, 2*span, H] view of the shared embeddings, as HF does. The
	// view is where autograd sums this layer's two projection gradients before adding them to
	// the other layers' sum; projecting the shared 2-D table directly would make the encoder
	// LayerNorm's backward add all of them one by one, in a different order.
	emb := a.posDropout.Forward(rel.emb, train).Unsqueeze(0)
	batch := q.Size(0) / a.heads
	// Projected embeddings as [B*heads, 2*span, d], tiled over the batch with repeat rather
	// than broadcast by matmul: repeat's backward sums the batch into a fresh contiguous
	// gradient, whereas a broadcast hands the projection's backward a transposed one, whose
	// column sums (the bias gradient) libtorch reduces in a different order.
	project := func(l *nn.Linear) *torch.Tensor { return a.headsFirst(l.Forward(emb)).Repeat(batch, 1, 1) }
	// HF's order: the query side first when the projections are shared, the key side first
	// when they are separate.
	var posKey, posQuery *torch.Tensor
	if a.sharedKeys {
		posQuery = project(a.query)
		posKey = project(a.key)
	} else {
		if a.c2p {
			posKey = project(a.posKey)
		}
		if a.p2c {
			posQuery = project(a.posQuery)
		}
	}
	n, l := q.Size(0), q.Size(1)
	// Each term in a scope of its own, so that its [B*heads, L, 2*span] product is freed as soon
	// as the term is picked out of it.
	var c2p, p2c *torch.Tensor
	if a.c2p {
		// Score of query i against the embedding of each bucket, then picked at the bucket of
		// (i, j).
		c2p = inOwnScope(func(t []*torch.Tensor) *torch.Tensor {
			att := t[0].Bmm(t[1].Transpose(-1, -2)) // [B*heads, L, 2*span]
			return att.Gather(-1, t[2].Expand(n, l, l)).DivScalar(scale)
		}, q, posKey, rel.c2p)
	}
	if a.p2c {
		// Key j against each bucket's query embedding, picked at -(bucket of (j, i)) and
		// transposed so rows are queries again.
		p2c = inOwnScope(func(t []*torch.Tensor) *torch.Tensor {
			att := t[0].Bmm(t[1].Transpose(-1, -2)) // [B*heads, L, 2*span]
			return att.Gather(-1, t[2].Expand(n, l, l)).Transpose(-1, -2).DivScalar(scale)
		}, k, posQuery, rel.p2c)
	}
	switch {
	case c2p != nil && p2c != nil:
		return c2p.Add(p2c)
	case c2p != nil:
		return c2p
	default:
		return p2c
	}
}

// maskedSoftmax sets masked scores to the dtype's minimum before the softmax, as transformers
// 5 does: a fully masked row (a padded query) then gets uniform weights. With zeroRows it is
// transformers 4.x's XSoftmax as plain differentiable ops instead: masked probabilities are
// zeroed after the softmax, so fully masked rows come out as zeros rather than uniform. Its
// gradient is bitwise XSoftmax's hand-written one (_softmax_backward_data on the masked output):
// in a row with any unmasked score the masked probabilities are exactly 0 either way and so add
// exact zeros to the row sum, and masked positions and fully masked rows get zero gradient in
// both.
func maskedSoftmax(scores, rmask *torch.Tensor, zeroRows bool) *torch.Tensor {
	probs := scores.MaskedFill(rmask, minValue(scores.DType())).Softmax(-1)
	if zeroRows {
		probs = probs.MaskedFill(rmask, 0)
	}
	return probs
}

// debertaConv is ConvLayer (v2 checkpoints, conv_kernel_size > 0): a 1-D convolution over the
// first layer's input, added to that layer's output before a LayerNorm.
type debertaConv struct {
	weight, bias *torch.Tensor
	norm         *nn.LayerNorm
	act          Activation
	padding      int64
	groups       int64
	dropout      nn.Dropout
}

func newDebertaConv(p *nn.Params, cfg *Config) *debertaConv {
	// ParseConfig checked that the kernel is odd (so padding keeps the length) and that the
	// groups divide hidden_size.
	k, groups := cfg.DeBERTa.ConvKernelSize, cfg.DeBERTa.ConvGroups
	c := p.Sub("conv")
	return &debertaConv{
		weight:  c.New("weight", cfg.HiddenSize, cfg.HiddenSize/groups, k),
		bias:    c.New("bias", cfg.HiddenSize),
		norm:    nn.NewLayerNorm(p, "LayerNorm", cfg.HiddenSize, cfg.LayerNormEps),
		act:     cfg.DeBERTa.ConvAct,
		padding: (k - 1) / 2,
		groups:  groups,
		dropout: nn.Dropout{P: cfg.HiddenDropoutProb},
	}
}

// initDefault is nn.Conv1d's reset_parameters: weight and bias from U(-b, b) with
// b = 1/sqrt(fan_in) (kaiming_uniform with a = sqrt(5) reduces to that bound).
func (c *debertaConv) initDefault() {
	s := c.weight.Shape()
	bound := 1 / math.Sqrt(float64(s[1]*s[2]))
	torch.NoGrad(func() {
		c.weight.Uniform_(-bound, bound)
		c.bias.Uniform_(-bound, bound)
	})
}

// forward combines the first layer's input x and output residual ([B, L, H]); mask is [B, L].
func (c *debertaConv) forward(x, residual, mask *torch.Tensor, train bool) *torch.Tensor {
	out := torch.Conv1d(x.Permute(0, 2, 1).Contiguous(), c.weight, c.bias, 1, c.padding, c.groups) // [B, H, L]
	out = out.Permute(0, 2, 1).Contiguous()                                                        // [B, L, H]
	// The kernel reaches into padding; HF zeroes padded positions before the activation.
	padded := mask.RSubScalar(1).NeScalar(0).Unsqueeze(-1) // [B, L, 1]
	out = c.act.forward(c.dropout.Forward(out.MaskedFill(padded, 0), train))
	y := c.norm.Forward(residual.Add(out))
	return y.Mul(mask.Unsqueeze(2).ToDType(y.DType()))
}
