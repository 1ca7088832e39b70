package hub

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spanqa/spanqa/data/hub/hubtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDownloadDataset(t *testing.T) {
	srv := hubtest.New(t)
	files := hubtest.SquadFiles()
	commit := srv.AddCommit("dataset", "rajpurkar/squad", "main", files...)
	c, _ := newClient(t, srv)

	got, err := c.DownloadDataset(testCtx(t), "squad", "")
	require.NoError(t, err)
	snap := filepath.Join(c.CacheDir, "datasets--rajpurkar--squad", "snapshots", commit)
	assert.Equal(t, map[string]string{
		"train":      filepath.Join(snap, "plain_text", "train-00000-of-00001.parquet"),
		"validation": filepath.Join(snap, "plain_text", "validation-00000-of-00001.parquet"),
	}, got)
	requireContent(t, got["train"], files[1].Content)
	requireContent(t, got["validation"], files[2].Content)
	target, err := os.Readlink(got["train"])
	require.NoError(t, err)
	assert.Equal(t, "../../../blobs/"+files[1].ETag(), target)

	// Requests use the dataset URL forms.
	for _, r := range srv.Requests() {
		if r.Server == "hub" {
			assert.True(t, strings.HasPrefix(r.Path, "/datasets/rajpurkar/squad/resolve/") ||
				strings.HasPrefix(r.Path, "/api/datasets/rajpurkar/squad/revision/"), r.Path)
		}
	}
	_, err = os.Stat(filepath.Join(c.CacheDir, "datasets--rajpurkar--squad", "snapshots", commit, "README.md"))
	assert.True(t, os.IsNotExist(err), "only the split files are fetched")
}

func TestDownloadDatasetCorruptSplitRejected(t *testing.T) {
	srv := hubtest.New(t)
	files := hubtest.SquadFiles()
	srv.AddCommit("dataset", "rajpurkar/squad", "main", files...)
	srv.SetFault(files[2].Name, hubtest.Fault{Corrupt: true, Times: 1})
	c, _ := newClient(t, srv)

	_, err := c.DownloadDataset(testCtx(t), "squad", "")
	require.ErrorIs(t, err, ErrVerification)
	assert.Contains(t, err.Error(), "validation-00000-of-00001.parquet")
	_, err = CachedDataset(c.CacheDir, "squad", "")
	assert.ErrorIs(t, err, ErrNotCached)

	got, err := c.DownloadDataset(testCtx(t), "squad", "")
	require.NoError(t, err)
	requireContent(t, got["validation"], files[2].Content)
}

func TestDownloadDatasetErrors(t *testing.T) {
	srv := hubtest.New(t)
	srv.AddCommit("dataset", "rajpurkar/squad_v2", "main", hubtest.File{Name: "README.md", Content: []byte("x")})
	c, _ := newClient(t, srv)

	_, err := c.DownloadDataset(testCtx(t), "mnist", "")
	assert.ErrorContains(t, err, "squad, squad_v2")

	_, err = c.DownloadDataset(testCtx(t), "squad_v2", "")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "squad_v2/train-00000-of-00001.parquet")

	_, err = c.DownloadDataset(testCtx(t), "squad", "")
	assert.ErrorIs(t, err, ErrNotFound)
}

func TestLookupDataset(t *testing.T) {
	spec, err := LookupDataset("SQuAD_v2")
	require.NoError(t, err)
	assert.Equal(t, "rajpurkar/squad_v2", spec.Repo)
	spec.Files["train"] = "changed"
	again, err := LookupDataset("squad_v2")
	require.NoError(t, err)
	assert.NotEqual(t, "changed", again.Files["train"], "specs are copies")
	assert.Equal(t, []string{"squad", "squad_v2"}, DatasetNames())
}
