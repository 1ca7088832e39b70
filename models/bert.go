package models

import (
	"github.com/spanqa/spanqa/torch"
	"github.com/spanqa/spanqa/torch/nn"
)

// Bert is BertForQuestionAnswering: embeddings (word + absolute position + token type),
// the BERT encoder and the span head. Keys: bert.embeddings.*, bert.encoder.*, qa_outputs.*.
type Bert struct {
	cfg        *Config
	params     *nn.Params
	embeddings *bertEmbeddings
	encoder    *bertEncoder
	head       *qaHead
}

func init() {
	register("bert", func(c *Config, d torch.Device) QAModel { return NewBert(c, d) })
}

// bertEmbeddings are BERT's (and RoBERTa's) input embeddings.
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
		absolute:  !cfg.relativePositions(),
	}
}

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

// NewBert builds the architecture with HF-initialised random weights.
func NewBert(cfg *Config, dev torch.Device) *Bert {
	p := nn.NewParams(dev)
	m := &Bert{cfg: cfg, params: p}
	m.embeddings = newBertEmbeddings(p.Sub("bert.embeddings"), cfg, -1)
	m.encoder = newBertEncoder(p.Sub("bert"), cfg)
	m.head = newQAHead(p, cfg.HiddenSize)
	initBertWeights(p, cfg, map[string]int64{"bert.embeddings.word_embeddings.weight": cfg.PadTokenID})
	return m
}

// Forward implements QAModel.
func (m *Bert) Forward(in Inputs, train bool) Output {
	length := in.IDs.Size(1)
	positions := torch.Arange(in.IDs.Scope(), 0, float64(length), 1, torch.Int64, in.IDs.Device()).Unsqueeze(0)
	mask := in.Mask
	if mask == nil {
		mask = in.IDs.OnesLike()
	}
	x := m.embeddings.forward(in.IDs, in.TypeIDs, positions, train)
	x = m.encoder.forward(x, additiveMask(mask, x.DType()), train)
	return m.head.forward(x, in)
}

// Params implements QAModel.
func (m *Bert) Params() *nn.Params { return m.params }

// Config implements QAModel.
func (m *Bert) Config() *Config { return m.cfg }
