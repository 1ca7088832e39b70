package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// ConfigFile is the model configuration every model download includes.
const ConfigFile = "config.json"

// TokenizerFiles are the tokenizer files fetched when the repository has them.
var TokenizerFiles = []string{
	"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
	"vocab.txt", "vocab.json", "merges.txt", "spm.model", "sentencepiece.bpe.model",
}

// tokenizerCores are the files of which a usable tokenizer needs at least one.
var tokenizerCores = []string{"tokenizer.json", "vocab.txt", "vocab.json", "spm.model", "sentencepiece.bpe.model"}

// weightChoices are the weight files in order of preference; an index file
// brings the shards it names.
var weightChoices = []struct {
	name  string
	index bool
}{
	{"model.safetensors", false},
	{"model.safetensors.index.json", true},
	{"pytorch_model.bin", false},
	{"pytorch_model.bin.index.json", true},
}

// PlanModel resolves the revision of a model (an alias or any repository id;
// empty revision means "main"), chooses its config, tokenizer and weight
// files, and says which are missing from the cache. For sharded weights the
// small index file is downloaded to learn the shard names.
func (c *Client) PlanModel(ctx context.Context, repoOrAlias, revision string) (*FetchPlan, error) {
	if err := c.checkUsable(); err != nil {
		return nil, err
	}
	repo, revision := ResolveAlias(repoOrAlias), orDefault(revision)
	info, err := c.RepoInfo(ctx, RepoTypeModel, repo, revision)
	if err != nil {
		return nil, err
	}
	names, index, err := selectModelFiles(info, repo, revision)
	if err != nil {
		return nil, err
	}
	if index != "" {
		if err := writeRef(RepoDir(c.CacheDir, RepoTypeModel, repo), revision, info.SHA); err != nil {
			return nil, err
		}
		path, err := c.DownloadFile(ctx, RepoTypeModel, repo, info.SHA, index)
		if err != nil {
			return nil, err
		}
		shards, err := readShardNames(path)
		if err != nil {
			return nil, err
		}
		for _, s := range shards {
			if _, ok := info.file(s); !ok {
				return nil, fmt.Errorf("hub: %s names shard %q, which model %q does not have at revision %q", index, s, repo, revision)
			}
		}
		names = append(names, shards...)
	}
	return c.newPlan(RepoTypeModel, repo, revision, info, names), nil
}

// DownloadModel fetches what a model needs (config, tokenizer files, weights:
// safetensors preferred) into the cache and returns the snapshot directory.
// Offline, or when the hub cannot be reached, a complete cached snapshot is
// returned instead.
func (c *Client) DownloadModel(ctx context.Context, repoOrAlias, revision string) (string, error) {
	if err := c.checkUsable(); err != nil {
		return "", err
	}
	repo, revision := ResolveAlias(repoOrAlias), orDefault(revision)
	if c.Offline {
		dir, err := CachedModel(c.CacheDir, repo, revision)
		if err != nil {
			return "", offlineError(err)
		}
		return dir, nil
	}
	plan, err := c.PlanModel(ctx, repo, revision)
	if err != nil {
		if canFallBackToCache(err) && ctx.Err() == nil {
			if dir, cerr := CachedModel(c.CacheDir, repo, revision); cerr == nil {
				c.info("warning: using cached %s at revision %q (could not check the hub: %v)", repo, revision, err)
				return dir, nil
			}
		}
		return "", err
	}
	return c.Fetch(ctx, plan)
}

// EnsureModel returns a complete cached snapshot of the model without any
// request when there is one, and downloads what is missing otherwise
// (printing what it will fetch). This is what `make train` wants.
func (c *Client) EnsureModel(ctx context.Context, repoOrAlias, revision string) (string, error) {
	if err := c.checkUsable(); err != nil {
		return "", err
	}
	if dir, err := CachedModel(c.CacheDir, repoOrAlias, revision); err == nil {
		return dir, nil
	}
	return c.DownloadModel(ctx, repoOrAlias, revision)
}

