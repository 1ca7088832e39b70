package serve

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/spanqa/spanqa/internal/fuzzcorpus"
	"github.com/spanqa/spanqa/torch"
)

// memSnapshot is what must come back to where it was once abusive clients are gone.
type memSnapshot struct {
	goroutines int
	heap       uint64 // HeapInuse after a collection
	live       int64  // libtorch tensor handles
}

func snapshot() memSnapshot {
	live := torch.SettledLiveTensors()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memSnapshot{goroutines: runtime.NumGoroutine(), heap: ms.HeapInuse, live: live}
}

// requireFlat waits (bounded) for goroutines to wind down, then compares with before.
func requireFlat(t *testing.T, before memSnapshot, heapSlack uint64) memSnapshot {
	t.Helper()
	var after memSnapshot
	deadline := time.Now().Add(10 * time.Second)
	for {
		after = snapshot()
		if after.goroutines <= before.goroutines+2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	require.LessOrEqual(t, after.goroutines, before.goroutines+2, "goroutines %d -> %d", before.goroutines, after.goroutines)
	require.Equal(t, before.live, after.live, "live tensors")
	require.LessOrEqual(t, after.heap, before.heap+heapSlack, "heap in use %d -> %d KiB", before.heap>>10, after.heap>>10)
	return after
}

// closedWithin reads c until the server closes it (or limit passes) and returns what came and
// how long it took.
func closedWithin(c net.Conn, limit time.Duration) ([]byte, time.Duration, bool) {
	start := time.Now()
	c.SetReadDeadline(start.Add(limit))
	data, err := io.ReadAll(c)
	var ne net.Error
	timedOut := err != nil && errorsAs(err, &ne) && ne.Timeout()
	return data, time.Since(start), !timedOut
}

func errorsAs(err error, target *net.Error) bool {
	ne, ok := err.(net.Error)
	if ok {
		*target = ne
	}
	return ok
}

// TestServerSlowClientsAndIdleConnections attacks a real loopback listener: clients that
// trickle their headers or their body (slow loris), a crowd of idle keep-alive connections at
// the connection limit, and connections past it. Each is cut off by its timeout or refused
// with a 503 that says why, the server keeps answering, and once the clients are gone its
// goroutines, heap and tensors are back where they were.
func TestServerSlowClientsAndIdleConnections(t *testing.T) {
	m := loadTestModel(t, "bert", Options{})
	const maxConns = 200
	cfg := ServerConfig{ReadHeaderTimeout: 300 * time.Millisecond, ReadTimeout: time.Second, IdleTimeout: 3 * time.Second,
		MaxConnections: maxConns, Timeout: 5 * time.Second}
	ts := startServer(t, m, cfg)
	addr := strings.TrimPrefix(ts.URL, "http://")
	good := mustJSON(t, map[string]string{"question": testQuestion, "context": testContext})
	status, _ := ts.post(t, "/v1/answer", good) // the worker's one-off allocations
	require.Equal(t, http.StatusOK, status)
	ts.client.CloseIdleConnections()
	before := snapshot()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		return c
	}

	// Slow headers: a header line every 50 ms, never the blank line that ends them.
	var wg sync.WaitGroup
	for range 40 {
		c := dial()
		wg.Go(func() {
			go func() {
				fmt.Fprintf(c, "POST /v1/answer HTTP/1.1\r\nHost: x\r\n")
				for i := 0; i < 100; i++ {
					time.Sleep(50 * time.Millisecond)
					if _, err := fmt.Fprintf(c, "X-Slow-%d: 1\r\n", i); err != nil {
						return
					}
				}
			}()
			data, took, closed := closedWithin(c, 5*time.Second)
			require.True(t, closed, "slow headers: connection still open after %s", took)
			require.Less(t, took, cfg.ReadHeaderTimeout+2*time.Second)
			if len(data) > 0 {
				require.True(t, bytes.HasPrefix(data, []byte("HTTP/1.1 408")), "slow headers got %q", data)
			}
		})
	}
	// Slow bodies: complete headers, then a byte every 50 ms of a 500-byte body.
	for range 20 {
		c := dial()
		wg.Go(func() {
			fmt.Fprintf(c, "POST /v1/answer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{")
			go func() {
				for i := 0; i < 100; i++ {
					time.Sleep(50 * time.Millisecond)
					if _, err := c.Write([]byte(" ")); err != nil {
						return
					}
				}
			}()
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			start := time.Now()
			res, err := http.ReadResponse(bufio.NewReader(c), nil)
			require.NoError(t, err, "slow body: no reply")
			defer res.Body.Close()
			require.Less(t, time.Since(start), cfg.ReadTimeout+2*time.Second)
			require.Equal(t, http.StatusRequestTimeout, res.StatusCode)
			var e errorJSON
			require.NoError(t, json.NewDecoder(res.Body).Decode(&e))
			require.Equal(t, http.StatusRequestTimeout, e.Status)
			require.Contains(t, e.Error, "did not arrive within 1s")
		})
	}
	wg.Wait()

	// Idle keep-alive connections up to the limit: each asks once, then stays silent.
	idle := make([]net.Conn, maxConns)
	for i := range idle {
		idle[i] = dial()
		fmt.Fprintf(idle[i], "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		res, err := http.ReadResponse(bufio.NewReader(idle[i]), nil)
		require.NoError(t, err)
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		require.Equal(t, http.StatusOK, res.StatusCode)
	}
	crowd := snapshot()
	// Past the limit: a 503 that says why, then the connection is closed.
	for range 20 {
		c := dial()
		fmt.Fprintf(c, "POST /v1/answer HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", len(good), good)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		require.NoError(t, err)
		require.Equal(t, http.StatusServiceUnavailable, res.StatusCode)
		var e errorJSON
		require.NoError(t, json.NewDecoder(res.Body).Decode(&e))
		res.Body.Close()
		require.Contains(t, e.Error, "too many connections")
	}
	// The idle ones are closed by the server once IdleTimeout has passed.
	for i, c := range idle {
		_, took, closed := closedWithin(c, cfg.IdleTimeout+5*time.Second)
		require.True(t, closed, "idle connection %d still open after %s", i, took)
	}
	// And the server answers again.
	status, body := ts.post(t, "/v1/answer", good)
	require.Equal(t, http.StatusOK, status, string(body))
	ts.client.CloseIdleConnections()
	waitFor(t, 5*time.Second, func() bool {
		return metricValue(ts.metricFamilies(t), "spanqa_http_connections_open", nil) <= 1 // the scrape's own
	})
	ts.client.CloseIdleConnections()
	fams := ts.metricFamilies(t)
	require.Equal(t, 20.0, metricValue(fams, "spanqa_http_connections_rejected_total", nil))
	require.Equal(t, 20.0, metricValue(fams, "spanqa_http_errors_total", map[string]string{"reason": "slow_body"}))
	ts.client.CloseIdleConnections()
	after := requireFlat(t, before, 4<<20)
	t.Logf("%d idle connections: %d goroutines, heap %+d KiB (%.1f KiB each); after they are gone: goroutines %d -> %d, heap %d -> %d KiB",
		maxConns, crowd.goroutines, int64(crowd.heap-before.heap)>>10, float64(crowd.heap-before.heap)/1024/maxConns,
		before.goroutines, after.goroutines, before.heap>>10, after.heap>>10)
}

// TestServerBadInputMemoryFlat hammers the answer handler with the fuzz corpus and thousands of
// random corruptions of it: every reply keeps FuzzServeAnswer's invariants, and tensors,
// goroutines and the heap stay where they were after a warm-up round.
func TestServerBadInputMemoryFlat(t *testing.T) {
	m := loadTestModel(t, "bert", Options{MaxLength: 64, Stride: 16})
	s := NewServer(m, ServerConfig{Limits: fuzzLimits, Timeout: time.Minute})
	defer s.Close()
	corpus := fuzzcorpus.Read(t, "testdata/fuzz/FuzzServeAnswer")
	rng := rand.New(rand.NewPCG(1, 2))
	mutate := func(b []byte) []byte { return fuzzcorpus.Mutate(rng, b) }
	round := func(n int) map[int]int {
		statuses := map[int]int{}
		for i := range n {
			body := corpus[i%len(corpus)]
			if i >= len(corpus) {
				body = mutate(body)
			}
			statuses[checkAnswerResponse(t, s, body)]++
		}
		return statuses
	}
	round(len(corpus))
	before := snapshot()
	statuses := round(3000)
	after := requireFlat(t, before, 2<<20)
	t.Logf("3000 requests: statuses %v; goroutines %d -> %d, heap %d -> %d KiB, live tensors %d -> %d",
		statuses, before.goroutines, after.goroutines, before.heap>>10, after.heap>>10, before.live, after.live)
}
