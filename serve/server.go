package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// ServerConfig configures a Server.
type ServerConfig struct {
	// Limits bound each request (see Limits for the defaults).
	Limits Limits
	// Timeout bounds the answering of one request, queueing included (default 30 s); a request
	// that runs out gets 504.
	Timeout time.Duration
	// ShutdownTimeout bounds how long Serve waits for requests in flight after its context ends
	// (default 60 s).
	ShutdownTimeout time.Duration
	// ReadHeaderTimeout bounds the arrival of a request's headers (default 10 s), ReadTimeout
	// that of the whole request, body included (default Timeout + 10 s): a client trickling its
	// headers or body (slow loris) holds a connection no longer. A body that does not arrive in
	// time gets 408.
	ReadHeaderTimeout, ReadTimeout time.Duration
	// IdleTimeout is how long a keep-alive connection may wait for its next request (default
	// 2 min).
	IdleTimeout time.Duration
	// MaxConnections bounds the open connections (default 1024); one more is answered 503 and
	// closed at once, so that idle or slow clients cannot exhaust file descriptors and memory.
	MaxConnections int
	// Log receives server errors and lifecycle lines (default: discarded).
	Log *log.Logger
}

// Server is the HTTP front of a Model:
//
//	POST /v1/answer   one pair {"question", "context", options...} or a list {"pairs": [...]}
//	GET  /healthz     {"status": "ok", "model": {...}}, 503 while shutting down
//	GET  /metrics     Prometheus metrics
//	GET  /            a web page to ask questions by hand
//
// Concurrent requests are batched by the model's worker. Errors are JSON:
// {"error": "...", "status": 400}.
type Server struct {
	model    *Model
	cfg      ServerConfig
	log      *log.Logger
	metrics  *metrics
	unhook   func()
	draining atomic.Bool
	handlers map[string]http.Handler
	notFound http.Handler
}

// NewServer makes a server for m. The caller keeps ownership of m (close it after Serve
// returns); Close detaches the server from it.
func NewServer(m *Model, cfg ServerConfig) *Server {
	cfg.Limits = cfg.Limits.withDefaults()
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 60 * time.Second
	}
	if cfg.ReadHeaderTimeout <= 0 {
		cfg.ReadHeaderTimeout = 10 * time.Second
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = cfg.Timeout + 10*time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 2 * time.Minute
	}
	if cfg.MaxConnections <= 0 {
		cfg.MaxConnections = 1024
	}
	s := &Server{model: m, cfg: cfg, log: cfg.Log}
	if s.log == nil {
		s.log = log.New(io.Discard, "", 0)
	}
	s.metrics = newMetrics(func() float64 { return float64(m.QueueLength()) })
	s.unhook = m.Observe(s.metrics.observeBatch)
	s.handlers = map[string]http.Handler{
		"/v1/answer": s.instrument("answer", http.MethodPost, s.answer),
		"/healthz":   s.instrument("healthz", http.MethodGet, s.healthz),
		"/metrics":   s.instrument("metrics", http.MethodGet, promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{}).ServeHTTP),
		"/":          s.instrument("page", http.MethodGet, s.page),
	}
	s.notFound = s.instrument("not_found", "", func(w http.ResponseWriter, r *http.Request) {
		s.metrics.errors.WithLabelValues("not_found", "not_found").Inc()
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such endpoint: %s (there are /, /v1/answer, /healthz and /metrics)", r.URL.Path))
	})
	return s
}

// Close detaches the server's metrics from the model. It does not close the model.
func (s *Server) Close() { s.unhook() }

// ServeHTTP routes a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h, ok := s.handlers[r.URL.Path]
	if !ok {
		h = s.notFound
	}
	h.ServeHTTP(w, r)
}

// Serve serves HTTP on ln until ctx ends, then shuts down gracefully: it stops accepting
// connections, reports 503 on /healthz, and waits (up to ShutdownTimeout) for the requests in
// flight to be answered. It returns nil after a clean shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.ReadTimeout + s.cfg.Timeout + 10*time.Second,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          s.log,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(s.limit(ln)) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.draining.Store(true)
	s.log.Printf("shutting down: waiting for requests in flight (at most %s)", s.cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	<-errc // http.ErrServerClosed, once Serve has returned
	if err != nil {
		return fmt.Errorf("serve: shutdown: %w", err)
	}
	return nil
}

// answer is POST /v1/answer.
func (s *Server) answer(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.Limits.MaxBodyBytes))
	var tooBig *http.MaxBytesError
	var netErr net.Error
	switch {
	case errors.As(err, &tooBig):
		s.fail(w, "answer", tooLarge("the request body is larger than %d bytes", tooBig.Limit))
		return
	case errors.As(err, &netErr) && netErr.Timeout():
		s.fail(w, "answer", fmt.Errorf("%w: the request did not arrive within %s", errSlowBody, s.cfg.ReadTimeout))
		return
	case err != nil:
		s.fail(w, "answer", inputError("reading the request body: %v", err))
		return
	}
	req, err := parseRequest(body, s.cfg.Limits)
	if err != nil {
		s.fail(w, "answer", err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Timeout)
	defer cancel()
	results, err := s.model.AnswerBatch(ctx, req.pairs, req.opts)
	if err != nil {
		s.fail(w, "answer", err)
		return
	}
	s.metrics.pairs.Add(float64(len(results)))
	out := make([]resultJSON, len(results))
	for i := range results {
		out[i] = resultJSON{ID: req.ids[i], Result: results[i]}
	}
	if req.list {
		writeJSON(w, http.StatusOK, map[string]any{"results": out})
		return
	}
	writeJSON(w, http.StatusOK, out[0])
}

// resultJSON is a Result with the pair's id echoed.
type resultJSON struct {
	ID json.RawMessage `json:"id,omitempty"`
	Result
}

// healthz is GET /healthz.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "shutting down"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "model": s.model.Info(), "queue": s.model.QueueLength()})
}

// fail answers an error with its status and counts it.
func (s *Server) fail(w http.ResponseWriter, handler string, err error) {
	status, reason := classify(err)
	if status >= 500 && reason != "unavailable" {
		s.log.Printf("%s: %v", handler, err)
	}
	s.metrics.errors.WithLabelValues(handler, reason).Inc()
	msg := err.Error()
	if reason == "timeout" {
		msg = fmt.Sprintf("the request took longer than %s", s.cfg.Timeout)
	}
	writeError(w, status, msg)
}

// classify maps an error to an HTTP status and a metrics reason.
func classify(err error) (int, string) {
	switch {
	case errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge, "too_large"
	case errors.Is(err, ErrInvalidInput):
		return http.StatusBadRequest, "invalid_input"
	case errors.Is(err, errSlowBody):
		return http.StatusRequestTimeout, "slow_body"
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, "timeout"
	case errors.Is(err, context.Canceled):
		return 499, "canceled" // the client went away (nginx's code); nobody reads the body
	case errors.Is(err, ErrClosed):
		return http.StatusServiceUnavailable, "unavailable"
	}
	return http.StatusInternalServerError, "internal"
}

// errorJSON is every error response's body.
type errorJSON struct {
	Error  string `json:"error"`
	Status int    `json:"status"`
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorJSON{Error: msg, Status: status})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		// Only a NaN or infinite score could get here; say so rather than send half a body.
		status, data = http.StatusInternalServerError, []byte(fmt.Sprintf(`{"error":%q,"status":500}`, "encoding the response: "+err.Error()))
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(data, '\n'))
}
