package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
)

// testServer is a Server serving on a loopback port.
type testServer struct {
	*Server
	URL    string
	client *http.Client
	stop   context.CancelFunc
	done   chan error
}

// startServer serves m on 127.0.0.1 (a free port) until the test ends or shutdown is called.
func startServer(t testing.TB, m *Model, cfg ServerConfig) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{Server: NewServer(m, cfg), URL: "http://" + ln.Addr().String(), stop: cancel, done: make(chan error, 1),
		client: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	go func() { ts.done <- ts.Serve(ctx, ln) }()
	t.Cleanup(func() {
		ts.shutdown(t)
		ts.Close()
	})
	return ts
}

// shutdown stops the server and waits (bounded) for Serve to return; it may be called twice.
func (ts *testServer) shutdown(t testing.TB) error {
	t.Helper()
	ts.stop()
	ts.client.CloseIdleConnections()
	select {
	case err, ok := <-ts.done:
		if ok {
			close(ts.done)
		}
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("the server did not shut down within 30 s")
		return nil
	}
}

// post sends body to path and returns the status and the response body.
func (ts *testServer) post(t testing.TB, path string, body []byte) (int, []byte) {
	t.Helper()
	res, err := ts.client.Post(ts.URL+path, "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, data
}

// get fetches path.
func (ts *testServer) get(t testing.TB, path string) (int, http.Header, []byte) {
	t.Helper()
	res, err := ts.client.Get(ts.URL + path)
	require.NoError(t, err)
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, res.Header, data
}

// metricFamilies scrapes /metrics and parses it as the Prometheus text format.
func (ts *testServer) metricFamilies(t testing.TB) map[string]*dto.MetricFamily {
	t.Helper()
	status, h, body := ts.get(t, "/metrics")
	require.Equal(t, http.StatusOK, status)
	require.True(t, strings.HasPrefix(h.Get("Content-Type"), "text/plain"), h.Get("Content-Type"))
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	require.NoError(t, err)
	return fams
}

// metricValue sums the counter, gauge or histogram count of a family over the series whose
// labels include want.
func metricValue(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	f, ok := fams[name]
	if !ok {
		return -1
	}
	total := 0.0
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		match := true
		for k, v := range want {
			if labels[k] != v {
				match = false
			}
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			total += m.Counter.GetValue()
		case m.Gauge != nil:
			total += m.Gauge.GetValue()
		case m.Histogram != nil:
			total += float64(m.Histogram.GetSampleCount())
		}
	}
	return total
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	data, err := json.Marshal(v)
	require.NoError(t, err)
	return data
}
