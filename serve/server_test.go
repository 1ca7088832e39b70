package serve

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const (
	testQuestion = "What is the capital of France?"
	testContext  = "Paris is the capital and most populous city of France. It is located on the Seine river, in the north of the country."
)

func TestServerAnswer(t *testing.T) {
	m := loadTestModel(t, "bert", Options{MaxWait: time.Millisecond})
	ts := startServer(t, m, ServerConfig{})
	want, err := m.Answer(context.Background(), testQuestion, testContext, AnswerOptions{TopK: 3, AllowNull: true})
	require.NoError(t, err)

	// One pair.
	status, body := ts.post(t, "/v1/answer", mustJSON(t, map[string]any{"question": testQuestion, "context": testContext, "top_k": 3, "allow_null": true}))
	require.Equal(t, http.StatusOK, status, string(body))
	var got Result
	require.NoError(t, json.Unmarshal(body, &got))
	require.Equal(t, want.Text, got.Text)
	require.Equal(t, []int{want.Start, want.End, want.ByteStart, want.ByteEnd}, []int{got.Start, got.End, got.ByteStart, got.ByteEnd})
	require.InDelta(t, want.Probability, got.Probability, 1e-6)
	require.Len(t, got.TopK, 3)
	require.NotNil(t, got.NullScoreDiff)

	// A list, as {"pairs": [...]} and as a bare array: ids come back, order is kept.
	pairs := []map[string]any{
		{"id": "a", "question": testQuestion, "context": testContext},
		{"id": 2, "question": "Which river?", "context": "The Seine flows through Paris."},
		{"question": "Où?", "context": "À Paris, près de la Seine — été 2024."},
	}
	for _, req := range []any{map[string]any{"pairs": pairs}, pairs} {
		status, body = ts.post(t, "/v1/answer", mustJSON(t, req))
		require.Equal(t, http.StatusOK, status, string(body))
		var list struct {
			Results []struct {
				ID json.RawMessage `json:"id"`
				Result
			} `json:"results"`
		}
		require.NoError(t, json.Unmarshal(body, &list))
		require.Len(t, list.Results, 3)
		require.Equal(t, `"a"`, string(list.Results[0].ID))
		require.Equal(t, `2`, string(list.Results[1].ID))
		require.Nil(t, list.Results[2].ID)
		require.Equal(t, want.Text, list.Results[0].Text)
		for i, r := range list.Results {
			checkOffsets(t, pairs[i]["context"].(string), r.Answer)
		}
	}
}

func TestServerHealthzPageAndMetrics(t *testing.T) {
	m := loadTestModel(t, "bert", Options{})
	ts := startServer(t, m, ServerConfig{})

	status, h, body := ts.get(t, "/healthz")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "application/json", h.Get("Content-Type"))
	var health struct {
		Status string `json:"status"`
		Model  Info   `json:"model"`
	}
	require.NoError(t, json.Unmarshal(body, &health))
	require.Equal(t, "ok", health.Status)
	require.Equal(t, m.Info(), health.Model)

	status, h, body = ts.get(t, "/")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "text/html; charset=utf-8", h.Get("Content-Type"))
	require.Contains(t, string(body), `id="question"`)

	for range 3 {
		status, _ := ts.post(t, "/v1/answer", mustJSON(t, map[string]string{"question": testQuestion, "context": testContext}))
		require.Equal(t, http.StatusOK, status)
	}
	status, _ = ts.post(t, "/v1/answer", []byte(`{"question": ""}`))
	require.Equal(t, http.StatusBadRequest, status)

	fams := ts.metricFamilies(t)
	require.Equal(t, 3.0, metricValue(fams, "spanqa_http_requests_total", map[string]string{"handler": "answer", "code": "200"}))
	require.Equal(t, 1.0, metricValue(fams, "spanqa_http_requests_total", map[string]string{"handler": "answer", "code": "400"}))
	require.Equal(t, 1.0, metricValue(fams, "spanqa_http_requests_total", map[string]string{"handler": "healthz", "code": "200"}))
	require.Equal(t, 4.0, metricValue(fams, "spanqa_http_request_duration_seconds", map[string]string{"handler": "answer"}))
	require.Equal(t, 1.0, metricValue(fams, "spanqa_http_errors_total", map[string]string{"handler": "answer", "reason": "invalid_input"}))
	require.Equal(t, 3.0, metricValue(fams, "spanqa_answered_pairs_total", nil))
	require.Equal(t, 3.0, metricValue(fams, "spanqa_batch_windows", nil), "one forward pass per request")
	require.Equal(t, 3.0, metricValue(fams, "spanqa_batch_requests", nil))
	require.Equal(t, 3.0, metricValue(fams, "spanqa_forward_duration_seconds", nil))
	require.Equal(t, 0.0, metricValue(fams, "spanqa_forward_errors_total", nil))
	require.Equal(t, 0.0, metricValue(fams, "spanqa_queue_length", nil))
	require.Equal(t, 1.0, metricValue(fams, "spanqa_http_requests_in_flight", nil), "the scrape itself")
	require.Contains(t, fams, "go_goroutines")
}

