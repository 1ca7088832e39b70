package hub

import (
	"net/http"
	"testing"

	"github.com/spanqa/spanqa/data/hub/hubtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestUnauthorizedSaysSetToken(t *testing.T) {
	srv := hubtest.New(t)
	srv.AddCommit("model", "org/private", "main", hubtest.ModelFiles()...)
	srv.RequireToken("secret")
	c, _ := newClient(t, srv)
	ctx := testCtx(t)

	_, err := c.DownloadFile(ctx, RepoTypeModel, "org/private", "main", "config.json")
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrUnauthorized)
	assert.Contains(t, err.Error(), "401")
	assert.Contains(t, err.Error(), "HF_TOKEN")
	assert.Contains(t, err.Error(), `"org/private"`)

	_, err = c.DownloadModel(ctx, "org/private", "")
	assert.ErrorIs(t, err, ErrUnauthorized)
	assert.Contains(t, err.Error(), "HF_TOKEN")

	c.Token = "wrong"
	_, err = c.DownloadFile(ctx, RepoTypeModel, "org/private", "main", "config.json")
	assert.ErrorIs(t, err, ErrUnauthorized)
	assert.Contains(t, err.Error(), "rejected")
	requireNoFileMatching(t, c.CacheDir, "snapshots/")

	c.Token = "secret"
	_, err = c.DownloadFile(ctx, RepoTypeModel, "org/private", "main", "config.json")
	assert.NoError(t, err)
}

func TestNotFoundNamesWhatIsMissing(t *testing.T) {
	srv := hubtest.New(t)
	srv.AddCommit("model", "org/tiny", "main", hubtest.ModelFiles()...)
	c, _ := newClient(t, srv)
	ctx := testCtx(t)

	for _, tc := range []struct {
		name, repo, revision, file string
		want                       []string
	}{
		{"file", "org/tiny", "main", "nope.json", []string{"404", `"org/tiny"`, `"nope.json"`, `"main"`, "does not exist"}},
		{"revision", "org/tiny", "v9", "config.json", []string{"404", `"org/tiny"`, `"config.json"`, `"v9"`, `revision "v9" does not exist`}},
		{"repo", "org/none", "main", "config.json", []string{"404", `"org/none"`, `"config.json"`, `"main"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.DownloadFile(ctx, RepoTypeModel, tc.repo, tc.revision, tc.file)
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrNotFound)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
	_, err := c.DownloadModel(ctx, "org/none", "")
	assert.ErrorIs(t, err, ErrNotFound)
	assert.Contains(t, err.Error(), `"org/none"`)
}

func TestInvalidInputsAreRejectedBeforeAnyRequest(t *testing.T) {
	srv := hubtest.New(t)
	c, _ := newClient(t, srv)
	ctx := testCtx(t)
	for _, tc := range []struct{ repo, rev, file string }{
		{"org/tiny", "main", "../../etc/passwd"},
		{"org/tiny", "main", "/abs"},
		{"../x", "main", "config.json"},
		{"a/b/c", "main", "config.json"},
		{"org/tiny", "../main", "config.json"},
	} {
		_, err := c.DownloadFile(ctx, RepoTypeModel, tc.repo, tc.rev, tc.file)
		assert.Error(t, err, "%+v", tc)
	}
	_, err := c.DownloadFile(ctx, RepoType("space"), "org/tiny", "main", "x")
	assert.Error(t, err)
	assert.Zero(t, srv.RequestCount())

	_, err = (&Client{}).DownloadFile(ctx, RepoTypeModel, "org/tiny", "main", "config.json")
	assert.ErrorContains(t, err, "cache directory")
}

func TestShardIndexWithEscapingNameIsRejected(t *testing.T) {
	srv := hubtest.New(t)
	srv.AddCommit("model", "org/evil", "main",
		hubtest.File{Name: "config.json", Content: []byte(`{}`)},
		hubtest.File{Name: "vocab.txt", Content: []byte("a\n")},
		hubtest.File{Name: "model.safetensors.index.json", Content: []byte(`{"weight_map":{"w":"../../../x.safetensors"}}`)},
	)
	c, _ := newClient(t, srv)
	_, err := c.DownloadModel(testCtx(t), "org/evil", "")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "invalid file name")
}

func TestTransientFailuresAreRetried(t *testing.T) {
	srv := hubtest.New(t)
	files := hubtest.ModelFiles()
	srv.AddCommit("model", "org/tiny", "main", files...)
	c, _ := newClient(t, srv)
	ctx := testCtx(t)

	srv.FailNext("config.json", http.StatusServiceUnavailable, metadataRetries)
	path, err := c.DownloadFile(ctx, RepoTypeModel, "org/tiny", "main", "config.json")
	require.NoError(t, err)
	requireContent(t, path, fileNamed(t, files, "config.json").Content)

	srv.FailNext("vocab.txt", http.StatusBadGateway, metadataRetries+1)
	_, err = c.DownloadFile(ctx, RepoTypeModel, "org/tiny", "main", "vocab.txt")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "502")
	assert.Contains(t, err.Error(), "try again later")

	srv.FailNext(hubtest.APIRequests, http.StatusInternalServerError, metadataRetries)
	_, err = c.DownloadModel(ctx, "org/tiny", "")
	require.NoError(t, err)

	// A failing GET on the CDN is retried like a dropped connection.
	c2, _ := newClient(t, srv)
	srv.ResetRequests()
	srv.SetFault("model.safetensors", hubtest.Fault{DropAfter: 1, Times: 3})
	_, err = c2.DownloadFile(ctx, RepoTypeModel, "org/tiny", "main", "model.safetensors")
	require.NoError(t, err)
	assert.Equal(t, 4, srv.CountRequests("cdn", http.MethodGet))
}
