package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/spanqa/spanqa/train"
)

func init() {
	register("train", "fine-tune a QA model (flags named like HF TrainingArguments)", runTrain)
}

// runTrain is `spanqa train` (train.Trainer): arguments from --config, then the flags (or from
// --recipe with --use-recipe, the flags given still winning), then the data-parallel launch or
// join, then the run.
func runTrain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	warnBLAS(stderr)
	a := train.DefaultArgs()
	// A config file is read first so that flags given with it override its values.
	if path := configFileArg(args); path != "" {
		if err := a.LoadArgsFile(path); err != nil {
			return err
		}
	}
	fs := newFlagSet("train", stderr)
	bindTrainFlags(fs, &a)
	fs.String("config", "", "YAML or JSON file of training arguments (HF names, snake case)")
	recipe := fs.String("recipe", "", "a `make train` recipe: empty (embedded default), bert, roberta, deberta, longformer or a repo id")
	useRecipe := fs.Bool("use-recipe", false, "build the arguments from --recipe, --weights and --data")
	weights := fs.String("weights", "", "model folder for --recipe (default: the Hugging Face cache)")
	data := fs.String("data", "", "SQuAD folder for --recipe (default: the Hugging Face cache)")
	lf := addLaunchFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	// Data parallel (launch.go): start the local workers, or join the job torchrun's variables
	// describe (g is nil for a single process).
	if lf.shouldLaunch() {
		return lf.launch(ctx, append([]string{"train"}, args...), stdout, stderr)
	}
	g, err := train.JoinFromEnv(ctx, &a, lf.timeout)
	if err != nil {
		return err
	}
	defer g.Close()
	if *useRecipe {
		out := a.OutputDir
		if out == "" {
			out = "runs/default"
		}
		r, err := train.ShareArgs(g, func() (train.Args, error) { return train.Recipe(ctx, *recipe, *weights, *data, out, stderr) })
		if err != nil {
			return err
		}
		// Flags given on the command line still win over the recipe's values (the device
		// JoinFromEnv resolved for this rank included).
		given := givenFlags(fs)
		delete(given, "output-dir") // the recipe already placed its output under it
		device := a.Device
		a = r
		if err := applyFlags(given, &a); err != nil {
			return err
		}
		a.Device = device
	}
	res, err := (&train.Trainer{Args: a, Log: stderr, Dist: g}).Run(ctx)
	if err != nil {
		return err
	}
	if g != nil && !g.IsMain() {
		return nil // rank 0 reports
	}
	if res.Interrupted {
		fmt.Fprintf(stdout, "interrupted at step %d; resume with --resume --output-dir %s\n", res.GlobalStep, res.OutputDir)
		return nil
	}
	fmt.Fprintf(stdout, "trained %d steps in %s: eval exact_match %.2f f1 %.2f; model in %s\n", res.GlobalStep, res.Runtime.Round(1e9), res.EvalEM, res.EvalF1, res.OutputDir)
	return nil
}

// givenFlags records the flags set explicitly on the command line, as text. It must run before
// the variables the flags point at are overwritten.
func givenFlags(fs *flag.FlagSet) map[string]string {
	given := map[string]string{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = f.Value.String() })
	return given
}

