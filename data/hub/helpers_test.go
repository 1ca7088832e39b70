package hub

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/spanqa/spanqa/data/hub/hubtest"
	"github.com/spanqa/spanqa/internal/syncbuf"
	"github.com/stretchr/testify/require"
)

// testTimeout bounds every test's requests.
const testTimeout = 20 * time.Second

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// newClient returns a client of srv with a fresh cache and fast retries.
func newClient(t *testing.T, srv *hubtest.Server) (*Client, *syncbuf.Buffer) {
	t.Helper()
	out := &syncbuf.Buffer{}
	return &Client{
		Endpoint:     srv.URL(),
		CacheDir:     t.TempDir(),
		HTTP:         &http.Client{Timeout: 10 * time.Second},
		Progress:     out,
		RetryDelay:   5 * time.Millisecond,
		StallTimeout: 5 * time.Second,
	}, out
}

// randomBytes returns n deterministic pseudo-random bytes.
func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// modelFiles is a small BERT-like repository.
func modelFiles() []hubtest.File {
	return []hubtest.File{
		{Name: "config.json", Content: []byte(`{"model_type":"bert","hidden_size":8}`)},
		{Name: "tokenizer.json", Content: []byte(`{"version":"1.0"}`)},
		{Name: "tokenizer_config.json", Content: []byte(`{"do_lower_case":true}`)},
		{Name: "vocab.txt", Content: []byte("[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n")},
		{Name: "README.md", Content: []byte("# test model\n")},
		{Name: "model.safetensors", Content: randomBytes(300_000, 1), LFS: true},
		{Name: "pytorch_model.bin", Content: randomBytes(200_000, 2), LFS: true},
		{Name: "tf_model.h5", Content: randomBytes(1000, 3), LFS: true},
	}
}

func fileNamed(t *testing.T, files []hubtest.File, name string) hubtest.File {
	t.Helper()
	for _, f := range files {
		if f.Name == name {
			return f
		}
	}
	t.Fatalf("test setup: no file %s", name)
	return hubtest.File{}
}

// countRequests counts recorded requests matching server and method.
func countRequests(srv *hubtest.Server, server, method string) int {
	n := 0
	for _, r := range srv.Requests() {
		if r.Server == server && r.Method == method {
			n++
		}
	}
	return n
}

// listTree returns the relative paths under dir, for failure messages and
// "nothing was written" checks.
func listTree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel != "." {
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	return out
}

// requireNoFileMatching fails if any path under dir contains substr.
func requireNoFileMatching(t *testing.T, dir, substr string) {
	t.Helper()
	for _, p := range listTree(t, dir) {
		require.NotContains(t, p, substr, "unexpected cache entry %s", p)
	}
}

func requireContent(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	require.True(t, bytes.Equal(want, got), "content of %s differs (%d vs %d bytes)", path, len(want), len(got))
}
