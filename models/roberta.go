package models

import (
	"github.com/spanqa/spanqa/torch"
	"github.com/spanqa/spanqa/torch/nn"
)

// Roberta is RobertaForQuestionAnswering: BERT's encoder with RoBERTa's embeddings, whose
// position ids start after pad_token_id and skip padding. Keys: roberta.*, qa_outputs.*.
type Roberta struct {
	cfg        *Config
	params     *nn.Params
	embeddings *bertEmbeddings
	encoder    *bertEncoder
	head       *qaHead
}

func init() {
	register("roberta", func(c *Config, d torch.Device) QAModel { return NewRoberta(c, d) })
}

// NewRoberta builds the architecture with HF-initialised random weights.
func NewRoberta(cfg *Config, dev torch.Device) *Roberta {
	p := nn.NewParams(dev)
	m := &Roberta{cfg: cfg, params: p}
	m.embeddings = newBertEmbeddings(p.Sub("roberta.embeddings"), cfg, cfg.PadTokenID)
	m.encoder = newBertEncoder(p.Sub("roberta"), cfg)
	m.head = newQAHead(p, cfg.HiddenSize)
	initBertWeights(p, cfg, map[string]int64{
		"roberta.embeddings.word_embeddings.weight":     cfg.PadTokenID,
		"roberta.embeddings.position_embeddings.weight": cfg.PadTokenID,
	})
	return m
}

// robertaPositions computes HF's create_position_ids_from_input_ids: real tokens get
// pad+1, pad+2, ... in order, padding tokens get pad. It looks at the ids, not the mask.
func robertaPositions(ids *torch.Tensor, pad int64) *torch.Tensor {
	real := ids.NeScalar(float64(pad)).ToDType(torch.Int64)
	return real.Cumsum(1).Mul(real).AddScalar(float64(pad))
}

// Forward implements QAModel.
func (m *Roberta) Forward(in Inputs, train bool) Output {
	positions := robertaPositions(in.IDs, m.cfg.PadTokenID)
	mask := in.Mask
	if mask == nil {
		mask = in.IDs.OnesLike()
	}
	x := m.embeddings.forward(in.IDs, in.TypeIDs, positions, train)
	x = m.encoder.forward(x, additiveMask(mask, x.DType()), train)
	return m.head.forward(x, in)
}

// Params implements QAModel.
func (m *Roberta) Params() *nn.Params { return m.params }

// Config implements QAModel.
func (m *Roberta) Config() *Config { return m.cfg }
