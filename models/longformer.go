package models

import (
	"fmt"
	"math"

	"github.com/spanqa/spanqa/torch"
	"github.com/spanqa/spanqa/torch/nn"
)

// Longformer is LongformerForQuestionAnswering: RoBERTa-style embeddings and feed-forward blocks
// around Longformer self-attention. Each token attends to a sliding window of
// attention_window/2 tokens on either side of it, plus to a few global tokens (in QA, the
// question), which in turn attend to every token. Memory and time grow linearly with the
// sequence length instead of quadratically, so inputs of thousands of tokens fit.
// Keys: longformer.embeddings.*, longformer.encoder.layer.N.*, qa_outputs.*.
type Longformer struct {
	cfg        *Config
	params     *nn.Params
	embeddings *longformerEmbeddings
	layers     []*longformerLayer
	head       *qaHead
	// multiple is the length inputs are padded to a multiple of before the encoder.
	multiple int64
}

func init() {
	register("longformer", func(c *Config, d torch.Device) QAModel { return NewLongformer(c, d) })
}

// NewLongformer builds the architecture with HF-initialised random weights.
func NewLongformer(cfg *Config, dev torch.Device) *Longformer {
	p := nn.NewParams(dev)
	m := &Longformer{cfg: cfg, params: p, multiple: paddingMultiple(cfg.AttentionWindow)}
	base := p.Sub("longformer")
	m.embeddings = newLongformerEmbeddings(base.Sub("embeddings"), cfg)
	for i, window := range cfg.AttentionWindow {
		m.layers = append(m.layers, newLongformerLayer(base.Sub(fmt.Sprintf("encoder.layer.%d", i)), cfg, window))
	}
	m.head = newQAHead(p, cfg.HiddenSize)
	initBertWeights(p, cfg, map[string]int64{
		"longformer.embeddings.word_embeddings.weight":     cfg.PadTokenID,
		"longformer.embeddings.position_embeddings.weight": cfg.PadTokenID,
	})
	return m
}

// paddingMultiple is the least common multiple of the per-layer windows. HF pads to a multiple
// of the largest window and only works when every window divides it, in which case the two
// agree; the LCM also covers the configurations HF rejects. Padding further never changes the
// outputs at real positions, because padding is masked out of every attention.
func paddingMultiple(windows []int64) int64 {
	gcd := func(a, b int64) int64 {
		for b != 0 {
			a, b = b, a%b
		}
		return a
	}
	m := int64(1)
	for _, w := range windows {
		m = m / gcd(m, w) * w
	}
	return m
}

// Forward implements QAModel. Without in.GlobalMask, global attention goes to every token
// before the first separator (<s> and the question), as HF's QA model does; that rule needs
// exactly three separators per row (<s> q </s></s> context </s>).
func (m *Longformer) Forward(in Inputs, train bool) Output {
	ids := in.IDs
	b, length := ids.Size(0), ids.Size(1)
	merged := m.mergedMask(in)

	// Pad to the window multiple here, once, rather than in every layer: padding tokens get
	// the pad id (so position id padding_idx), token type 0 and attention-mask value 0.
	padLen := (m.multiple - length%m.multiple) % m.multiple
	n := length + padLen
	if padLen > 0 {
		ids = ids.Pad([]int64{0, padLen}, float64(m.cfg.PadTokenID))
		padded := make([]int64, b*n)
		for r := int64(0); r < b; r++ {
			copy(padded[r*n:r*n+length], merged[r*length:(r+1)*length])
		}
		merged = padded
	}
	typeIDs := in.TypeIDs
	if typeIDs == nil {
		typeIDs = ids.ZerosLike()
	} else if padLen > 0 {
		typeIDs = typeIDs.Pad([]int64{0, padLen}, 0)
	}

	x := m.embeddings.forward(ids, typeIDs, robertaPositions(ids, m.cfg.PadTokenID), train)
	masks := newLongformerMasks(merged, b, n, m.cfg.HiddenSize, x.DType(), x.Device())
	defer masks.free()
	for _, l := range m.layers {
		x = inOwnScope(x, func(x *torch.Tensor) *torch.Tensor { return l.forward(x, masks, train) })
	}
	return m.head.forward(x.Narrow(1, 0, length), in)
}

