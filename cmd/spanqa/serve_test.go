package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/spanqa/spanqa/internal/fixtures"
	"github.com/spanqa/spanqa/internal/syncbuf"
	"github.com/spanqa/spanqa/serve"
)

// The question and context of serve's tests.
const (
	testQuestion = "What is the capital of France?"
	testContext  = "Paris is the capital and most populous city of France. It is located on the Seine river, in the north of the country."
)

func TestPredictCommand(t *testing.T) {
	dir := fixtures.ModelDir(t, "bert")
	m, err := serve.Load(dir, serve.Options{})
	require.NoError(t, err)
	defer m.Close()
	want, err := m.Answer(context.Background(), testQuestion, testContext, serve.AnswerOptions{TopK: 2})
	require.NoError(t, err)

	ctxFile := filepath.Join(t.TempDir(), "context.txt")
	require.NoError(t, os.WriteFile(ctxFile, []byte(testContext), 0o644))
	for _, args := range [][]string{
		{"--model", dir, "--question", testQuestion, "--context", testContext, "--top-k", "2"},
		{"--model", dir, "--question", testQuestion, "--context-file", ctxFile, "--top-k", "2"},
	} {
		var out, errb bytes.Buffer
		require.NoError(t, runPredict(context.Background(), args, &out, &errb), errb.String())
		var got serve.Result
		require.NoError(t, json.Unmarshal(out.Bytes(), &got))
		require.Equal(t, want.Text, got.Text)
		require.Equal(t, want.Start, got.Start)
		require.Len(t, got.TopK, 2)
		require.Equal(t, 1, strings.Count(out.String(), "\n"))
	}

	for _, args := range [][]string{
		{"--question", "q", "--context", "c"},
		{"--model", dir},
		{"--model", dir, "--question", "q", "--context", "c", "--input", "x.jsonl"},
		{"--model", dir, "--question", "q", "--context", "c", "--context-file", ctxFile},
		{"--model", dir, "--question", "q", "--context", "c", "--top-k", "-3"},
	} {
		require.Error(t, runPredict(context.Background(), args, &bytes.Buffer{}, &bytes.Buffer{}), "%q", args)
	}
}

// TestPredictCommandInput answers a JSON Lines file: one output line per input line, in order,
// with errors for the lines that cannot be answered.
func TestPredictCommandInput(t *testing.T) {
	dir := fixtures.ModelDir(t, "bert")
	lines := []string{
		`{"id": "q1", "question": "What is the capital of France?", "context": "` + testContext + `"}`,
		`not JSON`,
		``,
		`{"id": 3, "question": "", "context": "Paris."}`,
		`{"id": "long", "question": "` + strings.Repeat("qxz ", 100) + `", "context": "Paris."}`,
		`{"question": "Which river?", "context": "The Seine flows through Paris.", "answers": {"text": ["The Seine"]}}`,
		"{\"question\": \"Wh\xffy?\", \"context\": \"x\"}",
		`{"id": "last", "question": "Who?", "context": "Zola wrote novels."}`,
	}
	input := filepath.Join(t.TempDir(), "in.jsonl")
	require.NoError(t, os.WriteFile(input, []byte(strings.Join(lines, "\n")), 0o644))
	var out, errb bytes.Buffer
	err := runPredict(context.Background(), []string{"--model", dir, "--input", input, "--batch-size", "3"}, &out, &errb)
	require.ErrorContains(t, err, "4 of 7 lines could not be answered")

	var got []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var v map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &v), l)
		got = append(got, v)
	}
	require.Len(t, got, 7)
	require.Equal(t, "q1", got[0]["id"])
	require.NotEmpty(t, got[0]["text"])
	require.EqualValues(t, 2, got[1]["line"])
	require.Contains(t, got[1]["error"], "invalid JSON")
	require.EqualValues(t, 3, got[2]["id"])
	require.Contains(t, got[2]["error"], "question is empty")
	require.Equal(t, "long", got[3]["id"])
	require.Contains(t, got[3]["error"], "question is too long")
	require.NotEmpty(t, got[4]["text"], "unknown fields such as answers are ignored")
	require.Contains(t, got[5]["error"], "not valid UTF-8")
	require.Equal(t, "last", got[6]["id"])
	require.NotEmpty(t, got[6]["text"])
}

// TestServeCommandSIGTERM runs `spanqa serve` as the command line does (its context ends on
// SIGTERM), sends this process a real SIGTERM while a request is in flight, and checks that
// the request is answered and the command returns cleanly.
func TestServeCommandSIGTERM(t *testing.T) {
	dir := fixtures.ModelDir(t, "bert")
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	var stderr syncbuf.Buffer
	done := make(chan error, 1)
	go func() {
		// A long batching wait keeps the request in flight when the signal comes.
		done <- runServe(ctx, []string{"--model", dir, "--addr", "127.0.0.1:0", "--max-wait", "400ms", "--max-batch", "64"}, &bytes.Buffer{}, &stderr)
	}()
	re := regexp.MustCompile(`listening on (http://\S+)`)
	var url string
	for deadline := time.Now().Add(20 * time.Second); url == ""; time.Sleep(5 * time.Millisecond) {
		if m := re.FindStringSubmatch(stderr.String()); m != nil {
			url = m[1]
			break
		}
		select {
		case err := <-done:
			t.Fatalf("serve stopped early: %v\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not listen within 20s:\n%s", stderr.String())
		}
	}
	type reply struct {
		status int
		err    error
	}
	replies := make(chan reply, 1)
	go func() {
		res, err := http.Post(url+"/v1/answer", "application/json", strings.NewReader(`{"question": "Where?", "context": "In Paris."}`))
		if err != nil {
			replies <- reply{err: err}
			return
		}
		res.Body.Close()
		replies <- reply{status: res.StatusCode}
	}()
	time.Sleep(100 * time.Millisecond) // the request is now waiting for its batch
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGTERM))
	select {
	case r := <-replies:
		require.NoError(t, r.err)
		require.Equal(t, http.StatusOK, r.status)
	case <-time.After(20 * time.Second):
		t.Fatal("the request in flight was not answered")
	}
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop after SIGTERM")
	}
	require.Contains(t, stderr.String(), "shutting down")
	require.Contains(t, stderr.String(), "stopped")
}
