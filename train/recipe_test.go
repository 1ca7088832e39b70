package train

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/spanqa/spanqa/data/hub/hubtest"
	"github.com/spanqa/spanqa/internal/fixtures"
)

func readFile(t *testing.T, path string) []byte {
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return data
}

// firstLines keeps the first n lines of a vocabulary so token ids fit the tiny model.
func firstLines(t *testing.T, path string, n int) []byte {
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var b bytes.Buffer
	sc := bufio.NewScanner(f)
	for i := 0; i < n && sc.Scan(); i++ {
		b.WriteString(sc.Text() + "\n")
	}
	return b.Bytes()
}

// TestRecipeFetchesWhatIsMissing is `make train MODEL=bert` against a fake hub: the model and
// SQuAD are downloaded into an HF-layout cache, a few training steps run on them, and a second
// resolution works offline from the cache.
func TestRecipeFetchesWhatIsMissing(t *testing.T) {
	model := fixtures.Models(t, "bert")
	vocab := filepath.Join(fixtures.Tokenizers(t, "bert-base-uncased"), "vocab.txt")
	squadParquet := fixtures.Data(t, "squad", "parquet", "squad", "validation-00000-of-00001.parquet")

	srv := hubtest.New(t)
	defer srv.Close()
	srv.AddCommit("model", "bert-base-uncased", "main",
		hubtest.File{Name: "config.json", Content: readFile(t, filepath.Join(model, "config.json"))},
		hubtest.File{Name: "model.safetensors", Content: readFile(t, filepath.Join(model, "model.safetensors")), LFS: true},
		hubtest.File{Name: "vocab.txt", Content: firstLines(t, vocab, 1000)})
	pq := readFile(t, squadParquet)
	srv.AddCommit("dataset", "rajpurkar/squad", "main",
		hubtest.File{Name: "plain_text/train-00000-of-00001.parquet", Content: pq, LFS: true},
		hubtest.File{Name: "plain_text/validation-00000-of-00001.parquet", Content: pq, LFS: true})

	cache := t.TempDir()
	t.Setenv("HF_ENDPOINT", srv.URL())
	t.Setenv("HF_HUB_CACHE", cache)
	t.Setenv("HF_HUB_OFFLINE", "")
	t.Setenv("HF_TOKEN", "")
	var log bytes.Buffer
	out := t.TempDir()
	a, err := Recipe(context.Background(), "bert", "", "", out, &log)
	require.NoError(t, err, log.String())
	require.Contains(t, log.String(), "not in the cache")
	require.True(t, strings.HasPrefix(a.Model, cache), a.Model)
	require.FileExists(t, a.TrainFile)
	require.FileExists(t, a.EvalFile)
	require.Equal(t, 3e-5, a.LearningRate)
	require.Equal(t, 384, a.MaxSeqLength)

	a.MaxSteps, a.MaxTrainSamples, a.MaxEvalSamples = 2, 24, 8
	a.PerDeviceTrainBatchSize, a.MaxSeqLength, a.DocStride = 4, 128, 32
	a.NoPlot = true
	res, err := Run(context.Background(), a, &bytes.Buffer{})
	require.NoError(t, err)
	require.EqualValues(t, 2, res.GlobalStep)

	t.Setenv("HF_HUB_OFFLINE", "1")
	srv.Close()
	log.Reset()
	b, err := Recipe(context.Background(), "bert", "", "", out, &log)
	require.NoError(t, err, log.String())
	require.Equal(t, a.Model, b.Model)
	require.Contains(t, log.String(), "from the cache")

	_, err = Recipe(context.Background(), "roberta", "", "", out, &log)
	require.Error(t, err)
	require.Contains(t, err.Error(), "spanqa download roberta-base")
}

func TestRecipeRejectsUnknownModels(t *testing.T) {
	_, err := Recipe(context.Background(), "gpt9", "", "", t.TempDir(), &bytes.Buffer{})
	require.ErrorContains(t, err, "unknown MODEL=gpt9")
	_, err = Recipe(context.Background(), "bert", t.TempDir(), "", t.TempDir(), &bytes.Buffer{})
	require.ErrorContains(t, err, "no config.json")
}