// mergedMask returns HF's merged attention mask on the host, row-major [B, L]: 0 for padding, 1
// for local attention, 2 for global attention (attention_mask × (global + 1)).
func (m *Longformer) mergedMask(in Inputs) []int64 {
	b, length := in.IDs.Size(0), in.IDs.Size(1)
	shapeOK := func(name string, t *torch.Tensor) {
		if s := t.Shape(); len(s) != 2 || s[0] != b || s[1] != length {
			panic(&torch.Error{Op: "longformer", Msg: fmt.Sprintf("%s has shape %v, input ids [%d %d]", name, s, b, length)})
		}
	}
	var global []int64
	if in.GlobalMask != nil {
		shapeOK("global attention mask", in.GlobalMask)
		global = in.GlobalMask.Int64s()
	} else {
		global = questionGlobalMask(in.IDs.Int64s(), b, length, m.cfg.SepTokenID)
	}
	merged := make([]int64, b*length)
	var mask []int64
	if in.Mask != nil {
		shapeOK("attention mask", in.Mask)
		mask = in.Mask.Int64s()
	}
	for i := range merged {
		keep := int64(1)
		if mask != nil {
			keep = mask[i]
		}
		merged[i] = keep * (global[i] + 1)
	}
	return merged
}

// questionGlobalMask puts global attention on every token before a row's first separator, HF's
// rule for LongformerForQuestionAnswering. Like HF it insists on exactly three separators per
// row, since anything else means the input is not a question/context pair.
func questionGlobalMask(ids []int64, b, length, sep int64) []int64 {
	global := make([]int64, b*length)
	for r := int64(0); r < b; r++ {
		row := ids[r*length : (r+1)*length]
		first, count := int64(-1), 0
		for i, id := range row {
			if id == sep {
				if count == 0 {
					first = int64(i)
				}
				count++
			}
		}
		if count != 3 {
			panic(&torch.Error{Op: "longformer", Msg: fmt.Sprintf(
				"row %d has %d separator tokens (id %d), want exactly 3 for question answering; pass a global attention mask instead",
				r, count, sep)})
		}
		for i := int64(0); i < first; i++ {
			global[r*length+i] = 1
		}
	}
	return global
}

// inOwnScope runs fn on x in a scope of its own, so that the intermediates fn creates are
// released when it returns instead of when the caller's scope closes: a long input then needs
// one layer's activations at a time under NoGrad, not all of them. Autograd keeps its own
// references to what backward needs, so releasing our handles is safe in training too. Only
// fn's result survives, moved into x's scope. fn must derive its tensors from the x it is
// given (operations land in their first scoped operand's scope).
func inOwnScope(x *torch.Tensor, fn func(x *torch.Tensor) *torch.Tensor) *torch.Tensor {
	outer := x.Scope()
	var out *torch.Tensor
	torch.WithScope(func(s *torch.Scope) {
		out = s.Keep(fn(s.Adopt(x.View(x.Shape()...))))
	})
	return outer.Adopt(out)
}

// longformerEmbeddings are RoBERTa's embeddings with Longformer's parameter order (the position
// table comes after the LayerNorm) and summation order.
type longformerEmbeddings struct {
	word, tokenType, position *nn.Embedding
	norm                      *nn.LayerNorm
	dropout                   nn.Dropout
}

func newLongformerEmbeddings(p *nn.Params, cfg *Config) *longformerEmbeddings {
	e := &longformerEmbeddings{dropout: nn.Dropout{P: cfg.HiddenDropoutProb}}
	// Registration order is HF's named_parameters order, which trainers and optimizer state follow.
	e.word = nn.NewEmbedding(p, "word_embeddings", cfg.VocabSize, cfg.HiddenSize, cfg.PadTokenID)
	e.tokenType = nn.NewEmbedding(p, "token_type_embeddings", cfg.TypeVocabSize, cfg.HiddenSize, -1)
	e.norm = nn.NewLayerNorm(p, "LayerNorm", cfg.HiddenSize, cfg.LayerNormEps)
	e.position = nn.NewEmbedding(p, "position_embeddings", cfg.MaxPositionEmbeddings, cfg.HiddenSize, cfg.PadTokenID)
	return e
}

func (e *longformerEmbeddings) forward(ids, typeIDs, positions *torch.Tensor, train bool) *torch.Tensor {
	// HF adds word + position + token type in this order (RoBERTa adds the token type second);
	// float addition is not associative, so the order is kept.
	x := e.word.Forward(ids).Add(e.position.Forward(positions)).Add(e.tokenType.Forward(typeIDs))
	return e.dropout.Forward(e.norm.Forward(x), train)
}

