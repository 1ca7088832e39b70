// Command loadgen measures `spanqa serve` throughput for the GPU check (tests/gpu/check.sh):
// it writes a BERT model folder with random weights (bert-base's shape, or a tiny one for the
// CPU dry run), starts `spanqa serve` on a free loopback port, and for each number of
// concurrent clients sends POST /v1/answer requests for a bounded count and time, reporting
// requests per second and latency percentiles. It needs nothing beyond the repository: the
// vocabulary, the questions and the context words come from the synthetic data set of the
// embedded default, cut to SQuAD's typical context length (~120 words).
//
//	loadgen --spanqa bin/spanqa --size base --device cuda --clients 1,8,32 --output serve.json
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spanqa/spanqa/data/synthetic"
	"github.com/spanqa/spanqa/models"
	"github.com/spanqa/spanqa/torch"
)

// configs are the model shapes: bert-base-uncased's, and a tiny one for CPU dry runs. The
// vocabulary is the synthetic one (a few thousand words); bert-base keeps its 30522 rows so
// that the embedding and its cost are bert-base's.
var configs = map[string]map[string]any{
	"base": {"model_type": "bert", "vocab_size": 30522, "hidden_size": 768, "num_hidden_layers": 12,
		"num_attention_heads": 12, "intermediate_size": 3072, "hidden_act": "gelu", "max_position_embeddings": 512,
		"type_vocab_size": 2, "layer_norm_eps": 1e-12, "pad_token_id": 0, "initializer_range": 0.02},
	"tiny": {"model_type": "bert", "hidden_size": 64, "num_hidden_layers": 2,
		"num_attention_heads": 4, "intermediate_size": 128, "hidden_act": "gelu", "max_position_embeddings": 512,
		"type_vocab_size": 2, "layer_norm_eps": 1e-12, "pad_token_id": 0, "initializer_range": 0.02},
}

// Level is the result at one number of concurrent clients.
type Level struct {
	Clients  int     `json:"clients"`
	Requests int     `json:"requests"` // answered with 200
	Errors   int     `json:"errors"`
	Seconds  float64 `json:"seconds"`
	RPS      float64 `json:"requests_per_second"`
	P50ms    float64 `json:"p50_ms"`
	P99ms    float64 `json:"p99_ms"`
	MeanMs   float64 `json:"mean_ms"`
	// FirstError is the first failure's text, for the log.
	FirstError string `json:"first_error,omitempty"`
}

