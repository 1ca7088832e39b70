package train

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestEmbeddedDefaultFullRun is exactly what `make train` runs, with its acceptance bar: F1 >= 90
// on the held-out synthetic split. It takes minutes, so it runs only with SPANQA_FULL_TRAIN set
// to a scratch folder (`make test` runs the scaled-down TestEmbeddedDefaultEndToEnd instead).
func TestEmbeddedDefaultFullRun(t *testing.T) {
	dir := os.Getenv("SPANQA_FULL_TRAIN")
	if dir == "" {
		t.Skip("set SPANQA_FULL_TRAIN=<scratch dir> to run the full embedded default (minutes)")
	}
	require.NoError(t, os.RemoveAll(dir))
	a, err := PrepareEmbedded(dir, FullEmbedded)
	require.NoError(t, err)
	start := time.Now()
	res, err := Run(context.Background(), a, os.Stderr)
	require.NoError(t, err)
	t.Logf("embedded default: EM %.2f F1 %.2f after %d steps in %s", res.EvalEM, res.EvalF1, res.GlobalStep, time.Since(start).Round(time.Second))
	require.GreaterOrEqual(t, res.EvalF1, 90.0)
}
