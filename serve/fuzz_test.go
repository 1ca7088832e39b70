package serve

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fuzzLimits are small so that the fuzzer reaches every limit with short inputs.
var fuzzLimits = Limits{MaxBodyBytes: 8 << 10, MaxPairs: 4, MaxContextBytes: 3000, MaxQuestionBytes: 400}

// FuzzServeAnswer posts arbitrary bodies to POST /v1/answer of a tiny BERT through the server's
// handler. Every body gets 200 with answers whose offsets hold in their context, or a JSON error
// with 400 or 413 that names its class; never a panic, a 5xx or a non-JSON reply. Seeds: below
// and testdata/fuzz/FuzzServeAnswer (random shapes, huge numbers, deep nesting, invalid UTF-8,
// lone surrogates, NULs, a BOM, bodies past every limit).
func FuzzServeAnswer(f *testing.F) {
	m := loadTestModel(f, "bert", Options{MaxLength: 64, Stride: 16})
	s := NewServer(m, ServerConfig{Limits: fuzzLimits, Timeout: time.Minute})
	f.Cleanup(s.Close)
	f.Add([]byte(`{"question": "What is the capital of France?", "context": "Paris is the capital of France."}`))
	f.Add([]byte(`{"pairs": [{"id": 1, "question": "Who?", "context": "Zoë met Kalo in Renvor."}], "top_k": 3, "allow_null": true}`))
	f.Add([]byte(`[{"question": "Où?", "context": "À Paris, près de la Seine — été 2024."}, {"id": null, "question": "q", "context": "c"}]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		checkAnswerResponse(t, s, body)
	})
}

// checkAnswerResponse sends body and checks the reply's invariants.
func checkAnswerResponse(t *testing.T, s *Server, body []byte) int {
	t.Helper()
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/answer", bytes.NewReader(body)))
	res := rec.Result()
	require.Equal(t, "application/json", res.Header.Get("Content-Type"))
	out := rec.Body.Bytes()
	require.True(t, json.Valid(out), "reply is not JSON: %q", out)
	switch res.StatusCode {
	case http.StatusOK:
		req, err := parseRequest(body, fuzzLimits)
		require.NoError(t, err, "answered a request parseRequest rejects")
		var results []Result
		if req.list {
			var list struct {
				Results []Result `json:"results"`
			}
			require.NoError(t, json.Unmarshal(out, &list))
			results = list.Results
		} else {
			var r Result
			require.NoError(t, json.Unmarshal(out, &r))
			results = []Result{r}
		}
		require.Len(t, results, len(req.pairs))
		for i, r := range results {
			checkOffsets(t, req.pairs[i].Context, r.Answer)
			for _, a := range r.TopK {
				checkOffsets(t, req.pairs[i].Context, a)
			}
		}
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		var e errorJSON
		require.NoError(t, json.Unmarshal(out, &e))
		require.Equal(t, res.StatusCode, e.Status)
		class := "invalid input: "
		if res.StatusCode == http.StatusRequestEntityTooLarge {
			class = "input too large: "
		}
		require.Contains(t, e.Error, class, "the error does not name its class")
		require.Greater(t, len(e.Error), len(class)+strings.Index(e.Error, class), "the error says nothing more")
	default:
		t.Fatalf("status %d for %q: %s", res.StatusCode, body, out)
	}
	return res.StatusCode
}