// TestServerBadInput sends every kind of bad request: each gets a 4xx with a JSON error that
// says what is wrong, and the server keeps answering good requests afterwards.
func TestServerBadInput(t *testing.T) {
	m := loadTestModel(t, "bert", Options{})
	lim := Limits{MaxBodyBytes: 4096, MaxPairs: 3, MaxContextBytes: 1000, MaxQuestionBytes: 300}
	ts := startServer(t, m, ServerConfig{Limits: lim})
	long := strings.Repeat("word ", 150) // 750 bytes: within limits, beyond a 128-token window
	cases := []struct {
		name   string
		method string
		path   string
		body   string
		status int
		msg    string
	}{
		{"invalid JSON", "POST", "/v1/answer", `{"question": "a", "context": }`, 400, "invalid JSON at byte"},
		{"truncated JSON", "POST", "/v1/answer", `{"question": "a"`, 400, "unexpected end"},
		{"empty body", "POST", "/v1/answer", ``, 400, "the request body is empty"},
		{"not an object", "POST", "/v1/answer", `"What?"`, 400, "must be a JSON object or array"},
		{"trailing data", "POST", "/v1/answer", `{"question": "a", "context": "b"} {}`, 400, "unexpected data after"},
		{"missing question", "POST", "/v1/answer", `{"context": "Paris."}`, 400, `missing field "question"`},
		{"missing context", "POST", "/v1/answer", `{"question": "Where?"}`, 400, `missing field "context"`},
		{"empty question", "POST", "/v1/answer", `{"question": "", "context": "Paris."}`, 400, "question is empty"},
		{"blank context", "POST", "/v1/answer", `{"question": "Where?", "context": " \n\t "}`, 400, "context is empty"},
		{"question of the wrong type", "POST", "/v1/answer", `{"question": 42, "context": "Paris."}`, 400, `field "question" must be a string`},
		{"unknown field", "POST", "/v1/answer", `{"question": "Where?", "context": "Paris.", "topk": 2}`, 400, `unknown field "topk"`},
		{"both forms", "POST", "/v1/answer", `{"question": "Where?", "context": "Paris.", "pairs": []}`, 400, "not both"},
		{"no pairs", "POST", "/v1/answer", `{"pairs": []}`, 400, "no pairs"},
		{"empty array", "POST", "/v1/answer", `[]`, 400, "no pairs"},
		{"bad pair in a list", "POST", "/v1/answer", `{"pairs": [{"question": "a", "context": "b"}, {"question": "a"}]}`, 400, `pairs[1]: invalid input: missing field "context"`},
		{"bad top_k", "POST", "/v1/answer", `{"question": "Where?", "context": "Paris.", "top_k": -1}`, 400, "top_k -1"},
		{"huge top_k", "POST", "/v1/answer", `{"question": "Where?", "context": "Paris.", "top_k": 100000}`, 400, "top_k 100000"},
		{"question too long for the window", "POST", "/v1/answer", `{"question": "` + strings.Repeat("qxz ", 70) + `", "context": "Paris."}`, 400, "question is too long"},
		{"invalid UTF-8", "POST", "/v1/answer", "{\"question\": \"Wh\xffere?\", \"context\": \"Paris.\"}", 400, "not valid UTF-8"},
		{"overlong UTF-8", "POST", "/v1/answer", "{\"question\": \"\xc0\xafx\", \"context\": \"Paris.\"}", 400, "not valid UTF-8"},
		{"body too large", "POST", "/v1/answer", `{"question": "Where?", "context": "` + strings.Repeat("x", 5000) + `"}`, 413, "larger than 4096 bytes"},
		{"context too long", "POST", "/v1/answer", `{"question": "Where?", "context": "` + long + long + `"}`, 413, "the context is 1500 bytes; the limit is 1000"},
		{"question too long", "POST", "/v1/answer", `{"question": "` + long + `", "context": "Paris."}`, 413, "the question is 750 bytes; the limit is 300"},
		{"too many pairs", "POST", "/v1/answer", `[{"question":"a","context":"b"},{"question":"a","context":"b"},{"question":"a","context":"b"},{"question":"a","context":"b"}]`, 413, "4 pairs in one request; the limit is 3"},
		{"wrong method", "GET", "/v1/answer", ``, 405, "use POST"},
		{"wrong method on healthz", "POST", "/healthz", `{}`, 405, "use GET"},
		{"unknown path", "GET", "/v2/answer", ``, 404, "no such endpoint"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, ts.URL+tc.path, strings.NewReader(tc.body))
			require.NoError(t, err)
			res, err := ts.client.Do(req)
			require.NoError(t, err)
			defer res.Body.Close()
			require.Equal(t, tc.status, res.StatusCode)
			require.Equal(t, "application/json", res.Header.Get("Content-Type"))
			var e errorJSON
			require.NoError(t, json.NewDecoder(res.Body).Decode(&e))
			require.Equal(t, tc.status, e.Status)
			require.Contains(t, e.Error, tc.msg)
		})
	}
	// The worker is fine: a good request is answered.
	status, body := ts.post(t, "/v1/answer", mustJSON(t, map[string]string{"question": testQuestion, "context": testContext}))
	require.Equal(t, http.StatusOK, status, string(body))
	fams := ts.metricFamilies(t)
	require.Equal(t, 4.0, metricValue(fams, "spanqa_http_errors_total", map[string]string{"reason": "too_large"}))
	require.Equal(t, float64(len(cases)), metricValue(fams, "spanqa_http_errors_total", nil))
}

