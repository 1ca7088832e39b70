package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spanqa/spanqa/torch/dist"
)

// launchFlags are `spanqa train`'s data-parallel flags, named like torchrun's.
type launchFlags struct {
	nprocPerNode, nnodes, nodeRank int
	masterAddr                     string
	masterPort                     int
	timeout                        time.Duration
}

func addLaunchFlags(fs *flag.FlagSet) *launchFlags {
	lf := &launchFlags{}
	fs.IntVar(&lf.nprocPerNode, "nproc-per-node", 1, "start this many data-parallel worker processes on this machine (one per device)")
	fs.IntVar(&lf.nnodes, "nnodes", 1, "machines in the job (run the same command on each, with its --node-rank)")
	fs.IntVar(&lf.nodeRank, "node-rank", 0, "this machine's index in [0, --nnodes)")
	fs.StringVar(&lf.masterAddr, "master-addr", "", "address of node 0, where rank 0 hosts the rendezvous (default 127.0.0.1 on one machine)")
	fs.IntVar(&lf.masterPort, "master-port", 0, "rendezvous port on --master-addr (default: a free port on one machine)")
	fs.DurationVar(&lf.timeout, "dist-timeout", dist.DefaultTimeout, "a rank that dies or hangs makes the others fail after at most this long")
	return lf
}

// shouldLaunch reports whether this process is the launcher (not one of the workers it starts).
func (lf *launchFlags) shouldLaunch() bool {
	return (lf.nprocPerNode > 1 || lf.nnodes > 1) && os.Getenv(dist.LaunchWorkerEnv) == ""
}

// launch runs the workers: this executable with the same command line.
func (lf *launchFlags) launch(ctx context.Context, cmdline []string, stdout, stderr io.Writer) error {
	if os.Getenv("RANK") != "" {
		return fmt.Errorf("--nproc-per-node with RANK already set: the process was started by a launcher (torchrun) already")
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("launch: %w", err)
	}
	return dist.Launch(ctx, dist.LaunchConfig{
		NProcPerNode: lf.nprocPerNode, NNodes: lf.nnodes, NodeRank: lf.nodeRank,
		MasterAddr: lf.masterAddr, MasterPort: lf.masterPort,
		Command: exe, Args: cmdline, Stdout: stdout, Stderr: stderr,
	})
}
