package serve

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"time"
)

// ServeCommand is `spanqa serve`: the HTTP server (see Server) on --addr until ctx ends (SIGTERM
// or Ctrl-C), then a graceful shutdown in which the requests in flight are answered.
func ServeCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var mf modelFlags
	mf.register(fs, defaultMaxBatch, 5*time.Millisecond)
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on")
	var lim Limits
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
	m, err := mf.load(stderr)
	if err != nil {
		return err
	}
	defer m.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := NewServer(m, ServerConfig{Limits: lim, Timeout: *timeout, ShutdownTimeout: *shutdown, Log: logger,
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
