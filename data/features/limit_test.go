package features

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/spanqa/spanqa/internal/fixtures"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestModelLimit(t *testing.T) {
	for arch, want := range map[string]int{"bert": 128, "roberta": 128, "longformer": 128, "deberta-v3": 0} {
		n, err := ModelLimit(fixtures.Models(t, arch))
		require.NoError(t, err)
		assert.Equal(t, want, n, arch)
	}
	dir := t.TempDir()
	n, err := ModelLimit(dir)
	require.NoError(t, err)
	assert.Equal(t, 0, n, "no config.json: no limit")
	write := func(s string) { require.NoError(t, os.WriteFile(filepath.Join(dir, "config.json"), []byte(s), 0o644)) }
	write(`{"model_type":"longformer","max_position_embeddings":4098,"pad_token_id":1}`)
	n, err = ModelLimit(dir)
	require.NoError(t, err)
	assert.Equal(t, 4096, n)
	write(`{"model_type":"bert","max_position_embeddings":512}`)
	n, _ = ModelLimit(dir)
	assert.Equal(t, 512, n)
	write(`{"model_type":`)
	_, err = ModelLimit(dir)
	assert.Error(t, err)
}
