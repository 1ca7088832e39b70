package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"

	"github.com/spanqa/spanqa/models"
)

func init() {
	register("convert", "convert an HF model folder to spanqa's canonical folder: convert <hf-dir> <out-dir>", runConvert)
}

// runConvert is `spanqa convert <hf-folder> <out-folder>` (models.Convert).
func runConvert(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("convert", stderr)
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
