package hub

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/spanqa/spanqa/data/hub/hubtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBranchVersusCommitRevision(t *testing.T) {
	srv := hubtest.New(t)
	v1 := hubtest.File{Name: "config.json", Content: []byte(`{"v":1}`)}
	v2 := hubtest.File{Name: "config.json", Content: []byte(`{"v":2}`)}
	mainCommit := srv.AddCommit("model", "org/tiny", "main", v1)
	devCommit := srv.AddCommit("model", "org/tiny", "dev", v2)
	c, _ := newClient(t, srv)
	ctx := testCtx(t)
	repoDir := filepath.Join(c.CacheDir, "models--org--tiny")

	p, err := c.DownloadFile(ctx, RepoTypeModel, "org/tiny", "main", "config.json")
	require.NoError(t, err)
	requireContent(t, p, v1.Content)
	p, err = c.DownloadFile(ctx, RepoTypeModel, "org/tiny", "dev", "config.json")
	require.NoError(t, err)
	requireContent(t, p, v2.Content)
	assert.Contains(t, p, devCommit)

	// A commit hash revision reads snapshots directly and writes no ref.
	p, err = c.DownloadFile(ctx, RepoTypeModel, "org/tiny", mainCommit, "config.json")
	require.NoError(t, err)
	requireContent(t, p, v1.Content)
	refs := listTree(t, filepath.Join(repoDir, "refs"))
	assert.ElementsMatch(t, []string{"main", "dev"}, refs)

	// The branch moves: the new commit gets its own snapshot and the ref
	// follows; the old snapshot stays.
	v3 := hubtest.File{Name: "config.json", Content: []byte(`{"v":3}`)}
	newMain := srv.AddCommit("model", "org/tiny", "main", v3)
	p, err = c.DownloadFile(ctx, RepoTypeModel, "org/tiny", "main", "config.json")
	require.NoError(t, err)
	requireContent(t, p, v3.Content)
	ref, err := os.ReadFile(filepath.Join(repoDir, "refs", "main"))
	require.NoError(t, err)
	assert.Equal(t, newMain, string(ref))
	requireContent(t, filepath.Join(repoDir, "snapshots", mainCommit, "config.json"), v1.Content)

	// Cache lookups resolve branches through refs and hashes directly.
	for rev, commit := range map[string]string{"main": newMain, "dev": devCommit, mainCommit: mainCommit} {
		dir, err := CachedSnapshot(c.CacheDir, RepoTypeModel, "org/tiny", rev)
		require.NoError(t, err, rev)
		assert.Equal(t, filepath.Join(repoDir, "snapshots", commit), dir)
	}
	_, err = CachedSnapshot(c.CacheDir, RepoTypeModel, "org/tiny", "v1.0")
	assert.ErrorIs(t, err, ErrNotCached)
}

func TestRevisionWithSlashIsEscaped(t *testing.T) {
	srv := hubtest.New(t)
	f := hubtest.File{Name: "config.json", Content: []byte(`{"pr":1}`)}
	commit := srv.AddCommit("model", "org/tiny", "refs/pr/1", f)
	c, _ := newClient(t, srv)

	p, err := c.DownloadFile(testCtx(t), RepoTypeModel, "org/tiny", "refs/pr/1", "config.json")
	require.NoError(t, err)
	requireContent(t, p, f.Content)
	assert.Equal(t, "/org/tiny/resolve/refs%2Fpr%2F1/config.json", srv.Requests()[0].Path)
	// huggingface_hub stores it as nested ref files.
	ref, err := os.ReadFile(filepath.Join(c.CacheDir, "models--org--tiny", "refs", "refs", "pr", "1"))
	require.NoError(t, err)
	assert.Equal(t, commit, string(ref))
}
