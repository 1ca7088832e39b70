package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"time"

	"github.com/spanqa/spanqa/serve"
)

// The commands of package serve.
func init() {
	register("predict", "answer a question about a context, or a JSON Lines file of them", runPredict)
	register("serve", "HTTP server: POST /v1/answer with dynamic batching, /healthz, /metrics, a web page", runServe)
}

// runPredict is `spanqa predict`: answer one question (--question with --context or
// --context-file), or every line of a JSON Lines file (--input, "-" for stdin; see
// serve.Model.AnswerLines), writing one JSON object per answer to stdout.
func runPredict(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("predict", stderr)
	sf := addServeModelFlags(fs, 0)
	ao := addAnswerFlags(fs)
	question := fs.String("question", "", "the question")
	contextText := fs.String("context", "", "the text to find the answer in")
	contextFile := fs.String("context-file", "", "read the context from this file")
	input := fs.String("input", "", `JSON Lines of {"id", "question", "context"} ("-": stdin)`)
	chunk := fs.Int("batch-size", 32, "--input lines answered together")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	single := *question != "" || *contextText != "" || *contextFile != ""
	switch {
	case single == (*input != ""):
		return errors.New("give --question with --context or --context-file, or --input")
	case *contextText != "" && *contextFile != "":
		return errors.New("give --context or --context-file, not both")
	case *chunk <= 0:
		return errors.New("--batch-size must be positive")
	}
	if err := ao.Validate(); err != nil {
		return err
	}
	if *contextFile != "" {
		data, err := os.ReadFile(*contextFile)
		if err != nil {
			return err
		}
		*contextText = string(data)
	}
	m, err := sf.load(stderr)
	if err != nil {
		return err
	}
	defer m.Close()
	if single {
		r, err := m.Answer(ctx, *question, *contextText, *ao)
		if err != nil {
			return err
		}
		return serve.WriteResult(stdout, r)
	}
	in, err := openInput(*input)
	if err != nil {
		return err
	}
	defer in.Close()
	return m.AnswerLines(ctx, in, stdout, *ao, *chunk)
}

// addAnswerFlags registers the post-processing flags, named as `spanqa eval` names them.
func addAnswerFlags(fs *flag.FlagSet) *serve.AnswerOptions {
	o := &serve.AnswerOptions{}
	fs.IntVar(&o.TopK, "top-k", 1, "ranked candidates to return per question")
	fs.BoolVar(&o.AllowNull, "version-2-with-negative", false, "SQuAD v2.0: allow null answers")
	fs.Float64Var(&o.NullThreshold, "null-score-diff-threshold", 0, "v2: answer null when null score - best score exceeds this")
	fs.IntVar(&o.MaxAnswerLength, "max-answer-length", 30, "longest answer in tokens")
	fs.IntVar(&o.NBestSize, "n-best-size", 20, "candidates kept per question")
	return o
}

// runServe is `spanqa serve`: the HTTP server (serve.Server) on --addr until ctx ends (SIGTERM
// or Ctrl-C), then a graceful shutdown in which the requests in flight are answered.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", stderr)
	sf := addServeModelFlags(fs, 5*time.Millisecond)
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on")
	var lim serve.Limits
	fs.Int64Var(&lim.MaxBodyBytes, "max-body-bytes", 1<<20, "largest request body")
	fs.IntVar(&lim.MaxPairs, "max-pairs", 64, "most pairs in one request")
	fs.IntVar(&lim.MaxContextBytes, "max-context-bytes", 100_000, "longest context in bytes")
	fs.IntVar(&lim.MaxQuestionBytes, "max-question-bytes", 4096, "longest question in bytes")
	timeout := fs.Duration("timeout", 30*time.Second, "time limit of one request")
	shutdown := fs.Duration("shutdown-timeout", 60*time.Second, "how long shutdown waits for requests in flight")
	maxConns := fs.Int("max-connections", 1024, "most open client connections; more are answered 503")
	headerTimeout := fs.Duration("read-header-timeout", 10*time.Second, "time limit for a request's headers to arrive")
	idleTimeout := fs.Duration("idle-timeout", 2*time.Minute, "how long a keep-alive connection may wait for its next request")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	logger := log.New(stderr, "spanqa serve: ", log.LstdFlags)
	m, err := sf.load(stderr)
	if err != nil {
		return err
	}
	defer m.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := serve.NewServer(m, serve.ServerConfig{Limits: lim, Timeout: *timeout, ShutdownTimeout: *shutdown, Log: logger,
		MaxConnections: *maxConns, ReadHeaderTimeout: *headerTimeout, IdleTimeout: *idleTimeout})
	defer srv.Close()
	info := m.Info()
	logger.Printf("listening on http://%s (%s, %d parameters, windows of %d tokens with stride %d, batches of up to %d windows, max wait %s)",
		ln.Addr(), info.ModelType, info.Parameters, info.MaxLength, info.Stride, info.MaxBatch, info.MaxWait)
	if err := srv.Serve(ctx, ln); err != nil {
		return err
	}
	logger.Printf("stopped")
	return nil
}

// serveModelFlags are the flags that load a serve.Model, shared by predict and serve: the model
// flags plus windowing, threads and batching.
type serveModelFlags struct {
	*modelFlags
	o serve.Options
}

// addServeModelFlags registers the flags; maxWait is the command's default batching wait.
func addServeModelFlags(fs *flag.FlagSet, maxWait time.Duration) *serveModelFlags {
	f := &serveModelFlags{modelFlags: addModelFlags(fs)}
	fs.IntVar(&f.o.MaxLength, "max-seq-length", 0, "window length in tokens (default: training_args.json's, else 384, 4096 for Longformer; capped by the model)")
	fs.IntVar(&f.o.Stride, "doc-stride", 0, "context tokens shared by consecutive windows (default: training_args.json's, else 128)")
	fs.IntVar(&f.o.Threads, "threads", 0, "libtorch threads for the model (default: libtorch's)")
	fs.IntVar(&f.o.MaxBatch, "max-batch", serve.DefaultMaxBatch, "most windows per forward pass (1: no batching)")
	fs.DurationVar(&f.o.MaxWait, "max-wait", maxWait, "how long a partial batch waits for more requests")
	fs.IntVar(&f.o.QueueSize, "queue-size", serve.DefaultQueueSize, "pending jobs before callers block")
	return f
}

// load loads the model the flags name, logging to stderr.
func (f *serveModelFlags) load(stderr io.Writer) (*serve.Model, error) {
	if f.model == "" {
		return nil, errModelRequired
	}
	dev, err := f.parseDevice()
	if err != nil {
		return nil, err
	}
	o := f.o
	o.Tokenizer, o.Device, o.Log = f.tokenizer, dev, log.New(stderr, "", 0)
	return serve.Load(f.model, o)
}
