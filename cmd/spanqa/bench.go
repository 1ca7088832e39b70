package main

import (
	"context"
	"io"
	"os"

	"github.com/spanqa/spanqa/torch"
	"github.com/spanqa/spanqa/train/bench"
)

func init() {
	register("bench", "training and inference speed, seed vs spanqa batching, MFU, peak memory (bench.json)", runBench)
}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	warnBLAS(stderr)
	fs := newFlagSet("bench", stderr)
	device := deviceFlag(fs)
	output := fs.String("output", "bench.json", "where to write the report (empty: nowhere)")
	compare := fs.String("compare", "", "an earlier bench.json (or tests/bench/hf_reference.py's) to print ratios against")
	from := fs.String("from", "", "print (and --compare) this bench.json instead of running")
	inProcess := fs.Bool("in-process", false, "run every model in this process (default: one child process per model)")
	child := fs.String("child", "", "internal: run the model of this spec file for a parent bench run")
	var opt bench.Options
	fs.StringVar(&opt.Models, "models", "", "comma-separated: bert, roberta, deberta, longformer (default: all this build supports; bert with --quick)")
	fs.StringVar(&opt.Phases, "phases", "", "comma-separated subset of infer/seed, infer/spanqa, train/seed, train/spanqa (or infer, train, seed, spanqa)")
	fs.BoolVar(&opt.Quick, "quick", false, "a short validation run: 2 timed steps per phase, bert only unless --models")
	fs.IntVar(&opt.Steps, "steps", 0, "timed steps (length strata) per phase (default 4, 2 with --quick)")
	fs.IntVar(&opt.TrainBatch, "train-batch-size", 0, "training batch size (default: 4 on CPU, the seed's 12 on CUDA; Longformer 2)")
	fs.IntVar(&opt.EvalBatch, "eval-batch-size", 0, "inference batch size (default: 8 on CPU, the seed's 16 on CUDA; Longformer 2)")
	fs.StringVar(&opt.Data, "data", "", "SQuAD v1.1 JSON for the window lengths (default: ../shared/data/squad/v1.1, else the recorded histogram; \"recorded\" forces it)")
	fs.IntVar(&opt.Threads, "threads", 0, "libtorch intra-op threads (default 0: one per core other processes leave idle; -1: libtorch default, one per CPU or $SPANQA_NUM_THREADS)")
	fs.BoolVar(&opt.BF16, "bf16", false, "bfloat16 autocast for the steps, bfloat16 roofline (for CUDA; like HF --bf16)")
	fs.BoolVar(&opt.GradientCheckpointing, "gradient-checkpointing", false, "recompute each layer's activations in backward instead of keeping them (training phases; like HF --gradient_checkpointing)")
	fs.Uint64Var(&opt.Seed, "seed", 42, "seed for weights, data order and synthetic windows")
	fs.IntVar(&opt.Retries, "retries", 0, "runs of a step again when other processes disturbed it (default 2, 0 with --quick; -1 for none)")
	fs.BoolVar(&opt.NoProfile, "no-profile", false, "do not CPU-profile the phases (no Go share figures)")
	fs.StringVar(&opt.ProfileDir, "profile-dir", "", "keep each phase's CPU profile here for go tool pprof")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *child != "" {
		return bench.RunChild(ctx, *child)
	}
	var r *bench.Report
	if *from != "" {
		var err error
		if r, err = bench.ReadReport(*from); err != nil {
			return err
		}
	} else {
		dev, err := torch.ParseDevice(*device)
		if err != nil {
			return err
		}
		opt.Device, opt.Log = dev, stderr
		if !*inProcess {
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			opt.ChildCommand = []string{exe, "bench", "--child"}
		}
		if *output != "" { // keep what is done if a later model fails or the run is stopped
			opt.OnModel = func(r *bench.Report) { _ = r.WriteJSON(*output) }
		}
		r, err = bench.Run(ctx, opt)
		if err != nil {
			return err
		}
		if *output != "" {
			if err := r.WriteJSON(*output); err != nil {
				return err
			}
		}
	}
	if err := r.WriteTable(stdout); err != nil {
		return err
	}
	if *compare != "" {
		other, err := bench.ReadReport(*compare)
		if err != nil {
			return err
		}
		return bench.Compare(stdout, r, other, *compare)
	}
	return nil
}
