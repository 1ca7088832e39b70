package main

import (
	"errors"
	"flag"
	"io"
	"os"

	"github.com/spanqa/spanqa/torch"
)

// newFlagSet is the flag set of one subcommand: parse errors are returned, and they and -h's
// usage are printed on stderr.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// deviceHelp is the help of --device, which every command that runs a model takes.
const deviceHelp = "cpu, cuda or cuda:N"

// deviceFlag is --device.
func deviceFlag(fs *flag.FlagSet) *string { return fs.String("device", "cpu", deviceHelp) }

// modelFlags name a model folder, its tokenizer and the device to run it on: the flags eval,
// predict and serve share.
type modelFlags struct {
	model, tokenizer string
	device           *string
}

func addModelFlags(fs *flag.FlagSet) *modelFlags {
	f := &modelFlags{device: deviceFlag(fs)}
	fs.StringVar(&f.model, "model", "", "model folder (config.json, weights, tokenizer files)")
	fs.StringVar(&f.tokenizer, "tokenizer", "", "tokenizer folder (default: --model)")
	return f
}

// parseDevice parses --device.
func (f *modelFlags) parseDevice() (torch.Device, error) { return torch.ParseDevice(*f.device) }

// parseInterspersed parses flags placed before, between or after the positional arguments,
// which the flag package alone does not allow, and returns the positional arguments.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// openInput opens the file an --input flag names; "-" is stdin.
func openInput(path string) (io.ReadCloser, error) {
	if path == "-" {
		return io.NopCloser(os.Stdin), nil
	}
	return os.Open(path)
}

// errModelRequired is the error of a command run without --model.
var errModelRequired = errors.New("--model is required")
