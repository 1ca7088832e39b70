package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spanqa/spanqa/torch"
	"github.com/spanqa/spanqa/torch/dist"
)

func init() {
	register("doctor", "report libtorch version, BLAS in use, threads, CUDA devices and GEMM speed", runDoctor)
}

func runDoctor(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("doctor", stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	fmt.Fprint(stdout, torch.Inspect())
	fmt.Fprintf(stdout, "c10d:      %s\n", dist.Describe())
	return torch.CheckVersion()
}

// warnBLAS says in one line, before a run that would be slow for it, that OpenBLAS's pthread
// build is loaded, and how to fix it.
func warnBLAS(stderr io.Writer) {
	if w := torch.BLASWarning(); w != "" {
		fmt.Fprintln(stderr, "spanqa: WARNING:", w)
	}
}