// CachedModel returns the snapshot directory of a model revision if the
// cache holds a usable model there (config, a tokenizer, complete weights),
// making no request. The error matches ErrNotCached and names what is missing.
func CachedModel(cacheDir, repoOrAlias, revision string) (string, error) {
	repo := ResolveAlias(repoOrAlias)
	dir, err := CachedSnapshot(cacheDir, RepoTypeModel, repo, orDefault(revision))
	if err != nil {
		return "", err
	}
	if missing := missingModelParts(dir); len(missing) > 0 {
		return "", notCached("model %q at revision %q is incomplete in the cache (%s lacks %s)",
			repo, orDefault(revision), dir, strings.Join(missing, ", "))
	}
	return dir, nil
}

// missingModelParts lists what a snapshot directory lacks to be usable.
func missingModelParts(dir string) []string {
	var missing []string
	has := func(name string) bool { return isFile(filepath.Join(dir, filepath.FromSlash(name))) }
	if !has(ConfigFile) {
		missing = append(missing, ConfigFile)
	}
	if !slices.ContainsFunc(tokenizerCores, has) {
		missing = append(missing, "a tokenizer ("+strings.Join(tokenizerCores, " or ")+")")
	}
	if w := missingWeights(dir, has); w != "" {
		missing = append(missing, w)
	}
	return missing
}

// missingWeights returns "" when some weight choice is complete in dir.
func missingWeights(dir string, has func(string) bool) string {
	for _, w := range weightChoices {
		if !has(w.name) {
			continue
		}
		if !w.index {
			return ""
		}
		shards, err := readShardNames(filepath.Join(dir, w.name))
		if err != nil {
			return fmt.Sprintf("a readable %s (%v)", w.name, err)
		}
		var absent []string
		for _, s := range shards {
			if !has(s) {
				absent = append(absent, s)
			}
		}
		if len(absent) == 0 {
			return ""
		}
		return "weight shards " + strings.Join(absent, ", ")
	}
	return "weights (model.safetensors or pytorch_model.bin)"
}

// selectModelFiles picks config, tokenizer files and the preferred weights
// from a repository listing; index is set when the weights are sharded.
func selectModelFiles(info *RepoInfo, repo, revision string) (names []string, index string, err error) {
	has := func(n string) bool { _, ok := info.file(n); return ok }
	if !has(ConfigFile) {
		return nil, "", fmt.Errorf("hub: model %q at revision %q has no %s (files: %s)", repo, revision, ConfigFile, info.names())
	}
	names = []string{ConfigFile}
	for _, t := range TokenizerFiles {
		if has(t) {
			names = append(names, t)
		}
	}
	for _, w := range weightChoices {
		if has(w.name) {
			names = append(names, w.name)
			if w.index {
				index = w.name
			}
			return names, index, nil
		}
	}
	return nil, "", fmt.Errorf("hub: model %q at revision %q has neither safetensors nor pytorch weights (files: %s)", repo, revision, info.names())
}

// readShardNames returns the shard files a weight index maps tensors to.
func readShardNames(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("hub: reading weight index: %w", err)
	}
	var idx struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(data, &idx); err != nil {
		return nil, fmt.Errorf("hub: parsing weight index %s: %w", path, err)
	}
	set := map[string]bool{}
	for _, shard := range idx.WeightMap {
		if err := validateFilename(shard); err != nil {
			return nil, fmt.Errorf("hub: weight index %s: %w", path, err)
		}
		set[shard] = true
	}
	if len(set) == 0 {
		return nil, fmt.Errorf("hub: weight index %s maps no tensors", path)
	}
	return slices.Sorted(maps.Keys(set)), nil
}

func orDefault(revision string) string {
	if revision == "" {
		return DefaultRevision
	}
	return revision
}
