package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"

	"github.com/spanqa/spanqa/models"
	"github.com/spanqa/spanqa/torch"
)

func init() {
	register("logits", "print start/end logits as JSON: logits --model <dir> --input <inputs.json>", runLogits)
}

// runLogits is `spanqa logits` (models.Logits): the raw start/end logits of token rows, for
// comparing with another implementation.
func runLogits(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("logits", stderr)
	dir := fs.String("model", "", "model folder (config.json + weights)")
	input := fs.String("input", "-", "inputs.json with input_ids, attention_mask[, token_type_ids] (- for stdin)")
	device := deviceFlag(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return errModelRequired
	}
	dev, err := torch.ParseDevice(*device)
	if err != nil {
		return err
	}
	r, err := openInput(*input)
	if err != nil {
		return err
	}
	defer r.Close()
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
