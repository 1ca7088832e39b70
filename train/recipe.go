package train

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spanqa/spanqa/data/hub"
)

// Recipe resolves `make train MODEL=<name>`: the seed notebook's fine-tuning recipe (SQuAD
// v1.1, lr 3e-5, weight decay 0.01, 2 epochs, max length 384 — 4096 for Longformer — stride
// 128) on a model folder from weights (or the Hugging Face cache, downloading what is missing
// when the hub is reachable) and SQuAD from data (a folder or the cache). An empty name is the
// embedded default, which needs nothing: it trains a tiny BERT on synthetic data in dir.
func Recipe(ctx context.Context, name, weights, data, outputDir string, log io.Writer) (Args, error) {
	if name == "" || name == "default" || name == "embedded" {
		return PrepareEmbedded(outputDir, FullEmbedded)
	}
	repo := hub.ResolveAlias(name)
	if repo == name && !strings.Contains(name, "/") {
		return Args{}, fmt.Errorf("train: unknown MODEL=%s (want bert, roberta, deberta, longformer or an org/name repo id)", name)
	}
	a := DefaultArgs()
	a.LearningRate, a.WeightDecay, a.NumTrainEpochs = 3e-5, 0.01, 2
	a.PerDeviceTrainBatchSize, a.PerDeviceEvalBatchSize = 12, 16
	a.MaxSeqLength, a.DocStride = 384, 128
	if name == "longformer" || strings.Contains(repo, "longformer") {
		a.MaxSeqLength, a.PerDeviceTrainBatchSize, a.PerDeviceEvalBatchSize = 4096, 2, 2
	}
	a.OutputDir = outputDir
	var err error
	if a.Model, err = resolveWeights(ctx, repo, weights, log); err != nil {
		return Args{}, err
	}
	if a.TrainFile, a.EvalFile, err = resolveSQuAD(ctx, data, log); err != nil {
		return Args{}, err
	}
	return a, nil
}

func resolveWeights(ctx context.Context, repo, weights string, log io.Writer) (string, error) {
	if weights != "" {
		if _, err := os.Stat(filepath.Join(weights, "config.json")); err != nil {
			return "", fmt.Errorf("train: WEIGHTS=%s is not a model folder (no config.json)", weights)
		}
		return weights, nil
	}
	c, err := hub.NewClientFromEnv()
	if err != nil {
		return "", fmt.Errorf("train: %w", err)
	}
	c.Progress = log
	if dir, err := hub.CachedModel(c.CacheDir, repo, ""); err == nil {
		fmt.Fprintf(log, "train: using %s from the cache: %s\n", repo, dir)
		return dir, nil
	}
	fmt.Fprintf(log, "train: %s is not in the cache (%s); fetching it from %s\n", repo, c.CacheDir, c.Endpoint)
	dir, err := c.EnsureModel(ctx, repo, "")
	if err != nil {
		return "", fmt.Errorf("train: cannot get %s: %w\n  get it on a machine with internet: spanqa download %s (then copy %s here),\n  or pass an HF model folder: make train MODEL=... WEIGHTS=/path/to/folder", repo, err, repo, c.CacheDir)
	}
	return dir, nil
}

// resolveSQuAD finds SQuAD v1.1's train and validation files: in data (a folder holding
// train-v1.1.json + dev-v1.1.json, or HF parquet files), else in the cache, else downloaded.
func resolveSQuAD(ctx context.Context, data string, log io.Writer) (train, dev string, err error) {
	if data != "" {
		for _, pair := range [][2]string{
			{"train-v1.1.json", "dev-v1.1.json"},
			{"plain_text/train-00000-of-00001.parquet", "plain_text/validation-00000-of-00001.parquet"},
			{"train-00000-of-00001.parquet", "validation-00000-of-00001.parquet"},
		} {
			t, d := filepath.Join(data, pair[0]), filepath.Join(data, pair[1])
			if exists(t) && exists(d) {
				return t, d, nil
			}
		}
		return "", "", fmt.Errorf("train: DATA=%s holds neither train-v1.1.json + dev-v1.1.json nor the HF squad parquet files", data)
	}
	c, err := hub.NewClientFromEnv()
	if err != nil {
		return "", "", fmt.Errorf("train: %w", err)
	}
	c.Progress = log
	files, err := hub.CachedDataset(c.CacheDir, "squad", "")
	if errors.Is(err, hub.ErrNotCached) {
		fmt.Fprintf(log, "train: SQuAD is not in the cache; fetching it from %s\n", c.Endpoint)
		files, err = c.DownloadDataset(ctx, "squad", "")
	}
	if err != nil {
		return "", "", fmt.Errorf("train: cannot get SQuAD: %w\n  run `spanqa download-data squad` where there is internet, or pass DATA=/folder/with/train-v1.1.json+dev-v1.1.json", err)
	}
	return files["train"], files["validation"], nil
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
