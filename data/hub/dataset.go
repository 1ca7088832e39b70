package hub

import (
	"context"
	"fmt"
	"path/filepath"
)

// PlanDataset resolves the revision (empty means "main") of a known data set
// ("squad", "squad_v2") and says which of its split files the cache lacks.
func (c *Client) PlanDataset(ctx context.Context, name, revision string) (*FetchPlan, error) {
	if err := c.checkUsable(); err != nil {
		return nil, err
	}
	spec, err := LookupDataset(name)
	if err != nil {
		return nil, err
	}
	revision = orDefault(revision)
	info, err := c.RepoInfo(ctx, RepoTypeDataset, spec.Repo, revision)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, split := range spec.splitNames() {
		f := spec.Files[split]
		if _, ok := info.file(f); !ok {
			return nil, fmt.Errorf("hub: dataset %q at revision %q has no file %q for split %s (files: %s)",
				spec.Repo, revision, f, split, info.names())
		}
		names = append(names, f)
	}
	return c.newPlan(RepoTypeDataset, spec.Repo, revision, info, names), nil
}

// DownloadDataset fetches the parquet files of a known data set ("squad",
// "squad_v2") at a revision (empty means "main") into the cache, verified,
// and returns the local path of each split ("train", "validation").
// Offline, or when the hub cannot be reached, the cached files are returned.
func (c *Client) DownloadDataset(ctx context.Context, name, revision string) (map[string]string, error) {
	if err := c.checkUsable(); err != nil {
		return nil, err
	}
	spec, err := LookupDataset(name)
	if err != nil {
		return nil, err
	}
	revision = orDefault(revision)
	if c.Offline {
		files, err := CachedDataset(c.CacheDir, name, revision)
		if err != nil {
			return nil, offlineError(err)
		}
		return files, nil
	}
	plan, err := c.PlanDataset(ctx, name, revision)
	if err != nil {
		if canFallBackToCache(err) && ctx.Err() == nil {
			if files, cerr := CachedDataset(c.CacheDir, name, revision); cerr == nil {
				c.info("warning: using cached %s at revision %q (could not check the hub: %v)", spec.Repo, revision, err)
				return files, nil
			}
		}
		return nil, err
	}
	dir, err := c.Fetch(ctx, plan)
	if err != nil {
		return nil, err
	}
	return splitPaths(spec, dir), nil
}

// CachedDataset returns the cached split files of a known data set at a
// revision, making no request; the error matches ErrNotCached when any is
// missing.
func CachedDataset(cacheDir, name, revision string) (map[string]string, error) {
	spec, err := LookupDataset(name)
	if err != nil {
		return nil, err
	}
	for _, split := range spec.splitNames() {
		if _, err := CachedFile(cacheDir, RepoTypeDataset, spec.Repo, orDefault(revision), spec.Files[split]); err != nil {
			return nil, err
		}
	}
	dir, err := CachedSnapshot(cacheDir, RepoTypeDataset, spec.Repo, orDefault(revision))
	if err != nil {
		return nil, err
	}
	return splitPaths(spec, dir), nil
}

func splitPaths(spec DatasetSpec, snapshot string) map[string]string {
	out := make(map[string]string, len(spec.Files))
	for split, f := range spec.Files {
		out[split] = filepath.Join(snapshot, filepath.FromSlash(f))
	}
	return out
}