// TestServerTimeout: a request that cannot be answered in time gets 504, and the worker goes on.
func TestServerTimeout(t *testing.T) {
	// The worker waits 500 ms to fill a batch, far past the request's 50 ms.
	m := loadTestModel(t, "bert", Options{MaxBatch: 64, MaxWait: 500 * time.Millisecond})
	ts := startServer(t, m, ServerConfig{Timeout: 50 * time.Millisecond})
	start := time.Now()
	status, body := ts.post(t, "/v1/answer", mustJSON(t, map[string]string{"question": testQuestion, "context": testContext}))
	require.Equal(t, http.StatusGatewayTimeout, status, string(body))
	require.Contains(t, string(body), "took longer than 50ms")
	require.Less(t, time.Since(start), time.Second)

	fast := startServer(t, m, ServerConfig{Timeout: 10 * time.Second})
	status, body = fast.post(t, "/v1/answer", mustJSON(t, map[string]string{"question": testQuestion, "context": testContext}))
	require.Equal(t, http.StatusOK, status, string(body))
}

// TestServerGracefulShutdown: requests in flight when the shutdown starts are answered; new
// connections are refused.
func TestServerGracefulShutdown(t *testing.T) {
	// A long batching wait keeps the requests in flight while the shutdown starts.
	m := loadTestModel(t, "bert", Options{MaxBatch: 64, MaxWait: 500 * time.Millisecond})
	ts := startServer(t, m, ServerConfig{})
	const n = 8
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			statuses[i], _ = ts.post(t, "/v1/answer", mustJSON(t, map[string]string{"question": fmt.Sprintf("Question %d?", i), "context": testContext}))
		})
	}
	waitFor(t, 5*time.Second, func() bool { return m.QueueLength() > 0 || inflight(ts) >= n })
	require.NoError(t, ts.shutdown(t))
	wg.Wait()
	for i, s := range statuses {
		require.Equal(t, http.StatusOK, s, "request %d", i)
	}
	_, err := http.Get(ts.URL + "/healthz")
	require.Error(t, err, "the listener is closed")
}

// inflight reads the in-flight gauge without going through HTTP.
func inflight(ts *testServer) int {
	var n int
	for _, f := range must(ts.metrics.registry.Gather()) {
		if f.GetName() == "spanqa_http_requests_in_flight" {
			n = int(f.GetMetric()[0].GetGauge().GetValue())
		}
	}
	return n
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// waitFor polls cond until it holds or the time is up.
func waitFor(t testing.TB, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
