package serve

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	dto "github.com/prometheus/client_model/go"
	"github.com/spanqa/spanqa/internal/fixtures"
	"github.com/spanqa/spanqa/models"
	"github.com/spanqa/spanqa/torch"
)

// loadPairs are the questions of the load tests: short and long contexts, so that batches mix
// lengths and some requests need several windows.
var loadPairs = []Pair{
	{testQuestion, testContext},
	{"Which river flows through Paris?", "The Seine flows through Paris and into the English Channel at Le Havre."},
	{"Who wrote Pride and Prejudice?", "Pride and Prejudice is an 1813 novel of manners written by Jane Austen. The novel follows the character development of Elizabeth Bennet."},
	{"When did Apollo 11 land?", "Apollo 11 was the American spaceflight that first landed humans on the Moon. Commander Neil Armstrong and lunar module pilot Buzz Aldrin landed the Apollo Lunar Module Eagle on July 20, 1969."},
	{"What is the tallest mountain?", strings.Repeat("Mountains are high. ", 25) + "Mount Everest is the tallest mountain on Earth above sea level."},
	{"Qui a écrit Germinal ?", "Émile Zola a écrit Germinal en 1885 ; le roman décrit une grève de mineurs dans le nord de la France."},
}

// loadStats summarises one load run.
type loadStats struct {
	requests   int
	elapsed    time.Duration
	throughput float64 // requests per second
	p50, p99   time.Duration
	meanBatch  float64 // windows per forward pass
}

func (s loadStats) String() string {
	return fmt.Sprintf("%d requests in %s: %.1f req/s, p50 %s, p99 %s, %.1f windows per forward pass",
		s.requests, s.elapsed.Round(time.Millisecond), s.throughput, s.p50.Round(100*time.Microsecond), s.p99.Round(100*time.Microsecond), s.meanBatch)
}

// runLoad serves m on loopback and sends n requests from c concurrent clients. It requires that
// no request is lost or mixed up (every one answered 200 with its own id and the answer m gives
// that pair alone), and that live tensors, goroutines and RSS come back to their level before the
// run once the server has shut down.
func runLoad(t *testing.T, m *Model, n, c, warmup int) loadStats {
	t.Helper()
	want := make([]string, len(loadPairs))
	for i, p := range loadPairs {
		r, err := m.Answer(t.Context(), p.Question, p.Context, AnswerOptions{})
		require.NoError(t, err)
		want[i] = r.Text
	}
	// A warm-up run fills the allocator's pools and the tokenizer's cache, so that the baseline
	// below is the steady state rather than a cold start.
	cfg := ServerConfig{Timeout: 10 * time.Minute} // this measures latency; it does not test timeouts
	warm := startServer(t, m, cfg)
	send(t, warm, warmup, c, want)
	require.NoError(t, warm.shutdown(t))
	warm.Close()

	rss, goroutines, tensors := settledRSS(t), settledGoroutines(), torch.SettledLiveTensors()

	ts := startServer(t, m, cfg)
	stats := send(t, ts, n, c, want)
	fams := ts.metricFamilies(t)
	windows := metricSum(fams, "spanqa_batch_windows")
	passes := metricValue(fams, "spanqa_batch_windows", nil)
	stats.meanBatch = windows / passes
	require.Equal(t, float64(n), metricValue(fams, "spanqa_http_requests_total", map[string]string{"handler": "answer", "code": "200"}))
	require.NoError(t, ts.shutdown(t))
	ts.Close()

	require.Equal(t, tensors, torch.SettledLiveTensors(), "live tensors after the load")
	waitFor(t, 10*time.Second, func() bool { return runtime.NumGoroutine() <= goroutines })
	after := settledRSS(t)
	t.Logf("RSS %.1f MiB before, %.1f MiB after; %d goroutines before, %d after; %d live tensors", float64(rss)/(1<<20), float64(after)/(1<<20), goroutines, runtime.NumGoroutine(), tensors)
	require.Less(t, after, rss+rss/20+16<<20, "RSS must come back to its level before the load (5%% + 16 MiB)")
	return stats
}