// longformerLayer is one encoder layer: Longformer self-attention, then BERT's output blocks.
type longformerLayer struct {
	attention *longformerSelfAttention
	attnOut   *addNorm
	ffn       *feedForward
}

func newLongformerLayer(p *nn.Params, cfg *Config, window int64) *longformerLayer {
	att := p.Sub("attention")
	return &longformerLayer{
		attention: newLongformerSelfAttention(att.Sub("self"), cfg, window),
		attnOut:   newAddNorm(att.Sub("output"), cfg.HiddenSize, cfg.HiddenSize, cfg.LayerNormEps, cfg.HiddenDropoutProb),
		ffn:       newFeedForward(p, cfg),
	}
}

func (l *longformerLayer) forward(x *torch.Tensor, m *longformerMasks, train bool) *torch.Tensor {
	a := l.attnOut.forward(l.attention.forward(x, m, train), x, train)
	return l.ffn.forward(a, train)
}

// longformerSelfAttention is sliding-window attention for every token plus full attention for
// the global ones, which have projections of their own.
type longformerSelfAttention struct {
	query, key, value                   *nn.Linear
	queryGlobal, keyGlobal, valueGlobal *nn.Linear
	heads                               int64
	// window is one-sided: a token sees window tokens before it and window after it.
	window  int64
	dropout nn.Dropout
}

func newLongformerSelfAttention(p *nn.Params, cfg *Config, attentionWindow int64) *longformerSelfAttention {
	h := cfg.HiddenSize
	return &longformerSelfAttention{
		query:       nn.NewLinear(p, "query", h, h, true),
		key:         nn.NewLinear(p, "key", h, h, true),
		value:       nn.NewLinear(p, "value", h, h, true),
		queryGlobal: nn.NewLinear(p, "query_global", h, h, true),
		keyGlobal:   nn.NewLinear(p, "key_global", h, h, true),
		valueGlobal: nn.NewLinear(p, "value_global", h, h, true),
		heads:       cfg.NumAttentionHeads,
		window:      attentionWindow / 2,
		dropout:     nn.Dropout{P: cfg.AttentionProbsDropoutProb},
	}
}

// forward attends x [B, n, H] (n a multiple of the window) and returns [B, n, H].
//
// Every row's scores are its 2w+1 window keys (padding and global keys excluded: those are
// either absent or come next) followed, when the batch has global tokens, by the G global keys
// scored with the ordinary key projection; one softmax covers both. The rows of global tokens
// are then replaced by their own full attention (see globalRows).
func (a *longformerSelfAttention) forward(x *torch.Tensor, m *longformerMasks, train bool) *torch.Tensor {
	b, n, hidden := x.Size(0), x.Size(1), x.Size(2)
	d, w := hidden/a.heads, a.window
	// HF scales the projected queries, not the scores; the rounding differs slightly.
	scale := math.Sqrt(float64(d))
	keys := a.key.Forward(x)
	values := a.value.Forward(x)
	q := splitHeads(a.query.Forward(x).DivScalar(scale), a.heads) // [B, heads, n, d]
	k, v := splitHeads(keys, a.heads), splitHeads(values, a.heads)

	bh := b * a.heads
	scores := bandedScores(q.Reshape(bh, n, d), k.Reshape(bh, n, d), w).View(b, a.heads, n, 2*w+1).Add(m.windowBias(w))
	g := m.numGlobal
	var globalValues *torch.Tensor
	if g > 0 {
		globalKeys := splitHeads(keys.Gather(1, m.slotRows), a.heads) // [B, heads, G, d]
		globalValues = splitHeads(values.Gather(1, m.slotRows), a.heads)
		fromGlobal := q.Matmul(globalKeys.Transpose(-1, -2)).MaskedFill(m.unusedSlotCols, minValue(x.DType()))
		scores = torch.Cat([]*torch.Tensor{fromGlobal, scores}, -1)
	}
	// Padding rows get all-zero probabilities, as in HF (their softmax is over masked keys).
	probs := a.dropout.Forward(scores.Softmax(-1).MaskedFill(m.paddingRows, 0), train)

	local := probs
	if g > 0 {
		local = probs.Narrow(-1, g, 2*w+1)
	}
	out := bandedApply(local.Reshape(bh, n, 2*w+1), v.Reshape(bh, n, d), w).View(b, a.heads, n, d)
	if g > 0 {
		out = probs.Narrow(-1, 0, g).Matmul(globalValues).Add(out)
	}
	out = mergeHeads(out)
	if g > 0 {
		out = torch.Where(m.globalRows, a.globalRows(x, m, train), out)
	}
	return out
}

