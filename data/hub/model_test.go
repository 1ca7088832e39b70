package hub

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/spanqa/spanqa/data/hub/hubtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// snapshotNames lists the files in a snapshot directory.
func snapshotNames(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, p := range listTree(t, dir) {
		if isFile(filepath.Join(dir, p)) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

func TestDownloadModelPrefersSafetensors(t *testing.T) {
	srv := hubtest.New(t)
	files := hubtest.ModelFiles()
	commit := srv.AddCommit("model", "bert-base-uncased", "main", files...)
	c, progress := newClient(t, srv)

	dir, err := c.DownloadModel(testCtx(t), "bert", "")
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(c.CacheDir, "models--bert-base-uncased", "snapshots", commit), dir)
	assert.Equal(t, []string{"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt"},
		snapshotNames(t, dir))
	requireContent(t, filepath.Join(dir, "model.safetensors"), fileNamed(t, files, "model.safetensors").Content)
	// The plan is announced before downloading.
	assert.Contains(t, progress.String(), "will fetch 5 of 5 files")
	assert.Contains(t, progress.String(), "model.safetensors")
}

func TestDownloadModelFallsBackToPytorchBin(t *testing.T) {
	srv := hubtest.New(t)
	var files []hubtest.File
	for _, f := range hubtest.ModelFiles() {
		if f.Name != "model.safetensors" {
			files = append(files, f)
		}
	}
	files = append(files, hubtest.File{Name: "merges.txt", Content: []byte("#version: 0.2\n")})
	srv.AddCommit("model", "org/old", "main", files...)
	c, _ := newClient(t, srv)

	dir, err := c.DownloadModel(testCtx(t), "org/old", "")
	require.NoError(t, err)
	assert.Equal(t, []string{"config.json", "merges.txt", "pytorch_model.bin", "tokenizer.json", "tokenizer_config.json", "vocab.txt"},
		snapshotNames(t, dir))
}

func TestDownloadModelShardedSafetensors(t *testing.T) {
	srv := hubtest.New(t)
	index := `{"metadata":{"total_size":3000},"weight_map":{"a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors","c":"model-00001-of-00002.safetensors"}}`
	files := []hubtest.File{
		{Name: "config.json", Content: []byte(`{}`)},
		{Name: "spm.model", Content: hubtest.RandomBytes(2000, 21), LFS: true},
		{Name: "model.safetensors.index.json", Content: []byte(index)},
		{Name: "model-00001-of-00002.safetensors", Content: hubtest.RandomBytes(2000, 22), LFS: true},
		{Name: "model-00002-of-00002.safetensors", Content: hubtest.RandomBytes(1000, 23), LFS: true},
		{Name: "pytorch_model.bin", Content: hubtest.RandomBytes(3000, 24), LFS: true},
	}
	srv.AddCommit("model", "microsoft/deberta-v3-base", "main", files...)
	c, _ := newClient(t, srv)

	plan, err := c.PlanModel(testCtx(t), "deberta", "")
	require.NoError(t, err)
	var names []string
	for _, f := range plan.Missing() {
		names = append(names, f.Name)
	}
	// The index was fetched to learn the shards, so it is already cached.
	assert.Equal(t, []string{"config.json", "spm.model", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"}, names)
	assert.EqualValues(t, 2+2000+2000+1000, plan.MissingBytes())

	dir, err := c.Fetch(testCtx(t), plan)
	require.NoError(t, err)
	assert.Equal(t, []string{"config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
		"model.safetensors.index.json", "spm.model"}, snapshotNames(t, dir))
	cached, err := CachedModel(c.CacheDir, "deberta", "")
	require.NoError(t, err)
	assert.Equal(t, dir, cached)

	// A missing shard makes the cached model incomplete.
	require.NoError(t, os.Remove(filepath.Join(dir, "model-00002-of-00002.safetensors")))
	_, err = CachedModel(c.CacheDir, "deberta", "")
	assert.ErrorIs(t, err, ErrNotCached)
	assert.ErrorContains(t, err, "model-00002-of-00002.safetensors")
}

func TestPlanModelReportsCacheState(t *testing.T) {
	srv := hubtest.New(t)
	files := hubtest.ModelFiles()
	srv.AddCommit("model", "roberta-base", "main", files...)
	c, _ := newClient(t, srv)
	ctx := testCtx(t)

	plan, err := c.PlanModel(ctx, "roberta", "")
	require.NoError(t, err)
	require.Len(t, plan.Files, 5)
	for _, f := range plan.Files {
		assert.False(t, f.Cached, f.Name)
		assert.EqualValues(t, len(fileNamed(t, files, f.Name).Content), f.Size, f.Name)
		assert.Equal(t, fileNamed(t, files, f.Name).ETag(), f.ETag, f.Name)
	}
	desc := plan.Describe()
	assert.Contains(t, desc, `model "roberta-base" at revision "main"`)
	assert.Contains(t, desc, "293.0 KiB  model.safetensors")

	_, err = c.DownloadFile(ctx, RepoTypeModel, "roberta-base", "main", "model.safetensors")
	require.NoError(t, err)
	plan, err = c.PlanModel(ctx, "roberta", "")
	require.NoError(t, err)
	assert.Len(t, plan.Missing(), 4)
	assert.NotContains(t, plan.Describe(), "model.safetensors")

	_, err = c.Fetch(ctx, plan)
	require.NoError(t, err)
	plan, err = c.PlanModel(ctx, "roberta", "")
	require.NoError(t, err)
	assert.Empty(t, plan.Missing())
	assert.Contains(t, plan.Describe(), "all 5 files are in the cache")
}

func TestEnsureModelSkipsTheHubWhenCached(t *testing.T) {
	srv := hubtest.New(t)
	srv.AddCommit("model", "allenai/longformer-base-4096", "main", hubtest.ModelFiles()...)
	c, progress := newClient(t, srv)

	dir, err := c.EnsureModel(testCtx(t), "longformer", "")
	require.NoError(t, err)
	assert.Contains(t, progress.String(), "will fetch")
	srv.ResetRequests()
	again, err := c.EnsureModel(testCtx(t), "longformer", "")
	require.NoError(t, err)
	assert.Equal(t, dir, again)
	assert.Zero(t, srv.RequestCount())
}

func TestDownloadModelNeedsConfigAndWeights(t *testing.T) {
	srv := hubtest.New(t)
	srv.AddCommit("model", "org/noconfig", "main", hubtest.File{Name: "model.safetensors", Content: []byte("x"), LFS: true})
	srv.AddCommit("model", "org/noweights", "main", hubtest.File{Name: "config.json", Content: []byte("{}")})
	c, _ := newClient(t, srv)

	_, err := c.DownloadModel(testCtx(t), "org/noconfig", "")
	assert.ErrorContains(t, err, "has no config.json")
	_, err = c.DownloadModel(testCtx(t), "org/noweights", "")
	assert.ErrorContains(t, err, "neither safetensors nor pytorch weights")
}

func TestResolveAlias(t *testing.T) {
	for alias, repo := range map[string]string{
		"bert": "bert-base-uncased", "roberta": "roberta-base", "deberta": "microsoft/deberta-v3-base",
		"longformer": "allenai/longformer-base-4096", "BERT": "bert-base-uncased", "org/custom": "org/custom",
	} {
		assert.Equal(t, repo, ResolveAlias(alias))
	}
	m := ModelAliases()
	m["bert"] = "changed"
	assert.Equal(t, "bert-base-uncased", ResolveAlias("bert"))
}
