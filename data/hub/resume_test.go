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

const dropAt = 100_000

// cdnGets returns the CDN GETs the server saw.
func cdnGets(srv *hubtest.Server) []hubtest.Request {
	var out []hubtest.Request
	for _, r := range srv.Requests() {
		if r.Server == "cdn" && r.Method == http.MethodGet {
			out = append(out, r)
		}
	}
	return out
}

// TestResumeAfterDroppedConnection: the connection drops mid-file, the
// download resumes with a range request within the same call and the blob
// has the right sha256.
func TestResumeAfterDroppedConnection(t *testing.T) {
	srv := hubtest.New(t)
	files := hubtest.ModelFiles()
	srv.AddCommit("model", "org/tiny", "main", files...)
	srv.SetFault("model.safetensors", hubtest.Fault{DropAfter: dropAt, Times: 1})
	c, progress := newClient(t, srv)
	f := fileNamed(t, files, "model.safetensors")

	path, err := c.DownloadFile(testCtx(t), RepoTypeModel, "org/tiny", "main", f.Name)
	require.NoError(t, err)
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, f.ETag(), sha256Hex(got))

	gets := cdnGets(srv)
	require.Len(t, gets, 2)
	assert.Empty(t, gets[0].Range)
	assert.Equal(t, "bytes=100000-", gets[1].Range)
	assert.Contains(t, progress.String(), "retrying from")
}

// TestResumeOnNextRun: with retries off the first run fails and keeps the
// partial blob; the next run resumes it with a range request.
func TestResumeOnNextRun(t *testing.T) {
	srv := hubtest.New(t)
	files := hubtest.ModelFiles()
	commit := srv.AddCommit("model", "org/tiny", "main", files...)
	srv.SetFault("model.safetensors", hubtest.Fault{DropAfter: dropAt, Times: 1})
	c, _ := newClient(t, srv)
	c.Retries = -1
	f := fileNamed(t, files, "model.safetensors")
	repoDir := filepath.Join(c.CacheDir, "models--org--tiny")
	incomplete := filepath.Join(repoDir, "blobs", f.ETag()+".incomplete")

	_, err := c.DownloadFile(testCtx(t), RepoTypeModel, "org/tiny", "main", f.Name)
	require.Error(t, err)
	assert.True(t, isNetworkError(err), "%v", err)
	info, err := os.Stat(incomplete)
	require.NoError(t, err)
	assert.EqualValues(t, dropAt, info.Size())
	assert.NoFileExists(t, filepath.Join(repoDir, "blobs", f.ETag()))
	_, err = os.Lstat(filepath.Join(repoDir, "snapshots", commit, f.Name))
	assert.True(t, os.IsNotExist(err))

	path, err := c.DownloadFile(testCtx(t), RepoTypeModel, "org/tiny", "main", f.Name)
	require.NoError(t, err)
	requireContent(t, path, f.Content)
	gets := cdnGets(srv)
	require.Len(t, gets, 2)
	assert.Equal(t, "bytes=100000-", gets[1].Range)
	assert.NoFileExists(t, incomplete)
}

// TestResumeWhenServerIgnoresRange: a 200 answer to a range request
// restarts the file from zero instead of appending a second copy.
func TestResumeWhenServerIgnoresRange(t *testing.T) {
	srv := hubtest.New(t)
	files := hubtest.ModelFiles()
	srv.AddCommit("model", "org/tiny", "main", files...)
	srv.SetFault("model.safetensors", hubtest.Fault{DropAfter: dropAt, Times: 1})
	c, _ := newClient(t, srv)
	c.Retries = -1
	f := fileNamed(t, files, "model.safetensors")
	_, err := c.DownloadFile(testCtx(t), RepoTypeModel, "org/tiny", "main", f.Name)
	require.Error(t, err)

	srv.SetFault("model.safetensors", hubtest.Fault{IgnoreRange: true})
	path, err := c.DownloadFile(testCtx(t), RepoTypeModel, "org/tiny", "main", f.Name)
	require.NoError(t, err)
	requireContent(t, path, f.Content)
}

// TestResumeRegularFileOnHub: files that are not LFS are served by the hub
// itself; resuming works there too.
func TestResumeRegularFileOnHub(t *testing.T) {
	srv := hubtest.New(t)
	big := hubtest.File{Name: "vocab.json", Content: hubtest.RandomBytes(250_000, 5)}
	srv.AddCommit("model", "org/tiny", "main", big)
	srv.SetFault(big.Name, hubtest.Fault{DropAfter: 1234, Times: 2})
	c, _ := newClient(t, srv)

	path, err := c.DownloadFile(testCtx(t), RepoTypeModel, "org/tiny", "main", big.Name)
	require.NoError(t, err)
	requireContent(t, path, big.Content)
	var ranges []string
	for _, r := range srv.Requests() {
		if r.Method == http.MethodGet {
			ranges = append(ranges, r.Range)
		}
	}
	assert.Equal(t, []string{"", "bytes=1234-", "bytes=2468-"}, ranges)
}

// TestGiveUpWithoutProgress: a server that keeps failing before sending
// anything exhausts the retries and the error says so.
func TestGiveUpWithoutProgress(t *testing.T) {
	srv := hubtest.New(t)
	files := hubtest.ModelFiles()
	srv.AddCommit("model", "org/tiny", "main", files...)
	c, _ := newClient(t, srv)
	c.Retries = 2
	// Take the CDN down after the HEAD: every GET fails to connect.
	meta, err := c.FileMetadata(testCtx(t), RepoTypeModel, "org/tiny", "main", "model.safetensors")
	require.NoError(t, err)
	srv.CDN.Close()
	err = c.fetchBlob(testCtx(t), meta, filepath.Join(t.TempDir(), "blob"), "model.safetensors")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "gave up after retries")
}