// send posts n requests from c clients and checks every reply.
func send(t *testing.T, ts *testServer, n, c int, want []string) loadStats {
	t.Helper()
	latencies := make([]time.Duration, n)
	errs := make(chan error, n)
	next := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for range c {
		wg.Go(func() {
			for i := range next {
				t0 := time.Now()
				err := sendOne(ts, i, want)
				latencies[i] = time.Since(t0)
				if err != nil {
					errs <- fmt.Errorf("request %d: %w", i, err)
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	var failures []string
	for err := range errs {
		failures = append(failures, err.Error())
	}
	require.Empty(t, failures, "lost or wrong requests")
	slices.Sort(latencies)
	return loadStats{requests: n, elapsed: elapsed, throughput: float64(n) / elapsed.Seconds(),
		p50: latencies[n/2], p99: latencies[min(n-1, n*99/100)]}
}

// sendOne posts request i and checks that the reply is its own and right.
func sendOne(ts *testServer, i int, want []string) error {
	k := i % len(loadPairs)
	body, _ := json.Marshal(map[string]any{"id": i, "question": loadPairs[k].Question, "context": loadPairs[k].Context})
	res, err := ts.client.Post(ts.URL+"/v1/answer", "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d: %s", res.StatusCode, data)
	}
	var r struct {
		ID int `json:"id"`
		Result
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return err
	}
	if r.ID != i || r.Text != want[k] {
		return fmt.Errorf("got id %d answer %q, want id %d answer %q", r.ID, r.Text, i, want[k])
	}
	return nil
}

// metricSum is the sum of a histogram's observations.
func metricSum(fams map[string]*dto.MetricFamily, name string) float64 {
	total := 0.0
	for _, m := range fams[name].GetMetric() {
		total += m.GetHistogram().GetSampleSum()
	}
	return total
}

// settledRSS is the resident set size once the worker has been idle long enough to release
// freed memory, with the Go heap's free memory released too.
func settledRSS(t *testing.T) int {
	time.Sleep(2 * idleRelease)
	runtime.GC()
	debug.FreeOSMemory()
	return residentBytes(t)
}

// settledGoroutines is the number of goroutines once it has stopped changing for 100 ms (the
// connections of a server that just shut down take a moment to end), or after 5 s.
func settledGoroutines() int {
	n, stable := runtime.NumGoroutine(), 0
	for range 250 {
		time.Sleep(20 * time.Millisecond)
		if m := runtime.NumGoroutine(); m != n {
			n, stable = m, 0
			continue
		}
		if stable++; stable == 5 {
			break
		}
	}
	return n
}

// residentBytes is the process's resident set size, from /proc/self/status.
func residentBytes(t *testing.T) int {
	t.Helper()
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("SKIPPED LOUDLY: no /proc/self/status to measure RSS: %v", err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "VmRSS:" {
			kb, err := strconv.Atoi(f[1])
			require.NoError(t, err)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}

// TestLoad: 2,000 requests from 32 concurrent clients on loopback against the tiny BERT
// fixture, with batching; nothing lost, nothing leaked.
func TestLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIPPED LOUDLY: load test in -short mode")
	}
	m := loadTestModel(t, "bert", Options{MaxBatch: 32, MaxWait: 2 * time.Millisecond, Threads: 1})
	stats := runLoad(t, m, 2000, 32, 256)
	t.Logf("tiny BERT, batching on: %s", stats)
	require.Greater(t, stats.meanBatch, 1.0, "concurrent requests must share forward passes")
}

// TestLoadBertBase measures a bert-base-sized model (random weights, the real bert-base-uncased
// vocabulary) under load with batching on and off. It takes minutes on two cores, so it runs
// only with SPANQA_LOAD_BASE=1; SPANQA_LOAD_REQUESTS changes the number of requests (2000).
// Set the test timeout accordingly (-timeout 2h on a busy two-core machine).
func TestLoadBertBase(t *testing.T) {
	if os.Getenv("SPANQA_LOAD_BASE") != "1" {
		t.Skip("SKIPPED LOUDLY: set SPANQA_LOAD_BASE=1 for the bert-base load test (minutes)")
	}
	n := 2000
	if v := os.Getenv("SPANQA_LOAD_REQUESTS"); v != "" {
		var err error
		n, err = strconv.Atoi(v)
		require.NoError(t, err)
	}
	dir := bertBaseDir(t)
	for _, mode := range []struct {
		name string
		o    Options
	}{
		{"batching on (spanqa serve's defaults: max batch 16, max wait 5ms)", Options{MaxBatch: 16, MaxWait: 5 * time.Millisecond}},
		{"batching off (max batch 1)", Options{MaxBatch: 1}},
	} {
		m, err := Load(dir, mode.o)
		require.NoError(t, err)
		stats := runLoad(t, m, n, 32, 64)
		require.NoError(t, m.Close())
		t.Logf("bert-base, %s: %s", mode.name, stats)
	}
}

// bertBaseDir writes a bert-base-uncased-sized model with random weights (models.New) and the
// real bert-base-uncased vocabulary into a temporary folder.
func bertBaseDir(t *testing.T) string {
	t.Helper()
	vocab := fixtures.Tokenizers(t, "bert-base-uncased", "vocab.txt")
	dir := t.TempDir()
	cfg, err := models.ParseConfig([]byte(`{"model_type": "bert", "vocab_size": 30522, "hidden_size": 768, "num_hidden_layers": 12,
		"num_attention_heads": 12, "intermediate_size": 3072, "max_position_embeddings": 512}`))
	require.NoError(t, err)
	torch.ManualSeed(42)
	m, err := models.New(cfg, torch.CPU)
	require.NoError(t, err)
	defer m.Params().Free()
	require.NoError(t, models.Save(m, dir))
	data, err := os.ReadFile(vocab)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "vocab.txt"), data, 0o644))
	return dir
}