// Report is serve.json.
type Report struct {
	Device        string  `json:"device"`
	Size          string  `json:"size"`
	Parameters    int64   `json:"parameters"`
	MeanWords     float64 `json:"mean_context_words"`
	ServerArgs    string  `json:"server_args"`
	StartupSecond float64 `json:"server_startup_seconds"`
	Levels        []Level `json:"levels"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run() error {
	bin := flag.String("spanqa", "bin/spanqa", "the spanqa binary")
	size := flag.String("size", "base", "model shape: base (bert-base) or tiny")
	device := flag.String("device", "cpu", "device for spanqa serve: cpu, cuda or cuda:N")
	clients := flag.String("clients", "1,8,32", "comma-separated numbers of concurrent clients")
	requests := flag.Int("requests", 2000, "most requests per level (after warm-up)")
	duration := flag.Duration("duration", 8*time.Second, "most time per level")
	output := flag.String("output", "", "write the report here as JSON")
	serverLog := flag.String("server-log", "", "where spanqa serve's output goes (default: discarded)")
	workDir := flag.String("workdir", "", "where the model folder is written (default: a temporary folder, removed at exit)")
	flag.Parse()

	levels, err := parseClients(*clients)
	if err != nil {
		return err
	}
	if _, ok := configs[*size]; !ok {
		return fmt.Errorf("--size %q: want base or tiny", *size)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	dir := *workDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "spanqa-loadgen-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	rep := Report{Device: *device, Size: *size}
	t0 := time.Now()
	if rep.Parameters, err = writeModel(dir, *size); err != nil {
		return err
	}
	fmt.Printf("loadgen: %s model (%.1fM parameters, random weights) written in %.1fs\n", *size, float64(rep.Parameters)/1e6, time.Since(t0).Seconds())
	pairs := makePairs()
	words := 0
	for _, p := range pairs {
		words += len(strings.Fields(p.Context))
	}
	rep.MeanWords = float64(words) / float64(len(pairs))

	addr, err := freePort()
	if err != nil {
		return err
	}
	args := []string{"serve", "--model", dir, "--addr", addr, "--device", *device}
	rep.ServerArgs = strings.Join(args, " ")
	srv, err := startServer(*bin, args, *serverLog)
	if err != nil {
		return err
	}
	defer srv.stop()
	t0 = time.Now()
	base := "http://" + addr
	if err := waitHealthy(ctx, base, srv, 180*time.Second); err != nil {
		return err
	}
	rep.StartupSecond = time.Since(t0).Seconds()
	fmt.Printf("loadgen: spanqa serve ready on %s after %.1fs (%s); contexts average %.0f words\n", addr, rep.StartupSecond, *device, rep.MeanWords)

	failed := false
	fmt.Printf("%8s %9s %7s %9s %9s %9s %9s\n", "clients", "requests", "errors", "req/s", "p50 ms", "p99 ms", "mean ms")
	for _, c := range levels {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		l := measure(ctx, base+"/v1/answer", pairs, c, *requests, *duration)
		rep.Levels = append(rep.Levels, l)
		fmt.Printf("%8d %9d %7d %9.1f %9.2f %9.2f %9.2f\n", l.Clients, l.Requests, l.Errors, l.RPS, l.P50ms, l.P99ms, l.MeanMs)
		if l.Errors > 0 || l.Requests == 0 {
			failed = true
			fmt.Printf("loadgen: %d clients: %d errors, first: %s\n", c, l.Errors, l.FirstError)
		}
	}
	if *output != "" {
		data, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(*output, append(data, '\n'), 0o644); err != nil {
			return err
		}
	}
	if failed {
		return errors.New("some requests failed (see above and the server log)")
	}
	return nil
}

func parseClients(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("--clients %q: want positive integers", s)
		}
		out = append(out, n)
	}
	return out, nil
}

// writeModel writes config.json, model.safetensors (seeded random weights, HF's
// initialisation) and vocab.txt, and returns the parameter count.
func writeModel(dir, size string) (int64, error) {
	vocab := synthetic.Vocab()
	cfg := map[string]any{"architectures": []string{"BertForQuestionAnswering"}}
	for k, v := range configs[size] {
		cfg[k] = v
	}
	if _, ok := cfg["vocab_size"]; !ok {
		cfg["vocab_size"] = len(vocab)
	}
	data, _ := json.Marshal(cfg)
	c, err := models.ParseConfig(data)
	if err != nil {
		return 0, err
	}
	torch.ManualSeed(42)
	m, err := models.New(c, torch.CPU)
	if err != nil {
		return 0, err
	}
	defer m.Params().Free()
	if err := models.Save(m, dir); err != nil {
		return 0, err
	}
	if err := os.WriteFile(filepath.Join(dir, "vocab.txt"), []byte(strings.Join(vocab, "\n")+"\n"), 0o644); err != nil {
		return 0, err
	}
	return m.Params().Count(), nil
}

type pair struct {
	Question string `json:"question"`
	Context  string `json:"context"`
}

// makePairs cuts the synthetic contexts, joined into one stream of words, into contexts of
// 60 to 180 words (mean 120, SQuAD v1.1's mean context is ~120 words, ~160 tokens), each asked
// a question of the data set. The answers do not matter: the weights are random.
func makePairs() []pair {
	exs := synthetic.Generate(synthetic.DefaultEval)
	var words []string
	prev := ""
	for _, e := range exs {
		if e.Context != prev {
			words = append(words, strings.Fields(e.Context)...)
			prev = e.Context
		}
	}
	var out []pair
	for i, at := 0, 0; at < len(words); i++ {
		n := min(60+(i*37)%121, len(words)-at)
		out = append(out, pair{Question: exs[i%len(exs)].Question, Context: strings.Join(words[at:at+n], " ")})
		at += n
	}
	return out
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

type server struct {
	cmd  *exec.Cmd
	done chan error
}

func startServer(bin string, args []string, logPath string) (*server, error) {
	cmd := exec.Command(bin, args...)
	out := io.Discard
	if logPath != "" {
		f, err := os.Create(logPath)
		if err != nil {
			return nil, err
		}
		out = f
	}
	cmd.Stdout, cmd.Stderr = out, out
	// The server must not outlive loadgen, whatever kills loadgen (the check's timeout).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	s := &server{cmd: cmd, done: make(chan error, 1)}
	go func() { s.done <- cmd.Wait() }()
	return s, nil
}

// stop asks the server to shut down (SIGTERM drains requests) and kills it after 10 s.
func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

func waitHealthy(ctx context.Context, base string, s *server, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case err := <-s.done:
			s.done <- err
			return fmt.Errorf("spanqa serve exited before it was ready: %v (see the server log)", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return fmt.Errorf("spanqa serve not healthy after %s", limit)
}

// measure runs `clients` closed-loop clients (each sends its next request when the previous
// one is answered) until `total` requests are answered or `limit` has passed, after a warm-up
// of two requests per client that is not counted.
func measure(ctx context.Context, url string, pairs []pair, clients, total int, limit time.Duration) Level {
	tr := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	bodies := make([][]byte, len(pairs))
	for i, p := range pairs {
		bodies[i], _ = json.Marshal(p)
	}
	one := func(i int) error {
		resp, err := hc.Post(url, "application/json", bytes.NewReader(bodies[i%len(bodies)]))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
		}
		return nil
	}
	var wg sync.WaitGroup
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 2 {
				_ = one(w*2 + j)
			}
		}()
	}
	wg.Wait()

	var (
		mu       sync.Mutex
		lat      []float64
		errs     int
		firstErr string
		next     int
	)
	start := time.Now()
	deadline := start.Add(limit)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && time.Now().Before(deadline) {
				mu.Lock()
				if next >= total {
					mu.Unlock()
					return
				}
				i := next
				next++
				mu.Unlock()
				t := time.Now()
				err := one(i)
				d := time.Since(t).Seconds() * 1000
				mu.Lock()
				if err != nil {
					errs++
					if firstErr == "" {
						firstErr = err.Error()
					}
				} else {
					lat = append(lat, d)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	l := Level{Clients: clients, Requests: len(lat), Errors: errs, Seconds: secs, FirstError: firstErr}
	if len(lat) > 0 {
		slices.Sort(lat)
		sum := 0.0
		for _, v := range lat {
			sum += v
		}
		l.RPS = float64(len(lat)) / secs
		l.P50ms, l.P99ms, l.MeanMs = percentile(lat, 0.50), percentile(lat, 0.99), sum/float64(len(lat))
	}
	return l
}

// percentile of sorted values, nearest rank.
func percentile(sorted []float64, p float64) float64 {
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}
