package hub

import (
	"testing"

	"github.com/spanqa/spanqa/data/hub/hubtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOfflineWarmCacheMakesNoRequest(t *testing.T) {
	srv := hubtest.New(t)
	files := hubtest.ModelFiles()
	srv.AddCommit("model", "bert-base-uncased", "main", files...)
	srv.AddCommit("dataset", "rajpurkar/squad", "main", hubtest.SquadFiles()...)
	c, _ := newClient(t, srv)
	ctx := testCtx(t)
	want, err := c.DownloadModel(ctx, "bert", "")
	require.NoError(t, err)
	wantData, err := c.DownloadDataset(ctx, "squad", "")
	require.NoError(t, err)

	srv.ResetRequests()
	c.Offline = true
	dir, err := c.DownloadModel(ctx, "bert", "")
	require.NoError(t, err)
	assert.Equal(t, want, dir)
	path, err := c.DownloadFile(ctx, RepoTypeModel, "bert-base-uncased", "main", "config.json")
	require.NoError(t, err)
	requireContent(t, path, fileNamed(t, files, "config.json").Content)
	data, err := c.DownloadDataset(ctx, "squad", "")
	require.NoError(t, err)
	assert.Equal(t, wantData, data)
	dir, err = c.EnsureModel(ctx, "bert", "")
	require.NoError(t, err)
	assert.Equal(t, want, dir)

	assert.Zero(t, srv.RequestCount(), "offline mode must not touch the network: %v", srv.Requests())
}

func TestOfflineColdCacheFailsClearly(t *testing.T) {
	srv := hubtest.New(t)
	srv.AddCommit("model", "bert-base-uncased", "main", hubtest.ModelFiles()...)
	c, _ := newClient(t, srv)
	c.Offline = true
	ctx := testCtx(t)

	_, err := c.DownloadModel(ctx, "bert", "")
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrOffline)
	assert.ErrorIs(t, err, ErrNotCached)
	assert.Contains(t, err.Error(), "HF_HUB_OFFLINE")
	assert.Contains(t, err.Error(), "bert-base-uncased")

	_, err = c.DownloadFile(ctx, RepoTypeModel, "bert-base-uncased", "main", "config.json")
	assert.ErrorIs(t, err, ErrOffline)
	_, err = c.DownloadDataset(ctx, "squad_v2", "")
	assert.ErrorIs(t, err, ErrOffline)
	_, err = c.PlanModel(ctx, "bert", "")
	assert.ErrorIs(t, err, ErrOffline)
	assert.Zero(t, srv.RequestCount())
}

// TestOfflinePartialSnapshotIsNotEnough: a snapshot without weights (e.g. a
// Python tool fetched only the config) does not count as a cached model.
func TestOfflinePartialSnapshotIsNotEnough(t *testing.T) {
	srv := hubtest.New(t)
	srv.AddCommit("model", "org/tiny", "main", hubtest.ModelFiles()...)
	c, _ := newClient(t, srv)
	_, err := c.DownloadFile(testCtx(t), RepoTypeModel, "org/tiny", "main", "config.json")
	require.NoError(t, err)

	c.Offline = true
	_, err = c.DownloadModel(testCtx(t), "org/tiny", "main")
	require.ErrorIs(t, err, ErrOffline)
	assert.Contains(t, err.Error(), "weights")
	assert.Contains(t, err.Error(), "tokenizer")
}

// TestHubUnreachableFallsBackToCache: like huggingface_hub, a warm cache is
// used when the hub cannot be reached.
func TestHubUnreachableFallsBackToCache(t *testing.T) {
	srv := hubtest.New(t)
	srv.AddCommit("model", "org/tiny", "main", hubtest.ModelFiles()...)
	c, progress := newClient(t, srv)
	want, err := c.DownloadModel(testCtx(t), "org/tiny", "")
	require.NoError(t, err)

	srv.Close()
	dir, err := c.DownloadModel(testCtx(t), "org/tiny", "")
	require.NoError(t, err)
	assert.Equal(t, want, dir)
	path, err := c.DownloadFile(testCtx(t), RepoTypeModel, "org/tiny", "main", "vocab.txt")
	require.NoError(t, err)
	assert.FileExists(t, path)
	assert.Contains(t, progress.String(), "warning: using cached")

	_, err = c.DownloadFile(testCtx(t), RepoTypeModel, "org/tiny", "main", "merges.txt")
	require.Error(t, err)
	assert.True(t, isNetworkError(err))
}
