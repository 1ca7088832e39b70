package hub

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// DownloadFile makes one file of a repository revision available in the
// cache and returns its path inside the snapshot directory
// (snapshots/<commit>/<filename>). An empty revision means "main".
//
// A file already in the cache is not downloaded again. Offline, or when the
// hub cannot be reached (or refuses, or fails), the cached copy is used when
// there is one; otherwise the error says what is missing.
func (c *Client) DownloadFile(ctx context.Context, repoType RepoType, repo, revision, filename string) (string, error) {
	if err := c.checkUsable(); err != nil {
		return "", err
	}
	if revision == "" {
		revision = DefaultRevision
	}
	if err := validateTarget(repoType, repo, revision, filename); err != nil {
		return "", err
	}
	repoDir := RepoDir(c.CacheDir, repoType, repo)

	// A commit hash pins the content: a cached file is final.
	if IsCommitHash(revision) {
		if p := pointerPath(repoDir, revision, filename); isFile(p) {
			return p, nil
		}
	}
	if c.Offline {
		p, err := CachedFile(c.CacheDir, repoType, repo, revision, filename)
		if err != nil {
			return "", offlineError(err)
		}
		return p, nil
	}

	t := target{repoType, repo, revision, filename}
	var meta *FileMetadata
	head := func() (err error) {
		meta, err = c.head(ctx, resolveURL(c.endpoint(), repoType, repo, revision, filename), t)
		return err
	}
	if err := head(); err != nil {
		// Like huggingface_hub: prefer a cached copy to waiting for the hub.
		if canFallBackToCache(err) && ctx.Err() == nil {
			if p, cerr := CachedFile(c.CacheDir, repoType, repo, revision, filename); cerr == nil {
				c.info("warning: using cached %s (could not check the hub: %v)", filename, err)
				return p, nil
			}
		}
		if err := c.retryTransient(ctx, err, metadataRetries, head); err != nil {
			return "", err
		}
	}
	if err := writeRef(repoDir, revision, meta.Commit); err != nil {
		return "", err
	}
	return c.materialize(ctx, t, meta)
}

// materialize makes snapshots/<commit>/<file> point at the verified blob
// named by meta.ETag, downloading the blob if the cache lacks it.
func (c *Client) materialize(ctx context.Context, t target, meta *FileMetadata) (string, error) {
	repoDir := RepoDir(c.CacheDir, t.repoType, t.repo)
	pointer := pointerPath(repoDir, meta.Commit, t.filename)
	if isFile(pointer) {
		return pointer, nil
	}
	blob := blobPath(repoDir, meta.ETag)
	if err := os.MkdirAll(filepath.Dir(blob), 0o755); err != nil {
		return "", fmt.Errorf("hub: creating blobs directory: %w", err)
	}
	unlock, err := lockFile(ctx, lockPath(c.CacheDir, t.repoType, t.repo, meta.ETag))
	if err != nil {
		return "", err
	}
	defer unlock()

	if !isFile(blob) {
		if err := c.fetchBlob(ctx, meta, blob, t.filename); err != nil {
			return "", fmt.Errorf("hub: downloading %s file %q at revision %q: %w",
				describe(t.repoType, t.repo), t.filename, t.revision, err)
		}
	}
	if err := linkBlob(blob, pointer); err != nil {
		return "", err
	}
	return pointer, nil
}

// offlineError turns a cache miss into an error that explains offline mode.
func offlineError(err error) error {
	if errors.Is(err, ErrNotCached) {
		return &offlineMiss{err}
	}
	return err
}
