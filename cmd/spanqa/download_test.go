package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spanqa/spanqa/data/hub"
	"github.com/spanqa/spanqa/data/hub/hubtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDownloadCommand(t *testing.T) {
	clearHFEnv(t)
	srv := hubtest.New(t)
	srv.RequireToken("tok")
	commit := srv.AddCommit("model", "bert-base-uncased", "v1", hubtest.ModelFiles()...)
	cache := t.TempDir()
	t.Setenv(hub.EnvHubCache, filepath.Join(t.TempDir(), "unused"))
	t.Setenv(hub.EnvToken, "env-token-is-overridden")
	var stdout, stderr bytes.Buffer

	// Flags may follow the model.
	dir, err := runDownload(testCtx(t), []string{"bert", "--revision", "v1", "--cache-dir", cache,
		"--endpoint", srv.URL(), "--token", "tok"}, &stdout, &stderr)
	require.NoError(t, err, stderr.String())
	assert.Equal(t, filepath.Join(cache, "models--bert-base-uncased", "snapshots", commit), dir)
	assert.Equal(t, dir+"\n", stdout.String(), "stdout holds only the snapshot path")
	assert.Contains(t, stderr.String(), "will fetch")
	assert.Contains(t, stderr.String(), "done model.safetensors")

	// --if-missing with a warm cache makes no request.
	srv.ResetRequests()
	stdout.Reset()
	again, err := runDownload(testCtx(t), []string{"--if-missing", "--revision=v1", "--cache-dir=" + cache,
		"--endpoint=" + srv.URL(), "bert"}, &stdout, &stderr)
	require.NoError(t, err)
	assert.Equal(t, dir, again)
	assert.Zero(t, srv.RequestCount())

	// --offline.
	again, err = runDownload(testCtx(t), []string{"--offline", "--revision=v1", "--cache-dir=" + cache, "bert"}, &stdout, &stderr)
	require.NoError(t, err)
	assert.Equal(t, dir, again)
	assert.Zero(t, srv.RequestCount())
}

func TestDownloadCommandDryRun(t *testing.T) {
	clearHFEnv(t)
	srv := hubtest.New(t)
	srv.AddCommit("model", "roberta-base", "main", hubtest.ModelFiles()...)
	t.Setenv(hub.EnvHubCache, t.TempDir())
	t.Setenv(hub.EnvEndpoint, srv.URL())
	var stdout, stderr bytes.Buffer

	dir, err := runDownload(testCtx(t), []string{"--dry-run", "roberta"}, &stdout, &stderr)
	require.NoError(t, err)
	assert.Empty(t, dir)
	assert.Contains(t, stdout.String(), "will fetch 5 of 5 files")
	assert.Zero(t, srv.CountRequests("cdn", "GET"), "a dry run downloads nothing")
}

func TestDownloadCommandUsageErrors(t *testing.T) {
	clearHFEnv(t)
	t.Setenv(hub.EnvHubCache, t.TempDir())
	var stdout, stderr bytes.Buffer
	_, err := runDownload(testCtx(t), nil, &stdout, &stderr)
	assert.ErrorContains(t, err, "exactly one model")
	assert.Contains(t, stderr.String(), "deberta (microsoft/deberta-v3-base)")

	_, err = runDownload(testCtx(t), []string{"-h"}, &stdout, &stderr)
	assert.ErrorIs(t, err, flag.ErrHelp)

	_, err = runDownloadData(testCtx(t), []string{"a", "b"}, &stdout, &stderr)
	assert.ErrorContains(t, err, "exactly one data set")
	assert.Contains(t, stderr.String(), "squad|squad_v2")
}

func TestDownloadDataCommand(t *testing.T) {
	clearHFEnv(t)
	srv := hubtest.New(t)
	srv.AddCommit("dataset", "rajpurkar/squad", "main", hubtest.SquadFiles()...)
	cache := t.TempDir()
	var stdout, stderr bytes.Buffer

	files, err := runDownloadData(testCtx(t), []string{"squad", "--cache-dir", cache, "--endpoint", srv.URL()}, &stdout, &stderr)
	require.NoError(t, err, stderr.String())
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	require.Len(t, lines, 2)
	assert.Equal(t, "train\t"+files["train"], lines[0])
	assert.Equal(t, "validation\t"+files["validation"], lines[1])
	got, err := os.ReadFile(files["train"])
	require.NoError(t, err)
	require.True(t, bytes.Equal(hubtest.SquadFiles()[1].Content, got), "content of %s differs", files["train"])

	stdout.Reset()
	_, err = runDownloadData(testCtx(t), []string{"--dry-run", "squad", "--cache-dir", cache, "--endpoint", srv.URL()}, &stdout, &stderr)
	require.NoError(t, err)
	assert.Contains(t, stdout.String(), "all 2 files are in the cache")
}

// testCtx bounds a test's requests to the imitation hub.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// clearHFEnv empties the Hugging Face variables the hub client reads, for the test only.
func clearHFEnv(t *testing.T) {
	for _, name := range []string{hub.EnvEndpoint, hub.EnvToken, hub.EnvTokenPath, hub.EnvHome, hub.EnvHubCache, hub.EnvOffline,
		"HUGGINGFACE_HUB_CACHE", "HUGGING_FACE_HUB_TOKEN", "XDG_CACHE_HOME"} {
		t.Setenv(name, "")
	}
}
