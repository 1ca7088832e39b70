package hub

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
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

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
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
