package hub

import (
	"bytes"
	"flag"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spanqa/spanqa/data/hub/hubtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDownloadCommand(t *testing.T) {
	clearHFEnv(t)
	srv := hubtest.New(t)
	srv.RequireToken("tok")
	commit := srv.AddCommit("model", "bert-base-uncased", "v1", modelFiles()...)
	cache := t.TempDir()
	t.Setenv(EnvHubCache, filepath.Join(t.TempDir(), "unused"))
	t.Setenv(EnvToken, "env-token-is-overridden")
	var stdout, stderr bytes.Buffer

	// Flags may follow the model.
	dir, err := DownloadCommand(testCtx(t), []string{"bert", "--revision", "v1", "--cache-dir", cache,
		"--endpoint", srv.URL(), "--token", "tok"}, &stdout, &stderr)
	require.NoError(t, err, stderr.String())
	assert.Equal(t, filepath.Join(cache, "models--bert-base-uncased", "snapshots", commit), dir)
	assert.Equal(t, dir+"\n", stdout.String(), "stdout holds only the snapshot path")
	assert.Contains(t, stderr.String(), "will fetch")
	assert.Contains(t, stderr.String(), "done model.safetensors")

	// --if-missing with a warm cache makes no request.
	srv.ResetRequests()
	stdout.Reset()
	again, err := DownloadCommand(testCtx(t), []string{"--if-missing", "--revision=v1", "--cache-dir=" + cache,
		"--endpoint=" + srv.URL(), "bert"}, &stdout, &stderr)
	require.NoError(t, err)
	assert.Equal(t, dir, again)
	assert.Zero(t, srv.RequestCount())

	// --offline.
	again, err = DownloadCommand(testCtx(t), []string{"--offline", "--revision=v1", "--cache-dir=" + cache, "bert"}, &stdout, &stderr)
	require.NoError(t, err)
	assert.Equal(t, dir, again)
	assert.Zero(t, srv.RequestCount())
}

func TestDownloadCommandDryRun(t *testing.T) {
	clearHFEnv(t)
	srv := hubtest.New(t)
	srv.AddCommit("model", "roberta-base", "main", modelFiles()...)
	t.Setenv(EnvHubCache, t.TempDir())
	t.Setenv(EnvEndpoint, srv.URL())
	var stdout, stderr bytes.Buffer

	dir, err := DownloadCommand(testCtx(t), []string{"--dry-run", "roberta"}, &stdout, &stderr)
	require.NoError(t, err)
	assert.Empty(t, dir)
	assert.Contains(t, stdout.String(), "will fetch 5 of 5 files")
	assert.Zero(t, countRequests(srv, "cdn", "GET"), "a dry run downloads nothing")
}

func TestDownloadCommandUsageErrors(t *testing.T) {
	clearHFEnv(t)
	t.Setenv(EnvHubCache, t.TempDir())
	var stdout, stderr bytes.Buffer
	_, err := DownloadCommand(testCtx(t), nil, &stdout, &stderr)
	assert.ErrorContains(t, err, "exactly one model")
	assert.Contains(t, stderr.String(), "deberta (microsoft/deberta-v3-base)")

	_, err = DownloadCommand(testCtx(t), []string{"-h"}, &stdout, &stderr)
	assert.ErrorIs(t, err, flag.ErrHelp)

	_, err = DownloadDataCommand(testCtx(t), []string{"a", "b"}, &stdout, &stderr)
	assert.ErrorContains(t, err, "exactly one data set")
	assert.Contains(t, stderr.String(), "squad|squad_v2")
}

func TestDownloadDataCommand(t *testing.T) {
	clearHFEnv(t)
	srv := hubtest.New(t)
	srv.AddCommit("dataset", "rajpurkar/squad", "main", squadFiles()...)
	cache := t.TempDir()
	var stdout, stderr bytes.Buffer

	files, err := DownloadDataCommand(testCtx(t), []string{"squad", "--cache-dir", cache, "--endpoint", srv.URL()}, &stdout, &stderr)
	require.NoError(t, err, stderr.String())
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	require.Len(t, lines, 2)
	assert.Equal(t, "train\t"+files["train"], lines[0])
	assert.Equal(t, "validation\t"+files["validation"], lines[1])
	requireContent(t, files["train"], squadFiles()[1].Content)

	stdout.Reset()
	_, err = DownloadDataCommand(testCtx(t), []string{"--dry-run", "squad", "--cache-dir", cache, "--endpoint", srv.URL()}, &stdout, &stderr)
	require.NoError(t, err)
	assert.Contains(t, stdout.String(), "all 2 files are in the cache")
}