// applyFlags sets the given training flags on a.
func applyFlags(given map[string]string, a *train.Args) error {
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	bindTrainFlags(fs, a)
	for name, v := range given {
		if fs.Lookup(name) != nil {
			if err := fs.Set(name, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// configFileArg finds --config's value without parsing the other flags.
func configFileArg(args []string) string {
	for i, a := range args {
		switch {
		case a == "--config" || a == "-config":
			if i+1 < len(args) {
				return args[i+1]
			}
		case strings.HasPrefix(a, "--config=") || strings.HasPrefix(a, "-config="):
			_, v, _ := strings.Cut(a, "=")
			return v
		}
	}
	return ""
}

// bindTrainFlags binds every training argument to fs with HF's names in kebab case
// (--per-device-train-batch-size); a's values are the defaults.
func bindTrainFlags(fs *flag.FlagSet, a *train.Args) {
	fs.StringVar(&a.Model, "model", a.Model, "model folder (config.json, weights, tokenizer files)")
	fs.StringVar(&a.TrainFile, "train-file", a.TrainFile, "SQuAD JSON / parquet / JSONL examples, or `spanqa features --mode train` windows (.jsonl)")
	fs.StringVar(&a.EvalFile, "eval-file", a.EvalFile, "evaluation examples (EM/F1 each epoch); empty to skip")
	fs.StringVar(&a.OutputDir, "output-dir", a.OutputDir, "where checkpoints, logs and the final model go")
	fs.Float64Var(&a.LearningRate, "learning-rate", a.LearningRate, "peak AdamW learning rate")
	fs.IntVar(&a.PerDeviceTrainBatchSize, "per-device-train-batch-size", a.PerDeviceTrainBatchSize, "windows per training micro-batch")
	fs.IntVar(&a.PerDeviceEvalBatchSize, "per-device-eval-batch-size", a.PerDeviceEvalBatchSize, "windows per evaluation batch")
	fs.Float64Var(&a.NumTrainEpochs, "num-train-epochs", a.NumTrainEpochs, "epochs (fractions allowed)")
	fs.Int64Var(&a.MaxSteps, "max-steps", a.MaxSteps, "stop after this many optimizer steps (overrides epochs when > 0)")
	fs.Float64Var(&a.WeightDecay, "weight-decay", a.WeightDecay, "AdamW decoupled weight decay (not on biases and LayerNorm)")
	fs.Float64Var(&a.AdamBeta1, "adam-beta1", a.AdamBeta1, "AdamW beta1")
	fs.Float64Var(&a.AdamBeta2, "adam-beta2", a.AdamBeta2, "AdamW beta2")
	fs.Float64Var(&a.AdamEpsilon, "adam-epsilon", a.AdamEpsilon, "AdamW epsilon")
	fs.Float64Var(&a.WarmupRatio, "warmup-ratio", a.WarmupRatio, "linear warm-up over this fraction of steps")
	fs.Int64Var(&a.WarmupSteps, "warmup-steps", a.WarmupSteps, "linear warm-up steps (overrides the ratio)")
	fs.StringVar(&a.LRSchedulerType, "lr-scheduler-type", a.LRSchedulerType, "linear, cosine, constant or constant_with_warmup")
	fs.Float64Var(&a.MaxGradNorm, "max-grad-norm", a.MaxGradNorm, "global gradient-norm clipping (0 disables)")
	fs.IntVar(&a.GradientAccumulationSteps, "gradient-accumulation-steps", a.GradientAccumulationSteps, "micro-batches per optimizer step")
	fs.Int64Var(&a.Seed, "seed", a.Seed, "fixes initialisation, dropout and data order")
	fs.Int64Var(&a.SaveSteps, "save-steps", a.SaveSteps, "checkpoint every N steps (0: only at epoch ends)")
	fs.IntVar(&a.SaveTotalLimit, "save-total-limit", a.SaveTotalLimit, "keep the last K checkpoints (plus the best)")
	fs.Int64Var(&a.EvalSteps, "eval-steps", a.EvalSteps, "also evaluate every N steps (0: only at epoch ends)")
	fs.Int64Var(&a.LoggingSteps, "logging-steps", a.LoggingSteps, "log every N steps")
	fs.BoolVar(&a.Resume, "resume", a.Resume, "continue from the newest checkpoint in --output-dir")
	fs.IntVar(&a.MaxSeqLength, "max-seq-length", a.MaxSeqLength, "window length in tokens")
	fs.IntVar(&a.DocStride, "doc-stride", a.DocStride, "context tokens shared by consecutive windows")
	fs.StringVar(&a.ConfigOverrides, "config-overrides", a.ConfigOverrides, "config.json overrides, e.g. hidden_dropout_prob=0,attention_probs_dropout_prob=0")
	fs.BoolVar(&a.NoShuffle, "no-shuffle", a.NoShuffle, "train in file order (no length bucketing)")
	fs.StringVar(&a.Device, "device", a.Device, deviceHelp)
	fs.BoolVar(&a.Version2WithNegative, "version-2-with-negative", a.Version2WithNegative, "SQuAD v2.0: allow null answers")
	fs.IntVar(&a.MaxTrainSamples, "max-train-samples", a.MaxTrainSamples, "use only the first N training examples")
	fs.IntVar(&a.MaxEvalSamples, "max-eval-samples", a.MaxEvalSamples, "use only the first N evaluation examples")
	fs.BoolVar(&a.FromScratch, "from-scratch", a.FromScratch, "random initialisation from config.json instead of loading weights")
	fs.BoolVar(&a.SkipInvalid, "skip-invalid", a.SkipInvalid, "drop malformed examples instead of stopping")
	fs.StringVar(&a.QuestionColumn, "question-column", a.QuestionColumn, "question column of flat data (default question)")
	fs.StringVar(&a.ContextColumn, "context-column", a.ContextColumn, "context column of flat data (default context)")
	fs.StringVar(&a.AnswerColumn, "answer-column", a.AnswerColumn, "answers column of flat data (default answers)")
	fs.StringVar(&a.IDColumn, "id-column", a.IDColumn, "id column of flat data (default id)")
	fs.BoolVar(&a.FP16, "fp16", a.FP16, "float16 autocast with dynamic loss scaling (CUDA)")
	fs.BoolVar(&a.BF16, "bf16", a.BF16, "bfloat16 autocast")
	fs.BoolVar(&a.GradientCheckpointing, "gradient-checkpointing", a.GradientCheckpointing, "recompute each layer's activations in backward instead of keeping them (less memory, one more forward per step)")
	fs.BoolVar(&a.NoPlot, "no-plot", a.NoPlot, "do not draw training_plot.png")
}
