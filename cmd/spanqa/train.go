package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/spanqa/spanqa/data/features"
	"github.com/spanqa/spanqa/data/hub"
	"github.com/spanqa/spanqa/eval"
	"github.com/spanqa/spanqa/train"
)

func init() {
	register("features", "cut a data set into model windows (JSON Lines, HF field names)", func(_ context.Context, args []string, stdout, stderr io.Writer) error {
		return features.Command(args, stdout, stderr)
	})
	register("score", "official SQuAD v1.1/v2.0 metrics of a predictions file", func(_ context.Context, args []string, stdout, stderr io.Writer) error {
		return eval.ScoreCommand(args, stdout, stderr)
	})
	register("download", "fetch a model from the Hugging Face hub into the shared cache", func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		_, err := hub.DownloadCommand(ctx, args, stdout, stderr)
		return err
	})
	register("download-data", "fetch SQuAD (squad, squad_v2) parquet files into the cache", func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		_, err := hub.DownloadDataCommand(ctx, args, stdout, stderr)
		return err
	})
	register("train", "fine-tune a QA model (flags named like HF TrainingArguments)", runTrain)
}

func runTrain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	warnBLAS(stderr)
	a := train.DefaultArgs()
	// A config file is read first so that flags given with it override its values.
	if path := configFileArg(args); path != "" {
		if err := a.LoadArgsFile(path); err != nil {
			return err
		}
	}
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	fs.SetOutput(stderr)
	a.Flags(fs)
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
	a.Flags(fs)
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

func init() {
	register("eval", "run a model over a data set: predictions files and SQuAD metrics", eval.EvalCommand)
}
