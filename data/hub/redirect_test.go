package hub

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spanqa/spanqa/data/hub/hubtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRenamedRepoRelativeRedirect: the hub answers a renamed repository with
// a relative redirect, which is followed (with the token: same host).
func TestRenamedRepoRelativeRedirect(t *testing.T) {
	srv := hubtest.New(t)
	files := hubtest.ModelFiles()
	srv.AddCommit("model", "neworg/tiny", "main", files...)
	srv.Rename("model", "oldorg/tiny", "neworg/tiny")
	srv.RequireToken("secret")
	c, _ := newClient(t, srv)
	c.Token = "secret"
	ctx := testCtx(t)

	for _, name := range []string{"config.json", "model.safetensors"} {
		path, err := c.DownloadFile(ctx, RepoTypeModel, "oldorg/tiny", "main", name)
		require.NoError(t, err)
		requireContent(t, path, fileNamed(t, files, name).Content)
		// Like huggingface_hub, the cache is keyed by the id that was asked for.
		assert.True(t, strings.HasPrefix(path, filepath.Join(c.CacheDir, "models--oldorg--tiny")), path)
	}
	var sawOld, sawNew bool
	for _, r := range srv.Requests() {
		if r.Server == "hub" {
			assert.Equal(t, "Bearer secret", r.Authorization, "hub request %s %s", r.Method, r.Path)
		}
		sawOld = sawOld || strings.HasPrefix(r.Path, "/oldorg/tiny/")
		sawNew = sawNew || strings.HasPrefix(r.Path, "/neworg/tiny/")
	}
	assert.True(t, sawOld && sawNew)

	// The repository API follows the rename too.
	info, err := c.RepoInfo(ctx, RepoTypeModel, "oldorg/tiny", "main")
	require.NoError(t, err)
	assert.Len(t, info.Siblings, len(files))
}

// TestLFSRedirectDropsAuthorization: LFS content comes from another host
// (here the same IP, another port) and must not receive the token.
func TestLFSRedirectDropsAuthorization(t *testing.T) {
	srv := hubtest.New(t)
	files := hubtest.ModelFiles()
	srv.AddCommit("model", "org/private", "main", files...)
	srv.RequireToken("secret")
	c, _ := newClient(t, srv)
	c.Token = "secret"

	path, err := c.DownloadFile(testCtx(t), RepoTypeModel, "org/private", "main", "model.safetensors")
	require.NoError(t, err)
	requireContent(t, path, fileNamed(t, files, "model.safetensors").Content)

	cdnGets := 0
	for _, r := range srv.Requests() {
		switch r.Server {
		case "hub":
			assert.Equal(t, "Bearer secret", r.Authorization)
		case "cdn":
			cdnGets++
			assert.Empty(t, r.Authorization, "token leaked to the CDN: %s %s", r.Method, r.Path)
		}
	}
	assert.Equal(t, 1, cdnGets)
}

// TestRedirectPolicyStripsAuthAcrossPorts checks the policy used when a GET
// itself is redirected (net/http alone keeps the header for the same host
// name on another port).
func TestRedirectPolicyStripsAuthAcrossPorts(t *testing.T) {
	via, err := http.NewRequest(http.MethodGet, "http://127.0.0.1:1000/a", nil)
	require.NoError(t, err)
	same, err := http.NewRequest(http.MethodGet, "http://127.0.0.1:1000/b", nil)
	require.NoError(t, err)
	same.Header.Set("Authorization", "Bearer x")
	other, err := http.NewRequest(http.MethodGet, "http://127.0.0.1:2000/b", nil)
	require.NoError(t, err)
	other.Header.Set("Authorization", "Bearer x")

	require.NoError(t, stripAuthOnHostChange(same, []*http.Request{via}))
	require.NoError(t, stripAuthOnHostChange(other, []*http.Request{via}))
	assert.Equal(t, "Bearer x", same.Header.Get("Authorization"))
	assert.Empty(t, other.Header.Get("Authorization"))

	many := make([]*http.Request, maxRedirects)
	for i := range many {
		many[i] = via
	}
	assert.Error(t, stripAuthOnHostChange(same, many))
}
