package models

import (
	"fmt"
	"math"
	"runtime"

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
	modelBase
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
	m := &Longformer{modelBase: newModelBase(cfg, dev), multiple: paddingMultiple(cfg.Longformer.AttentionWindow)}
	p := m.params
	base := p.Sub("longformer")
	m.embeddings = newLongformerEmbeddings(base.Sub("embeddings"), cfg)
	for i, window := range cfg.Longformer.AttentionWindow {
		m.layers = append(m.layers, newLongformerLayer(base.Sub(fmt.Sprintf("encoder.layer.%d", i)), cfg, window))
	}
	m.head = newQAHead(p, cfg.HiddenSize)
	initHFWeights(p, cfg.InitializerRange, map[string]int64{
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
	// libtorch numbers autograd nodes with a per-OS-thread counter, and backward orders its work
	// (so the order in which a tensor's gradients are summed) by those numbers. Several
	// gradients meet at each layer's input here, so a goroutine moving between threads
	// mid-forward would change the last bits of some gradients from run to run.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ids := in.IDs
	b, length := ids.Size(0), ids.Size(1)
	merged := m.mergedMask(in) // host [B, L]

	// Pad to the window multiple here, once, rather than in every layer: padding tokens get
	// the pad id (so position id padding_idx), token type 0 and attention-mask value 0.
	padLen := (m.multiple - length%m.multiple) % m.multiple
	n := length + padLen
	if padLen > 0 {
		ids = ids.Pad([]int64{0, padLen}, float64(m.cfg.PadTokenID)) // [B, n]
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

	x := m.embeddings.forward(ids, typeIDs, robertaPositions(ids, m.cfg.PadTokenID), train) // [B, n, H]
	masks := newLongformerMasks(merged, b, n, m.cfg.HiddenSize, m.cfg.NumAttentionHeads, x.DType(), x.Device())
	if m.recomputes(train) {
		// Backward reruns the layers, masks and all: they live as long as the pass's tensors,
		// but stay loose, so that what a layer computes from them still lands in its own scope.
		x.Scope().OnClose(masks.free)
	} else {
		defer masks.free()
	}
	run := m.runner(train)
	for _, l := range m.layers {
		x = run(func(x []*torch.Tensor) *torch.Tensor { return l.forward(x[0], masks, train) }, x)
	}
	return m.head.forward(x.Narrow(1, 0, length), in) // the unpadded [B, L, H]
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

// longformerLayer is one encoder layer: Longformer self-attention, then the shared output blocks.
type longformerLayer struct {
	attention *longformerSelfAttention
	output    layerOutput
}

func newLongformerLayer(p *nn.Params, cfg *Config, window int64) *longformerLayer {
	return &longformerLayer{attention: newLongformerSelfAttention(p.Sub("attention.self"), cfg, window), output: newLayerOutput(p, cfg)}
}

func (l *longformerLayer) forward(x *torch.Tensor, m *longformerMasks, train bool) *torch.Tensor {
	return l.output.forward(x, func(x *torch.Tensor) *torch.Tensor { return l.attention.forward(x, m, train) }, train)
}

// longformerSelfAttention is sliding-window attention for every token plus full attention for
// the global ones, which have projections of their own.
//
// Numerics: besides computing what HF computes, it keeps HF's tensor layouts (projections of the
// sequence-first [n, B, H] view, scores as [B, n, heads, k]), its chunk shapes and its order of
// operations. libtorch picks kernels (and so rounding) by shape and layout, and autograd sums a
// tensor's gradients in the order of its uses, so that is what makes the results agree with HF
// bit for bit rather than to ~1e-6. Gradients that are zero in exact arithmetic (the key biases:
// softmax ignores a per-row constant) are pure rounding noise and only match that way.
type longformerSelfAttention struct {
	qkv
	queryGlobal, keyGlobal, valueGlobal *nn.Linear
	heads                               int64
	// window is one-sided: a token sees window tokens before it and window after it.
	window  int64
	dropout nn.Dropout
}

func newLongformerSelfAttention(p *nn.Params, cfg *Config, attentionWindow int64) *longformerSelfAttention {
	h := cfg.HiddenSize
	return &longformerSelfAttention{
		qkv:         newQKV(p, h, ""),
		queryGlobal: nn.NewLinear(p, "query_global", h, h, true),
		keyGlobal:   nn.NewLinear(p, "key_global", h, h, true),
		valueGlobal: nn.NewLinear(p, "value_global", h, h, true),
		heads:       cfg.NumAttentionHeads,
		window:      attentionWindow / 2,
		dropout:     nn.Dropout{P: cfg.AttentionProbsDropoutProb},
	}
}

// forward attends x [B, n, H] (n a multiple of 2·window) and returns [B, n, H].
//
// Each row scores the G global keys of its batch row (with the ordinary key projection) followed
// by its 2w+1 window keys, from which padding and global keys are masked out (those are absent,
// or already counted among the G); one softmax covers both. The rows of global tokens are then
// replaced by their own attention over the whole sequence (see globalAttention).
func (a *longformerSelfAttention) forward(x *torch.Tensor, m *longformerMasks, train bool) *torch.Tensor {
	b, n, hidden := x.Size(0), x.Size(1), x.Size(2)
	h, w := a.heads, a.window
	d := hidden / h
	seq := x.Transpose(0, 1)  // [n, B, H]
	q := a.query.Forward(seq) // [n, B, H]
	k := a.key.Forward(seq)
	v := a.value.Forward(seq)
	// HF scales the projected queries, not the scores; the rounding differs.
	q = q.DivScalar(math.Sqrt(float64(d)))
	q4 := q.View(n, b, h, d).Transpose(0, 1) // [B, n, heads, d]
	k4 := k.View(n, b, h, d).Transpose(0, 1)

	g := m.numGlobal
	// Scores to probabilities, then probabilities to outputs, each stage in a scope of its own
	// (every use of its inputs inside it): the [B, n, heads, 2w+1] tensors of a stage go when it
	// ends, so under NoGrad a layer holds a few of them at a time.
	probs := inOwnScope(func(t []*torch.Tensor) *torch.Tensor {
		// The window scores go once the global keys' scores are joined to them.
		scores := inOwnScope(func(t []*torch.Tensor) *torch.Tensor { // [B, n, heads, (G+)2w+1]
			q4, k4 := t[0], t[1]
			local := inOwnScope(func(qk []*torch.Tensor) *torch.Tensor {
				s := slidingScores(qk[0], qk[1], w)      // [B, n, heads, 2w+1]
				return s.Add(m.windowBias(w, s.DType())) // in the scores' dtype, as HF adds it in place
			}, q4, k4)
			if g == 0 {
				return local
			}
			globalKeys := k4.Gather(1, m.slotHeads) // [B, G, heads, d]
			fromGlobal := q4.Permute(0, 2, 1, 3).Matmul(globalKeys.Permute(0, 2, 3, 1)).Permute(0, 2, 1, 3)
			// The scores' own dtype, not the hidden states': under autocast the product is
			// bf16/fp16, and float32's lowest value does not fit it (HF uses
			// finfo(attn_scores.dtype).min too).
			fromGlobal = fromGlobal.MaskedFill(m.unusedSlotKeys, minValue(fromGlobal.DType()))
			return torch.Cat([]*torch.Tensor{fromGlobal, local}, -1)
		}, t...)
		// Padding rows get all-zero probabilities, as in HF (their softmax is over masked keys).
		// As HF, the softmax is float32 and the probabilities go back to the scores' dtype (both
		// no-ops in float32; under autocast the scores are bfloat16).
		probs := scores.SoftmaxAs(-1, torch.Float32).MaskedFill(m.paddingRows, 0).ToDType(scores.DType())
		return a.dropout.Forward(probs, train)
	}, q4, k4)

	v4 := v.View(n, b, h, d).Transpose(0, 1)
	out := inOwnScope(func(t []*torch.Tensor) *torch.Tensor { // [B, n, heads, d]
		probs, v4 := t[0], t[1]
		if g == 0 {
			return inOwnScope(func(pv []*torch.Tensor) *torch.Tensor { return slidingApply(pv[0], pv[1], w) }, probs, v4)
		}
		globalValues := v4.Gather(1, m.slotHeads)
		// The clones mirror HF's, which fix the layouts matmul sees.
		fromGlobal := probs.Narrow(-1, 0, g).Transpose(1, 2).Clone().
			Matmul(globalValues.Transpose(1, 2).Clone()).Transpose(1, 2)
		local := probs.Narrow(-1, g, 2*w+1) // slidingApply's reshape makes the one copy HF's contiguous() makes
		return fromGlobal.Add(inOwnScope(func(pv []*torch.Tensor) *torch.Tensor { return slidingApply(pv[0], pv[1], w) }, local, v4))
	}, probs, v4)
	out = out.Transpose(0, 1).Reshape(n, b, hidden).Contiguous() // [n, B, H]
	if g > 0 {
		out = torch.Where(m.globalSeqRows, a.globalAttention(seq, m, train), out)
	}
	return out.Transpose(0, 1) // [B, n, H]
}

// globalAttention computes the attention of the global tokens over the whole sequence (padding
// excluded) with the global projections. It takes and returns the sequence-first layout
// [n, B, H]; rows of non-global tokens hold a copy of some global row, which the caller discards.
func (a *longformerSelfAttention) globalAttention(seq *torch.Tensor, m *longformerMasks, train bool) *torch.Tensor {
	n, b, hidden := seq.Size(0), seq.Size(1), seq.Size(2)
	h, g := a.heads, m.numGlobal
	d := hidden / h
	q := a.queryGlobal.Forward(seq.Gather(0, m.slotSeqRows)) // [G, B, H]
	k := a.keyGlobal.Forward(seq)
	v := a.valueGlobal.Forward(seq)
	q = q.DivScalar(math.Sqrt(float64(d)))
	// [B·heads, G or n, d], as strided views of the sequence-first projections.
	q = q.View(g, b*h, d).Transpose(0, 1)
	k = k.View(n, b*h, d).Transpose(0, 1)
	v = v.View(n, b*h, d).Transpose(0, 1)

	scores := q.Bmm(k.Transpose(1, 2)).View(b, h, g, n) // [B, heads, G, n]
	minVal := minValue(scores.DType())                  // bf16/fp16 under autocast: see above
	scores = scores.MaskedFill(m.unusedSlotRows, minVal).MaskedFill(m.paddingKeys, minVal).View(b*h, g, n)
	probs := a.dropout.Forward(scores.SoftmaxAs(-1, torch.Float32).ToDType(scores.DType()), train) // as HF: see forward
	out := probs.Bmm(v).View(b, h, g, d).Permute(2, 0, 1, 3).Reshape(g, b, hidden)                 // [G, B, H]
	return out.Gather(0, m.positionSeqRows)                                                        // [n, B, H]
}

// slidingScores scores queries against keys, both [B, n, heads, d] with n a multiple of 2w,
// within the sliding window: the result is [B, n, heads, 2w+1], column j of row i holding
// q_i·k_(i-w+j) (columns beyond either end of the sequence hold garbage for the caller to mask).
// It never forms the n×n matrix: scores are computed in chunks of 2w positions that overlap by w
// (HF's chunk shape), and every window lies within two neighbouring chunks, so memory is O(n·w).
// Its intermediates (the chunk scores are the largest tensor of a layer) go when it returns.
func slidingScores(q, k *torch.Tensor, w int64) *torch.Tensor {
	b, n, h, d := q.Size(0), q.Size(1), q.Size(2), q.Size(3)
	chunks := n/w - 1
	band := inOwnScope(func(t []*torch.Tensor) *torch.Tensor { // [B·heads, n/w, w, 2w+1]
		qf := t[0].Transpose(1, 2).Reshape(b*h, n, d) // [B·heads, n, d]
		kf := t[1].Transpose(1, 2).Reshape(b*h, n, d)
		// Chunk c covers positions c·w .. c·w+2w-1: [B·heads, chunks, 2w, 2w].
		s := qf.Unfold(1, 2*w, w).Transpose(2, 3).Matmul(kf.Unfold(1, 2*w, w))
		// Block c of w queries takes its keys before it (j < w) from chunk c-1, where the block
		// is the second half, and the rest from chunk c, where it is the first half; the first
		// and last blocks use chunk 0 and the last chunk for both halves, padded where the
		// window runs off the sequence.
		before := torch.Cat([]*torch.Tensor{
			diagonalWindows(s.Select(1, 0).Narrow(1, 0, w).Pad([]int64{w, 0}, 0), w, 0, w).Unsqueeze(1),
			diagonalWindows(s, w, 2*w*w, w),
		}, 1)
		after := torch.Cat([]*torch.Tensor{
			diagonalWindows(s, w, 0, w+1),
			diagonalWindows(s.Select(1, chunks-1).Narrow(1, w, w).Pad([]int64{0, w}, 0), w, w, w+1).Unsqueeze(1),
		}, 1)
		return torch.Cat([]*torch.Tensor{before, after}, -1)
	}, q, k)
	return band.View(b, h, n, 2*w+1).Transpose(1, 2)
}

// diagonalWindows reads, from contiguous matrices t [..., R, K], width consecutive elements of
// each of the first rows rows starting at column r for row r, after skipping start elements:
// out[..., r, j] = flat(t)[start + r·(K+1) + j], [..., rows, width], as a strided view. In a
// chunk of scores, row r's window then starts r columns further right, as it should.
func diagonalWindows(t *torch.Tensor, rows, start, width int64) *torch.Tensor {
	r, k := t.Size(-2), t.Size(-1)
	flat := t.Flatten(int64(t.Dim()-2), -1)
	return flat.Narrow(-1, start, r*k-start).Unfold(-1, width, k+1).Narrow(-2, 0, rows)
}

// slidingApply is slidingScores' counterpart: for probabilities [B, n, heads, 2w+1] in its layout
// and values [B, n, heads, d] it returns Σ_j p[i, j]·v[i-w+j], [B, n, heads, d], in O(n·w)
// memory.
func slidingApply(p, v *torch.Tensor, w int64) *torch.Tensor {
	b, n, h, d := v.Size(0), v.Size(1), v.Size(2), v.Size(3)
	blocks := n / w
	pb := p.Transpose(1, 2).Reshape(b*h, blocks, w, 2*w+1) // [B·heads, blocks, w, 2w+1]
	vf := v.Transpose(1, 2).Reshape(b*h, n, d)             // [B·heads, n, d]
	// Spread each block's window rows over the 3w keys that cover them: padding every row with w
	// zeros and then reading the block's numbers as rows of 3w shifts row r right by r, which
	// puts p[r, j] in column r+j and zeros elsewhere ([B·heads, blocks, w, 3w]).
	spread := pb.Pad([]int64{0, w}, 0).View(b*h, blocks, w*(3*w+1)).Narrow(2, 0, 3*w*w).View(b*h, blocks, w, 3*w)
	// With w zero values added at both ends, block c's keys start at c·w: [B·heads, blocks, 3w, d].
	valueBlocks := vf.Pad([]int64{0, 0, w, w}, 0).Unfold(1, 3*w, w).Transpose(2, 3)
	return spread.Matmul(valueBlocks).View(b, h, n, d).Transpose(1, 2)
}

// longformerMasks describes one padded batch for the attention layers: which tokens are padding,
// which are global, and where each row's global tokens sit, each in the shape its use needs. It
// is built once per forward on the host (HF also synchronises here, for nonzero()) and shared by
// all layers. Its tensors are loose (in no scope), so that operations mixing them with a layer's
// tensors land in the layer's scope; free releases them.
type longformerMasks struct {
	// paddingRows [B, n, 1, 1] and paddingKeys [B, 1, 1, n] (bool) mark padding as query (local
	// attention rows) and as key (global attention columns).
	paddingRows, paddingKeys *torch.Tensor
	// skip [B, n] is the dtype's minimum for keys that leave the sliding window (padding, and
	// global tokens, which every row scores separately), 0 elsewhere.
	skip *torch.Tensor
	// numGlobal (G) is the largest number of global tokens in a row; 0 turns global attention off.
	numGlobal int64
	// slotHeads [B, G, heads, d] and slotSeqRows [G, B, H] gather each row's global tokens in
	// order, from [B, n, heads, d] and [n, B, H] (slots beyond a row's count read position 0).
	slotHeads, slotSeqRows *torch.Tensor
	// unusedSlotKeys [B, 1, 1, G] and unusedSlotRows [B, 1, G, 1] (bool) mark those extra slots.
	unusedSlotKeys, unusedSlotRows *torch.Tensor
	// positionSeqRows [n, B, H] gathers each global token's slot back to its position, and
	// globalSeqRows [n, B, 1] (bool) marks those positions.
	positionSeqRows, globalSeqRows *torch.Tensor
	// bias caches windowBias per one-sided window.
	bias  map[biasKey]*torch.Tensor
	owned []*torch.Tensor
}

// newLongformerMasks builds the masks from the merged mask values (row-major [B, n]; 0 padding,
// 1 local, 2 global) for a model with the given hidden size and heads.
func newLongformerMasks(merged []int64, b, n, hidden, heads int64, dt torch.DType, dev torch.Device) *longformerMasks {
	m := &longformerMasks{bias: map[biasKey]*torch.Tensor{}}
	padding := make([]bool, b*n)
	removed := make([]bool, b*n)
	slots := make([][]int64, b)
	for r := int64(0); r < b; r++ {
		for i := int64(0); i < n; i++ {
			v := merged[r*n+i]
			// HF turns the merged mask into (1 - v)·min and tests its sign: below 1 is padding,
			// above 1 global.
			padding[r*n+i] = v < 1
			removed[r*n+i] = v != 1
			if v > 1 {
				slots[r] = append(slots[r], i)
			}
		}
		m.numGlobal = max(m.numGlobal, int64(len(slots[r])))
	}
	// Build in a scratch scope and keep only the finished masks, so no intermediate leaks.
	torch.WithScope(func(s *torch.Scope) {
		pad := upload(s, dev, padding, b, n)
		m.paddingRows = m.keep(s, pad.View(b, n, 1, 1))
		m.paddingKeys = m.keep(s, pad.View(b, 1, 1, n))
		m.skip = m.keep(s, torch.Zeros(s, dt, dev, b, n).MaskedFill(upload(s, dev, removed, b, n), minValue(dt)))
		if m.numGlobal == 0 {
			return
		}
		g := m.numGlobal
		// Sequence-first (slot-major, position-major) host tables for the gathers.
		slotPos := make([]int64, g*b)
		unused := make([]bool, b*g)
		positionSlot := make([]int64, n*b)
		isGlobal := make([]bool, n*b)
		for r := int64(0); r < b; r++ {
			for s := int64(0); s < g; s++ {
				if s >= int64(len(slots[r])) {
					unused[r*g+s] = true
					continue
				}
				pos := slots[r][s]
				slotPos[s*b+r] = pos
				positionSlot[pos*b+r] = s
				isGlobal[pos*b+r] = true
			}
		}
		slotSeq := upload(s, dev, slotPos, g, b, 1)
		m.slotSeqRows = m.keep(s, slotSeq.Expand(g, b, hidden))
		m.slotHeads = m.keep(s, slotSeq.Permute(1, 0, 2).Unsqueeze(3).Expand(b, g, heads, hidden/heads))
		un := upload(s, dev, unused, b, g)
		m.unusedSlotKeys = m.keep(s, un.View(b, 1, 1, g))
		m.unusedSlotRows = m.keep(s, un.View(b, 1, g, 1))
		m.positionSeqRows = m.keep(s, upload(s, dev, positionSlot, n, b, 1).Expand(n, b, hidden))
		m.globalSeqRows = m.keep(s, upload(s, dev, isGlobal, n, b, 1))
	})
	return m
}

// upload copies host values to a tensor on dev, in scope s.
func upload[E torch.Element](s *torch.Scope, dev torch.Device, v []E, shape ...int64) *torch.Tensor {
	return torch.FromSlice(s, v, shape...).ToDevice(dev)
}

// keep takes t out of the build scope s; the masks free it.
func (m *longformerMasks) keep(s *torch.Scope, t *torch.Tensor) *torch.Tensor {
	m.owned = append(m.owned, s.Keep(t))
	return t
}

// biasKey names a cached window bias: one-sided window and dtype.
type biasKey struct {
	w  int64
	dt torch.DType
}

// windowBias is what the sliding-window scores [B, n, heads, 2w+1] of dtype dt get added: -inf
// for window slots beyond either end of the sequence (HF's _mask_invalid_locations), dt's
// minimum for skipped keys (HF builds its mask in the queries' dtype) and 0 elsewhere. It is a
// strided view of skip, [B, n, 1, 2w+1].
func (m *longformerMasks) windowBias(w int64, dt torch.DType) *torch.Tensor {
	key := biasKey{w, dt}
	if t, ok := m.bias[key]; ok {
		return t
	}
	torch.WithScope(func(s *torch.Scope) {
		skip := s.Adopt(m.skip.View(m.skip.Shape()...))
		if skip.DType() != dt {
			skip = skip.LtScalar(0).ToDType(dt).MulScalar(minValue(dt))
		}
		m.bias[key] = m.keep(s, skip.Pad([]int64{w, w}, math.Inf(-1)).Unfold(1, 2*w+1, 1).Unsqueeze(2))
	})
	return m.bias[key]
}

func (m *longformerMasks) free() {
	for _, t := range m.owned {
		t.Free()
	}
	m.owned = nil
}
