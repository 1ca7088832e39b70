package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"github.com/spanqa/spanqa/torch"
	"io"
	"log"
	"os"

	"github.com/spanqa/spanqa/models"
)

func init() {
	register("convert", "convert an HF model folder to spanqa's canonical folder: convert <hf-dir> <out-dir>", runConvert)
	register("logits", "print start/end logits as JSON: logits --model <dir> --input <inputs.json>", runLogits)
}

func runConvert(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("convert", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return errors.New("usage: spanqa convert <hf-folder> <out-folder>")
	}
	man, err := models.Convert(fs.Arg(0), fs.Arg(1), log.New(stderr, "", 0))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "converted %s (%s, %d parameters, tokenizer %s) to %s\n",
		fs.Arg(0), man.Architecture, man.Parameters, man.TokenizerKind, fs.Arg(1))
	return nil
}

func runLogits(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("logits", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("model", "", "model folder (config.json + weights)")
	input := fs.String("input", "-", "inputs.json with input_ids, attention_mask[, token_type_ids] (- for stdin)")
	device := fs.String("device", "cpu", "cpu, cuda or cuda:N")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("--model is required")
	}
	dev, err := torch.ParseDevice(*device)
	if err != nil {
		return err
	}
	r := io.Reader(os.Stdin)
	if *input != "-" {
		f, err := os.Open(*input)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	in, err := models.ReadLogitsInput(r)
	if err != nil {
		return fmt.Errorf("%s: %w", *input, err)
	}
	m, err := models.Load(*dir, models.LoadOptions{Device: dev, Log: log.New(stderr, "", 0)})
	if err != nil {
		return err
	}
	defer m.Params().Free()
	out, err := models.Logits(m, in)
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(out)
}