// globalRows computes the attention of the global tokens over the whole sequence (padding
// excluded) with the global projections, and returns it at the tokens' positions: [B, n, H],
// where rows of non-global tokens hold a copy of some global row that the caller discards.
func (a *longformerSelfAttention) globalRows(x *torch.Tensor, m *longformerMasks, train bool) *torch.Tensor {
	d := x.Size(2) / a.heads
	minVal := minValue(x.DType())
	q := splitHeads(a.queryGlobal.Forward(x.Gather(1, m.slotRows)).DivScalar(math.Sqrt(float64(d))), a.heads) // [B, heads, G, d]
	k := splitHeads(a.keyGlobal.Forward(x), a.heads)
	v := splitHeads(a.valueGlobal.Forward(x), a.heads)
	scores := q.Matmul(k.Transpose(-1, -2)).MaskedFill(m.unusedSlotRows, minVal).MaskedFill(m.paddingKeys, minVal)
	probs := a.dropout.Forward(scores.Softmax(-1), train)
	return mergeHeads(probs.Matmul(v)).Gather(1, m.positionRows)
}

// bandedScores scores queries against keys, both [N, n, d] with n a multiple of w, within the
// sliding window: the result is [N, n, 2w+1], column j of row i holding q_i·k_(i-w+j) (keys
// beyond either end score 0 and are masked by the caller). It never forms the n×n matrix:
// queries go in blocks of w, each multiplied by the 3w keys that cover the windows of all its
// queries, so memory is O(n·w).
func bandedScores(q, k *torch.Tensor, w int64) *torch.Tensor {
	nq, n, d := q.Size(0), q.Size(1), q.Size(2)
	blocks := n / w
	// With w zero keys added at both ends, block c's keys start at c·w: [N, blocks, d, 3w].
	keyBlocks := k.Pad([]int64{0, 0, w, w}, 0).Unfold(1, 3*w, w)
	s := q.View(nq, blocks, w, d).Matmul(keyBlocks) // [N, blocks, w, 3w]
	// Query r of a block needs columns r..r+2w of its row. Reading the block flat, that band
	// starts at r·3w + r: windows of 2w+1 numbers every 3w+1.
	return s.View(nq, blocks, 3*w*w).Unfold(2, 2*w+1, 3*w+1).Reshape(nq, n, 2*w+1)
}

// bandedApply is bandedScores' counterpart: for probabilities [N, n, 2w+1] in that layout and
// values [N, n, d] it returns Σ_j p[i, j]·v[i-w+j], [N, n, d], in O(n·w) memory.
func bandedApply(p, v *torch.Tensor, w int64) *torch.Tensor {
	nv, n, d := v.Size(0), v.Size(1), v.Size(2)
	blocks := n / w
	// Spread each block's band back over its 3w keys: padding every row with w zeros and then
	// reading the block's numbers as rows of 3w shifts row r right by r, which puts p[r, j] in
	// column r+j and zeros everywhere else ([N, blocks, w, 3w]).
	spread := p.Reshape(nv, blocks, w, 2*w+1).Pad([]int64{0, w}, 0).
		View(nv, blocks, w*(3*w+1)).Narrow(2, 0, 3*w*w).View(nv, blocks, w, 3*w)
	valueBlocks := v.Pad([]int64{0, 0, w, w}, 0).Unfold(1, 3*w, w).Transpose(2, 3) // [N, blocks, 3w, d]
	return spread.Matmul(valueBlocks).View(nv, n, d)
}

// longformerMasks describes one padded batch for the attention layers: which tokens are padding,
// which are global, and where each row's global tokens sit. It is built once per forward on the
// host (HF also synchronises here, for nonzero()) and shared by all layers. Its tensors are
// loose, so that operations mixing them with a layer's tensors land in the layer's scope; free
// releases them.
type longformerMasks struct {
	batch, length int64
	dtype         torch.DType
	device        torch.Device
	// paddingRows [B,1,n,1] and paddingKeys [B,1,1,n] (bool) mark padding as query and as key.
	paddingRows, paddingKeys *torch.Tensor
	// skip [B, n] is the dtype's minimum for keys that leave the sliding window (padding, and
	// global tokens, which every row scores separately), 0 elsewhere.
	skip *torch.Tensor
	// numGlobal (G) is the largest number of global tokens in a row; 0 turns global attention off.
	numGlobal int64
	// slotRows [B, G, H] gathers each row's global tokens in order (unused slots read position 0).
	slotRows *torch.Tensor
	// unusedSlotCols [B,1,1,G] and unusedSlotRows [B,1,G,1] mark slots beyond a row's count.
	unusedSlotCols, unusedSlotRows *torch.Tensor
	// positionRows [B, n, H] gathers each global token's slot back to its position; globalRows
	// [B, n, 1] marks those positions.
	positionRows, globalRows *torch.Tensor
	// bias caches windowBias per one-sided window.
	bias  map[int64]*torch.Tensor
	owned []*torch.Tensor
}

