package train

import (
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestEmbeddedExperiment(t *testing.T) {
	if os.Getenv("SPANQA_EXPERIMENT") == "" {
		t.Skip("experiment")
	}
	dir := os.Getenv("SPANQA_EXPERIMENT")
	os.RemoveAll(dir)
	a, err := PrepareEmbedded(dir, FullEmbedded)
	require.NoError(t, err)
	res, err := Run(context.Background(), a, os.Stderr)
	require.NoError(t, err)
	t.Logf("%+v", res)
}
