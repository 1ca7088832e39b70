package train

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/spanqa/spanqa/data/squad"
)

// Args are the training arguments, named like HF's TrainingArguments and run_qa.py's data
// arguments: in snake case in JSON and YAML files, in kebab case as `spanqa train` flags.
type Args struct {
	Model                     string  `json:"model" yaml:"model"`
	TrainFile                 string  `json:"train_file" yaml:"train_file"`
	EvalFile                  string  `json:"eval_file" yaml:"eval_file"`
	OutputDir                 string  `json:"output_dir" yaml:"output_dir"`
	LearningRate              float64 `json:"learning_rate" yaml:"learning_rate"`
	PerDeviceTrainBatchSize   int     `json:"per_device_train_batch_size" yaml:"per_device_train_batch_size"`
	PerDeviceEvalBatchSize    int     `json:"per_device_eval_batch_size" yaml:"per_device_eval_batch_size"`
	NumTrainEpochs            float64 `json:"num_train_epochs" yaml:"num_train_epochs"`
	MaxSteps                  int64   `json:"max_steps" yaml:"max_steps"`
	WeightDecay               float64 `json:"weight_decay" yaml:"weight_decay"`
	AdamBeta1                 float64 `json:"adam_beta1" yaml:"adam_beta1"`
	AdamBeta2                 float64 `json:"adam_beta2" yaml:"adam_beta2"`
	AdamEpsilon               float64 `json:"adam_epsilon" yaml:"adam_epsilon"`
	WarmupRatio               float64 `json:"warmup_ratio" yaml:"warmup_ratio"`
	WarmupSteps               int64   `json:"warmup_steps" yaml:"warmup_steps"`
	LRSchedulerType           string  `json:"lr_scheduler_type" yaml:"lr_scheduler_type"`
	MaxGradNorm               float64 `json:"max_grad_norm" yaml:"max_grad_norm"`
	GradientAccumulationSteps int     `json:"gradient_accumulation_steps" yaml:"gradient_accumulation_steps"`
	Seed                      int64   `json:"seed" yaml:"seed"`
	SaveSteps                 int64   `json:"save_steps" yaml:"save_steps"`
	SaveTotalLimit            int     `json:"save_total_limit" yaml:"save_total_limit"`
	EvalSteps                 int64   `json:"eval_steps" yaml:"eval_steps"`
	LoggingSteps              int64   `json:"logging_steps" yaml:"logging_steps"`
	Resume                    bool    `json:"resume" yaml:"resume"`
	MaxSeqLength              int     `json:"max_seq_length" yaml:"max_seq_length"`
	DocStride                 int     `json:"doc_stride" yaml:"doc_stride"`
	ConfigOverrides           string  `json:"config_overrides" yaml:"config_overrides"`
	NoShuffle                 bool    `json:"no_shuffle" yaml:"no_shuffle"`
	Device                    string  `json:"device" yaml:"device"`
	Version2WithNegative      bool    `json:"version_2_with_negative" yaml:"version_2_with_negative"`
	MaxTrainSamples           int     `json:"max_train_samples" yaml:"max_train_samples"`
	MaxEvalSamples            int     `json:"max_eval_samples" yaml:"max_eval_samples"`
	// FromScratch builds the model from config.json with fresh random weights (seeded) instead
	// of loading a checkpoint: the embedded default trains this way.
	FromScratch bool `json:"from_scratch" yaml:"from_scratch"`
	// SkipInvalid drops malformed examples (reported) instead of stopping.
	SkipInvalid bool `json:"skip_invalid" yaml:"skip_invalid"`
	// Column names of flat data (parquet, JSON Lines), as run_qa.py's --*_column flags.
	QuestionColumn string `json:"question_column" yaml:"question_column"`
	ContextColumn  string `json:"context_column" yaml:"context_column"`
	AnswerColumn   string `json:"answer_column" yaml:"answer_column"`
	IDColumn       string `json:"id_column" yaml:"id_column"`
	// FP16 and BF16 train under autocast (fp16 with dynamic loss scaling; CUDA only).
	FP16 bool `json:"fp16" yaml:"fp16"`
	BF16 bool `json:"bf16" yaml:"bf16"`
	// GradientCheckpointing recomputes each layer's activations in backward instead of keeping
	// them (HF's gradient_checkpointing): far less memory for long inputs, one more forward per
	// step, the same gradients.
	GradientCheckpointing bool `json:"gradient_checkpointing" yaml:"gradient_checkpointing"`
	// NoPlot skips the PNG plot at the end.
	NoPlot bool `json:"no_plot" yaml:"no_plot"`
}

// DefaultArgs are HF's defaults (TrainingArguments and run_qa.py).
func DefaultArgs() Args {
	return Args{
		LearningRate: 5e-5, PerDeviceTrainBatchSize: 8, PerDeviceEvalBatchSize: 8, NumTrainEpochs: 3, MaxSteps: -1,
		AdamBeta1: 0.9, AdamBeta2: 0.999, AdamEpsilon: 1e-8, LRSchedulerType: "linear", MaxGradNorm: 1,
		GradientAccumulationSteps: 1, Seed: 42, SaveSteps: 500, SaveTotalLimit: 2, LoggingSteps: 50,
		MaxSeqLength: 384, DocStride: 128, Device: "cpu",
	}
}

// LoadArgsFile reads arguments from a YAML or JSON file (HF names, snake case) on top of a.
func (a *Args) LoadArgsFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("train: config file: %w", err)
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".json":
		dec := json.NewDecoder(strings.NewReader(string(data)))
		dec.DisallowUnknownFields()
		err = dec.Decode(a)
	default:
		dec := yaml.NewDecoder(strings.NewReader(string(data)))
		dec.KnownFields(true)
		err = dec.Decode(a)
	}
	if err != nil {
		return fmt.Errorf("train: config file %s: %w", path, err)
	}
	return nil
}

// Validate checks values that would otherwise fail later or silently.
func (a *Args) Validate() error {
	switch {
	case a.Model == "":
		return fmt.Errorf("train: --model is required")
	case a.TrainFile == "":
		return fmt.Errorf("train: --train-file is required")
	case a.OutputDir == "":
		return fmt.Errorf("train: --output-dir is required")
	case a.PerDeviceTrainBatchSize <= 0 || a.PerDeviceEvalBatchSize <= 0:
		return fmt.Errorf("train: batch sizes must be positive")
	case a.GradientAccumulationSteps <= 0:
		return fmt.Errorf("train: --gradient-accumulation-steps must be positive")
	case a.LearningRate < 0 || a.WeightDecay < 0:
		return fmt.Errorf("train: learning rate and weight decay must not be negative")
	case a.MaxSeqLength <= 0 || a.DocStride < 0 || a.DocStride >= a.MaxSeqLength:
		return fmt.Errorf("train: need 0 <= --doc-stride < --max-seq-length")
	case a.MaxSteps <= 0 && a.NumTrainEpochs <= 0:
		return fmt.Errorf("train: set --num-train-epochs or --max-steps")
	}
	_, err := ParseScheduleKind(a.LRSchedulerType)
	return err
}

// squadOptions are the reader options the arguments ask for.
func (a *Args) squadOptions() squad.Options {
	return squad.Options{SkipInvalid: a.SkipInvalid, Columns: squad.Columns{
		ID: a.IDColumn, Question: a.QuestionColumn, Context: a.ContextColumn, Answers: a.AnswerColumn}}
}