// newLongformerMasks builds the masks from the merged mask values (row-major [B, n]; 0 padding,
// 1 local, 2 global).
func newLongformerMasks(merged []int64, b, n, hidden int64, dt torch.DType, dev torch.Device) *longformerMasks {
	m := &longformerMasks{batch: b, length: n, dtype: dt, device: dev, bias: map[int64]*torch.Tensor{}}
	padding := make([]bool, b*n)
	removed := make([]bool, b*n)
	isGlobal := make([]bool, b*n)
	slots := make([][]int64, b)
	for r := int64(0); r < b; r++ {
		for i := int64(0); i < n; i++ {
			v := merged[r*n+i]
			// HF turns the merged mask into (1 - v)·min and tests its sign: below 1 is padding,
			// above 1 global.
			padding[r*n+i] = v < 1
			isGlobal[r*n+i] = v > 1
			removed[r*n+i] = v != 1
			if v > 1 {
				slots[r] = append(slots[r], i)
			}
		}
		m.numGlobal = max(m.numGlobal, int64(len(slots[r])))
	}
	pad := upload(m, padding, b, n)
	m.paddingRows = m.own(pad.View(b, 1, n, 1))
	m.paddingKeys = m.own(pad.View(b, 1, 1, n))
	m.skip = m.own(m.own(torch.Zeros(nil, dt, dev, b, n)).MaskedFill(upload(m, removed, b, n), minValue(dt)))
	if m.numGlobal == 0 {
		return m
	}
	g := m.numGlobal
	slotPos := make([]int64, b*g)
	unused := make([]bool, b*g)
	positionSlot := make([]int64, b*n)
	for r := int64(0); r < b; r++ {
		for s := int64(0); s < g; s++ {
			if s < int64(len(slots[r])) {
				slotPos[r*g+s] = slots[r][s]
				positionSlot[r*n+slots[r][s]] = s
			} else {
				unused[r*g+s] = true
			}
		}
	}
	m.slotRows = m.own(m.own(upload(m, slotPos, b, g, 1)).Expand(b, g, hidden))
	m.positionRows = m.own(m.own(upload(m, positionSlot, b, n, 1)).Expand(b, n, hidden))
	un := upload(m, unused, b, g)
	m.unusedSlotCols = m.own(un.View(b, 1, 1, g))
	m.unusedSlotRows = m.own(un.View(b, 1, g, 1))
	m.globalRows = upload(m, isGlobal, b, n, 1)
	return m
}

// upload copies host values to a loose tensor on the masks' device that the masks own.
func upload[E torch.Element](m *longformerMasks, v []E, shape ...int64) *torch.Tensor {
	cpu := m.own(torch.FromSlice(nil, v, shape...))
	return m.own(cpu.ToDevice(m.device))
}

func (m *longformerMasks) own(t *torch.Tensor) *torch.Tensor {
	m.owned = append(m.owned, t)
	return t
}

// windowBias is what the sliding-window scores [B, heads, n, 2w+1] get added: -inf for window
// slots beyond either end of the sequence (HF's _mask_invalid_locations), the dtype's minimum
// for skipped keys and 0 elsewhere. It is a strided view of skip, [B, 1, n, 2w+1].
func (m *longformerMasks) windowBias(w int64) *torch.Tensor {
	if t, ok := m.bias[w]; ok {
		return t
	}
	t := m.own(m.own(m.own(m.skip.Pad([]int64{w, w}, math.Inf(-1))).Unfold(1, 2*w+1, 1)).Unsqueeze(1))
	m.bias[w] = t
	return t
}

func (m *longformerMasks) free() {
	for _, t := range m.owned {
		t.Free()
	}
	m.owned = nil
}

// Params implements QAModel.
func (m *Longformer) Params() *nn.Params { return m.params }

// Config implements QAModel.
func (m *Longformer) Config() *Config { return m.cfg }
