package hub

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/spanqa/spanqa/data/hub/hubtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCorruptFileRejected: bytes that do not match the etag never become a
// blob or a snapshot link, and a later good download succeeds.
func TestCorruptFileRejected(t *testing.T) {
	for _, name := range []string{"model.safetensors", "config.json"} { // sha256 (LFS) and git sha1
		t.Run(name, func(t *testing.T) {
			srv := hubtest.New(t)
			files := hubtest.ModelFiles()
			commit := srv.AddCommit("model", "org/tiny", "main", files...)
			srv.SetFault(name, hubtest.Fault{Corrupt: true, Times: 1})
			c, _ := newClient(t, srv)
			ctx := testCtx(t)
			f := fileNamed(t, files, name)
			repoDir := filepath.Join(c.CacheDir, "models--org--tiny")

			_, err := c.DownloadFile(ctx, RepoTypeModel, "org/tiny", "main", name)
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrVerification)
			assert.Contains(t, err.Error(), name)
			assert.Contains(t, err.Error(), f.ETag())
			assert.NoFileExists(t, filepath.Join(repoDir, "blobs", f.ETag()))
			assert.NoFileExists(t, filepath.Join(repoDir, "blobs", f.ETag()+".incomplete"))
			_, err = os.Lstat(filepath.Join(repoDir, "snapshots", commit, name))
			assert.True(t, os.IsNotExist(err), "no snapshot link to a bad blob")
			_, err = CachedFile(c.CacheDir, RepoTypeModel, "org/tiny", "main", name)
			assert.ErrorIs(t, err, ErrNotCached)

			path, err := c.DownloadFile(ctx, RepoTypeModel, "org/tiny", "main", name)
			require.NoError(t, err)
			requireContent(t, path, f.Content)
		})
	}
}

// TestCorruptPartialFromEarlierRunIsDiscarded: a stale .incomplete whose
// bytes are wrong makes the resumed download fail verification; it is then
// deleted, so the next attempt starts clean.
func TestCorruptPartialFromEarlierRunIsDiscarded(t *testing.T) {
	srv := hubtest.New(t)
	files := hubtest.ModelFiles()
	srv.AddCommit("model", "org/tiny", "main", files...)
	c, _ := newClient(t, srv)
	f := fileNamed(t, files, "model.safetensors")
	incomplete := filepath.Join(c.CacheDir, "models--org--tiny", "blobs", f.ETag()+".incomplete")
	require.NoError(t, os.MkdirAll(filepath.Dir(incomplete), 0o755))
	require.NoError(t, os.WriteFile(incomplete, hubtest.RandomBytes(1000, 77), 0o644))

	_, err := c.DownloadFile(testCtx(t), RepoTypeModel, "org/tiny", "main", f.Name)
	require.ErrorIs(t, err, ErrVerification)
	assert.NoFileExists(t, incomplete)

	path, err := c.DownloadFile(testCtx(t), RepoTypeModel, "org/tiny", "main", f.Name)
	require.NoError(t, err)
	requireContent(t, path, f.Content)
}

func TestContentHashKinds(t *testing.T) {
	data := []byte("hello\n")
	for _, etag := range []string{sha256Hex(data), GitBlobSHA1(data)} {
		h := newContentHash(etag, int64(len(data)))
		_, _ = h.Write(data)
		assert.NoError(t, h.check("x"), etag)
		h.reset()
		_, _ = h.Write([]byte("bye!!\n"))
		assert.ErrorIs(t, h.check("x"), ErrVerification)
	}
	// git's own id for "hello\n".
	assert.Equal(t, "ce013625030ba8dba906f756967f9e9ca394464a", GitBlobSHA1(data))
	// An opaque etag only gets the size check.
	h := newContentHash("opaque-etag", 3)
	_, _ = h.Write([]byte("abc"))
	assert.NoError(t, h.check("x"))
}

func TestMetadataErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		headers map[string]string
		want    string
	}{
		{"no commit", map[string]string{"ETag": `"abc"`, "Content-Length": "3"}, "X-Repo-Commit"},
		{"no etag", map[string]string{"X-Repo-Commit": GitBlobSHA1(nil), "Content-Length": "3"}, "ETag"},
		{"bad etag", map[string]string{"X-Repo-Commit": GitBlobSHA1(nil), "ETag": `"../../x"`, "Content-Length": "3"}, "etag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := &http.Response{Header: http.Header{}}
			for k, v := range tc.headers {
				resp.Header.Set(k, v)
			}
			_, err := parseMetadata(resp, nil, true, target{RepoTypeModel, "a/b", "main", "f"})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}
