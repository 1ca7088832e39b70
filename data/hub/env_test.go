package hub

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// clearHFEnv empties every variable the package reads, for the test only.
func clearHFEnv(t *testing.T) {
	t.Helper()
	for _, name := range []string{EnvEndpoint, EnvToken, EnvTokenPath, EnvHome, EnvHubCache, EnvOffline,
		envLegacyCache, envLegacyToken, "XDG_CACHE_HOME"} {
		t.Setenv(name, "")
	}
}

func TestCacheDirPrecedence(t *testing.T) {
	clearHFEnv(t)
	home := t.TempDir()
	t.Setenv("HOME", home)

	dir, err := DefaultCacheDir()
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(home, ".cache", "huggingface", "hub"), dir)

	t.Setenv("XDG_CACHE_HOME", "/xdg")
	dir, err = DefaultCacheDir()
	require.NoError(t, err)
	assert.Equal(t, "/xdg/huggingface/hub", dir)

	t.Setenv(EnvHome, "/hf-home")
	dir, err = DefaultCacheDir()
	require.NoError(t, err)
	assert.Equal(t, "/hf-home/hub", dir, "HF_HOME beats XDG_CACHE_HOME")

	t.Setenv(envLegacyCache, "/legacy-cache")
	dir, err = DefaultCacheDir()
	require.NoError(t, err)
	assert.Equal(t, "/legacy-cache", dir)

	t.Setenv(EnvHubCache, "/hub-cache")
	dir, err = DefaultCacheDir()
	require.NoError(t, err)
	assert.Equal(t, "/hub-cache", dir, "HF_HUB_CACHE beats HF_HOME")

	t.Setenv(EnvHubCache, "~/c")
	dir, err = DefaultCacheDir()
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(home, "c"), dir)
}

func TestTokenSources(t *testing.T) {
	clearHFEnv(t)
	hfHome := t.TempDir()
	t.Setenv(EnvHome, hfHome)
	assert.Empty(t, TokenFromEnv())

	require.NoError(t, os.WriteFile(filepath.Join(hfHome, "token"), []byte("hf_file\n"), 0o600))
	assert.Equal(t, "hf_file", TokenFromEnv(), "token file written by huggingface-cli login")

	other := filepath.Join(t.TempDir(), "tok")
	require.NoError(t, os.WriteFile(other, []byte("hf_path"), 0o600))
	t.Setenv(EnvTokenPath, other)
	assert.Equal(t, "hf_path", TokenFromEnv())

	t.Setenv(envLegacyToken, "hf_legacy")
	assert.Equal(t, "hf_legacy", TokenFromEnv())
	t.Setenv(EnvToken, " hf_env ")
	assert.Equal(t, "hf_env", TokenFromEnv())
}

func TestNewClientFromEnv(t *testing.T) {
	clearHFEnv(t)
	t.Setenv(EnvHubCache, "/cache")
	t.Setenv(EnvEndpoint, "http://mirror.local/")
	t.Setenv(EnvToken, "tok")
	c, err := NewClientFromEnv()
	require.NoError(t, err)
	assert.Equal(t, "/cache", c.CacheDir)
	assert.Equal(t, "http://mirror.local", c.Endpoint)
	assert.Equal(t, "tok", c.Token)
	assert.False(t, c.Offline)

	for v, want := range map[string]bool{"1": true, "true": true, "YES": true, "on": true, "0": false, "false": false, "": false} {
		t.Setenv(EnvOffline, v)
		c, err := NewClientFromEnv()
		require.NoError(t, err)
		assert.Equal(t, want, c.Offline, "HF_HUB_OFFLINE=%q", v)
	}

	clearHFEnv(t)
	assert.Equal(t, DefaultEndpoint, EndpointFromEnv())
}
