package train

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spanqa/spanqa/data/synthetic"
)

// TinyBERTConfig is the model the embedded default trains from scratch: BERT-shaped, small
// enough to learn the synthetic task on two CPU cores in minutes. It attends with learned
// query-key distance embeddings (HF's position_embedding_type relative_key): with absolute
// positions a model this small learns only the answer's type within the budget (F1 ~84: it
// cannot tell the founder from the other people in a context), because "the word next to
// 'founded'" must be learned separately at every absolute position; one table of distances
// learns it once.
var TinyBERTConfig = map[string]any{
	"architectures":                []string{"BertForQuestionAnswering"},
	"model_type":                   "bert",
	"hidden_size":                  128,
	"num_hidden_layers":            3,
	"num_attention_heads":          4,
	"intermediate_size":            256,
	"hidden_act":                   "gelu",
	"hidden_dropout_prob":          0.0,
	"attention_probs_dropout_prob": 0.0,
	"max_position_embeddings":      256,
	"type_vocab_size":              2,
	"initializer_range":            0.02,
	"layer_norm_eps":               1e-12,
	"pad_token_id":                 0,
	"position_embedding_type":      "relative_key",
}

// EmbeddedScale shrinks the embedded run (1 is the full default; tests use less).
type EmbeddedScale struct {
	TrainContexts, EvalContexts int
	Epochs                      float64
}

// FullEmbedded is what `make train` runs.
var FullEmbedded = EmbeddedScale{TrainContexts: synthetic.DefaultTrain.Contexts, EvalContexts: synthetic.DefaultEval.Contexts, Epochs: 2}

// PrepareEmbedded writes the embedded default's inputs under dir (model/ with config.json and
// vocab.txt, train.json, eval.json) and returns the training arguments for them.
func PrepareEmbedded(dir string, scale EmbeddedScale) (Args, error) {
	modelDir := filepath.Join(dir, "model")
	if err := os.MkdirAll(modelDir, 0o755); err != nil {
		return Args{}, fmt.Errorf("train: embedded: %w", err)
	}
	vocab := synthetic.Vocab()
	cfg := map[string]any{}
	for k, v := range TinyBERTConfig {
		cfg[k] = v
	}
	cfg["vocab_size"] = len(vocab)
	data, _ := json.MarshalIndent(cfg, "", "  ")
	if err := os.WriteFile(filepath.Join(modelDir, "config.json"), data, 0o644); err != nil {
		return Args{}, fmt.Errorf("train: embedded: %w", err)
	}
	if err := os.WriteFile(filepath.Join(modelDir, "vocab.txt"), []byte(strings.Join(vocab, "\n")+"\n"), 0o644); err != nil {
		return Args{}, fmt.Errorf("train: embedded: %w", err)
	}
	trainOpt, evalOpt := synthetic.DefaultTrain, synthetic.DefaultEval
	trainOpt.Contexts, evalOpt.Contexts = scale.TrainContexts, scale.EvalContexts
	trainFile, evalFile := filepath.Join(dir, "train.json"), filepath.Join(dir, "eval.json")
	if err := synthetic.WriteSQuAD(trainFile, synthetic.Generate(trainOpt)); err != nil {
		return Args{}, err
	}
	if err := synthetic.WriteSQuAD(evalFile, synthetic.Generate(evalOpt)); err != nil {
		return Args{}, err
	}
	a := DefaultArgs()
	a.Model, a.TrainFile, a.EvalFile, a.OutputDir = modelDir, trainFile, evalFile, filepath.Join(dir, "output")
	a.FromScratch = true
	a.LearningRate = 1.5e-3
	a.WeightDecay = 0.01
	a.WarmupRatio = 0.06
	a.PerDeviceTrainBatchSize = 32
	a.PerDeviceEvalBatchSize = 64
	a.NumTrainEpochs = scale.Epochs
	a.MaxSeqLength = 128
	a.DocStride = 48
	a.SaveSteps = 0
	a.LoggingSteps = 10
	a.Seed = 42
	return a, nil
}
