package bench

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spanqa/spanqa/models"
	"github.com/spanqa/spanqa/torch"
)

// arch is one architecture at its real base size, with the seed notebook's windowing.
type arch struct {
	// Key is the short name used by --models and `make train MODEL=...`.
	Key string
	// Name is the hub checkpoint whose configuration (and tokenizer) is measured.
	Name string
	// Config is the checkpoint's config.json (random weights: speed does not depend on them).
	Config string
	// Tokenizer is the folder under fixtures/tokenizers used to cut real SQuAD windows.
	Tokenizer string
	// MaxLength is the seed's max_seq_length; the seed pads every window to it.
	MaxLength int
	// CLS, SEP and Pad are the special token ids of the tokenizer; DoubleSep marks the
	// RoBERTa-style pair layout "<s> q </s></s> c </s>" (for windows made from a histogram).
	CLS, SEP, Pad int64
	DoubleSep     bool
	// TypeIDs reports whether the tokenizer returns token_type_ids.
	TypeIDs bool
	// TrainBatch and EvalBatch are the batch sizes on CPU (the shapes of HF's CPU baseline,
	// hf_cpu_baseline.json) and on CUDA (the seed notebook's per-device sizes).
	TrainBatch, EvalBatch [2]int
}

// archs are the base checkpoints, in the order the benchmark runs them. DeBERTa and Longformer
// run only when models.Supported lists their model_type.
var archs = []arch{
	{
		Key: "bert", Name: "bert-base-uncased", Tokenizer: "bert-base-uncased", MaxLength: 384,
		CLS: 101, SEP: 102, Pad: 0, TypeIDs: true,
		TrainBatch: [2]int{4, 12}, EvalBatch: [2]int{8, 16},
		Config: `{"model_type": "bert", "vocab_size": 30522, "hidden_size": 768,
			"num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072,
			"hidden_act": "gelu", "max_position_embeddings": 512, "type_vocab_size": 2,
			"layer_norm_eps": 1e-12, "pad_token_id": 0}`,
	},
	{
		Key: "roberta", Name: "roberta-base", Tokenizer: "roberta-base", MaxLength: 384,
		CLS: 0, SEP: 2, Pad: 1, DoubleSep: true,
		TrainBatch: [2]int{4, 12}, EvalBatch: [2]int{8, 16},
		Config: `{"model_type": "roberta", "vocab_size": 50265, "hidden_size": 768,
			"num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072,
			"hidden_act": "gelu", "max_position_embeddings": 514, "type_vocab_size": 1,
			"layer_norm_eps": 1e-5, "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2}`,
	},
	{
		Key: "deberta", Name: "deberta-v3-base", Tokenizer: "deberta-v3-base", MaxLength: 384,
		CLS: 1, SEP: 2, Pad: 0, TypeIDs: true,
		TrainBatch: [2]int{4, 12}, EvalBatch: [2]int{8, 16},
		Config: `{"model_type": "deberta-v2", "vocab_size": 128100, "hidden_size": 768,
			"num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072,
			"hidden_act": "gelu", "max_position_embeddings": 512, "type_vocab_size": 0,
			"layer_norm_eps": 1e-7, "relative_attention": true, "max_relative_positions": -1,
			"position_buckets": 256, "norm_rel_ebd": "layer_norm", "share_att_key": true,
			"pos_att_type": "p2c|c2p", "position_biased_input": false, "pad_token_id": 0}`,
	},
	{
		// Longformer reuses roberta-base's tokenizer (see fixtures/tokenizers/longformer-base-4096)
		// and the seed recipe's 4096-token windows, so a SQuAD example is usually one window.
		Key: "longformer", Name: "longformer-base-4096", Tokenizer: "roberta-base", MaxLength: 4096,
		CLS: 0, SEP: 2, Pad: 1, DoubleSep: true,
		TrainBatch: [2]int{2, 2}, EvalBatch: [2]int{2, 2},
		Config: `{"model_type": "longformer", "vocab_size": 50265, "hidden_size": 768,
			"num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072,
			"hidden_act": "gelu", "max_position_embeddings": 4098, "type_vocab_size": 1,
			"layer_norm_eps": 1e-5, "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2,
			"sep_token_id": 2, "attention_window": 512}`,
	},
}

// config parses the architecture's configuration.
func (a *arch) config() (*models.Config, error) {
	cfg, err := models.ParseConfig([]byte(a.Config))
	if err != nil {
		return nil, fmt.Errorf("bench: %s: %w", a.Name, err)
	}
	return cfg, nil
}

// batchSizes returns the default (train, eval) batch sizes on dev.
func (a *arch) batchSizes(dev torch.Device) (train, eval int) {
	i := 0
	if dev.Type == torch.CUDADevice {
		i = 1
	}
	return a.TrainBatch[i], a.EvalBatch[i]
}

// selectArchs resolves --models: a comma-separated list of keys ("bert"), checkpoint names
// ("bert-base-uncased") or model types ("deberta-v2"); empty means every supported one.
func selectArchs(list string) ([]arch, error) {
	supported := models.Supported()
	var out []arch
	if strings.TrimSpace(list) == "" {
		for _, a := range archs {
			if slices.Contains(supported, modelType(a)) {
				out = append(out, a)
			}
		}
		return out, nil
	}
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		i := slices.IndexFunc(archs, func(a arch) bool { return name == a.Key || name == a.Name || name == modelType(a) })
		if i < 0 {
			return nil, fmt.Errorf("bench: unknown model %q (have bert, roberta, deberta, longformer)", name)
		}
		if !slices.Contains(supported, modelType(archs[i])) {
			return nil, fmt.Errorf("bench: model %q: model_type %s is not built into this spanqa (have %v)", name, modelType(archs[i]), supported)
		}
		out = append(out, archs[i])
	}
	return out, nil
}

// modelType reads model_type from the configuration without a full parse.
func modelType(a arch) string {
	_, rest, _ := strings.Cut(a.Config, `"model_type": "`)
	t, _, _ := strings.Cut(rest, `"`)
	return t
}
