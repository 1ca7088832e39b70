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

// TestDownloadFileLayout checks the cache is laid out byte for byte as
// huggingface_hub lays it out, so Python tools reuse it.
func TestDownloadFileLayout(t *testing.T) {
	srv := hubtest.New(t)
	files := append(hubtest.ModelFiles(), hubtest.File{Name: "onnx/model.onnx", Content: hubtest.RandomBytes(5000, 9), LFS: true})
	commit := srv.AddCommit("model", "org/tiny", "main", files...)
	c, _ := newClient(t, srv)
	ctx := testCtx(t)
	repoDir := filepath.Join(c.CacheDir, "models--org--tiny")

	for _, name := range []string{"config.json", "model.safetensors", "onnx/model.onnx"} {
		f := fileNamed(t, files, name)
		path, err := c.DownloadFile(ctx, RepoTypeModel, "org/tiny", "", name)
		require.NoError(t, err, name)
		assert.Equal(t, filepath.Join(repoDir, "snapshots", commit, filepath.FromSlash(name)), path)
		requireContent(t, path, f.Content)

		// The snapshot entry is a relative symlink to the blob named by etag.
		target, err := os.Readlink(path)
		require.NoError(t, err)
		depth := "../../"
		if name == "onnx/model.onnx" {
			depth = "../../../"
		}
		assert.Equal(t, depth+"blobs/"+f.ETag(), target)
		requireContent(t, filepath.Join(repoDir, "blobs", f.ETag()), f.Content)
		assert.FileExists(t, filepath.Join(c.CacheDir, ".locks", "models--org--tiny", f.ETag()+".lock"))
	}
	// LFS blobs are named by sha256, other files by git blob sha1.
	assert.Equal(t, sha256Hex(fileNamed(t, files, "model.safetensors").Content), fileNamed(t, files, "model.safetensors").ETag())
	assert.Equal(t, GitBlobSHA1(fileNamed(t, files, "config.json").Content), fileNamed(t, files, "config.json").ETag())

	ref, err := os.ReadFile(filepath.Join(repoDir, "refs", "main"))
	require.NoError(t, err)
	assert.Equal(t, commit, string(ref), "refs/main holds the bare commit hash")
	requireNoFileMatching(t, c.CacheDir, ".incomplete")
}

func TestSecondDownloadIsServedFromCache(t *testing.T) {
	srv := hubtest.New(t)
	files := hubtest.ModelFiles()
	commit := srv.AddCommit("model", "org/tiny", "main", files...)
	c, _ := newClient(t, srv)
	ctx := testCtx(t)

	_, err := c.DownloadFile(ctx, RepoTypeModel, "org/tiny", "main", "model.safetensors")
	require.NoError(t, err)
	srv.ResetRequests()

	// By branch: one HEAD to learn the commit, no download.
	_, err = c.DownloadFile(ctx, RepoTypeModel, "org/tiny", "main", "model.safetensors")
	require.NoError(t, err)
	assert.Equal(t, 1, srv.RequestCount())
	assert.Equal(t, 1, srv.CountRequests("hub", http.MethodHead))

	// By commit hash: nothing at all.
	srv.ResetRequests()
	_, err = c.DownloadFile(ctx, RepoTypeModel, "org/tiny", commit, "model.safetensors")
	require.NoError(t, err)
	assert.Zero(t, srv.RequestCount())
}

// TestSharedBlobIsNotDownloadedTwice: a file unchanged between two commits
// is linked from the existing blob.
func TestSharedBlobIsNotDownloadedTwice(t *testing.T) {
	srv := hubtest.New(t)
	files := hubtest.ModelFiles()
	srv.AddCommit("model", "org/tiny", "main", files...)
	c, _ := newClient(t, srv)
	ctx := testCtx(t)
	first, err := c.DownloadFile(ctx, RepoTypeModel, "org/tiny", "main", "model.safetensors")
	require.NoError(t, err)

	files[0].Content = []byte(`{"model_type":"bert","hidden_size":16}`)
	second := srv.AddCommit("model", "org/tiny", "main", files...)
	srv.ResetRequests()
	path, err := c.DownloadFile(ctx, RepoTypeModel, "org/tiny", "main", "model.safetensors")
	require.NoError(t, err)
	assert.NotEqual(t, first, path)
	assert.Contains(t, path, second)
	assert.Zero(t, srv.CountRequests("cdn", http.MethodGet))
	requireContent(t, path, fileNamed(t, files, "model.safetensors").Content)
}

// TestReadsPythonCache builds a cache the way huggingface_hub writes it and
// checks it is used offline and online without downloading again.
func TestReadsPythonCache(t *testing.T) {
	srv := hubtest.New(t)
	files := hubtest.ModelFiles()
	commit := srv.AddCommit("model", "bert-base-uncased", "main", files...)
	cache := t.TempDir()
	repoDir := filepath.Join(cache, "models--bert-base-uncased")
	for _, name := range []string{"config.json", "vocab.txt", "tokenizer.json", "model.safetensors"} {
		f := fileNamed(t, files, name)
		require.NoError(t, os.MkdirAll(filepath.Join(repoDir, "blobs"), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(repoDir, "blobs", f.ETag()), f.Content, 0o644))
		require.NoError(t, os.MkdirAll(filepath.Join(repoDir, "snapshots", commit), 0o755))
		require.NoError(t, os.Symlink("../../blobs/"+f.ETag(), filepath.Join(repoDir, "snapshots", commit, name)))
	}
	require.NoError(t, os.MkdirAll(filepath.Join(repoDir, "refs"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(repoDir, "refs", "main"), []byte(commit), 0o644))

	offline := &Client{CacheDir: cache, Offline: true, Endpoint: srv.URL()}
	dir, err := offline.DownloadModel(testCtx(t), "bert", "")
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(repoDir, "snapshots", commit), dir)
	assert.Zero(t, srv.RequestCount())

	online, _ := newClient(t, srv)
	online.CacheDir = cache
	path, err := online.DownloadFile(testCtx(t), RepoTypeModel, "bert-base-uncased", "main", "model.safetensors")
	require.NoError(t, err)
	requireContent(t, path, fileNamed(t, files, "model.safetensors").Content)
	assert.Zero(t, srv.CountRequests("cdn", http.MethodGet), "cached blob must not be fetched again")
	assert.Zero(t, srv.CountRequests("hub", http.MethodGet))
}
