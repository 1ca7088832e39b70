package hub

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// RepoDir is the cache folder of a repository, e.g.
// <cacheDir>/models--org--name.
func RepoDir(cacheDir string, t RepoType, repo string) string {
	return filepath.Join(cacheDir, RepoFolderName(t, repo))
}

func blobPath(repoDir, etag string) string { return filepath.Join(repoDir, "blobs", etag) }

func snapshotDir(repoDir, commit string) string {
	return filepath.Join(repoDir, "snapshots", commit)
}

func pointerPath(repoDir, commit, filename string) string {
	return filepath.Join(snapshotDir(repoDir, commit), filepath.FromSlash(filename))
}

func refPath(repoDir, revision string) string {
	return filepath.Join(repoDir, "refs", filepath.FromSlash(revision))
}

func lockPath(cacheDir string, t RepoType, repo, etag string) string {
	return filepath.Join(cacheDir, ".locks", RepoFolderName(t, repo), etag+".lock")
}

// ResolveCachedRevision returns the commit a revision points to according to
// the cache: a commit hash is returned as is, a branch or tag is read from
// refs/<revision>. It makes no request.
func ResolveCachedRevision(cacheDir string, t RepoType, repo, revision string) (string, error) {
	if revision == "" {
		revision = DefaultRevision
	}
	if err := validateRepo(t, repo); err != nil {
		return "", err
	}
	if err := validateRevision(revision); err != nil {
		return "", err
	}
	if IsCommitHash(revision) {
		return revision, nil
	}
	data, err := os.ReadFile(refPath(RepoDir(cacheDir, t, repo), revision))
	if errors.Is(err, fs.ErrNotExist) {
		return "", notCached("%s revision %q is not in the cache %s (no refs/%s)", describe(t, repo), revision, cacheDir, revision)
	}
	if err != nil {
		return "", fmt.Errorf("hub: reading cached ref of %s revision %q: %w", describe(t, repo), revision, err)
	}
	commit := strings.TrimSpace(string(data))
	if !IsCommitHash(commit) {
		return "", fmt.Errorf("hub: cached ref of %s revision %q holds %q, not a commit hash", describe(t, repo), revision, commit)
	}
	return commit, nil
}

// CachedSnapshot returns the snapshot directory of a repository revision in
// the cache, making no request. The error matches ErrNotCached when the cache
// has no such snapshot. The snapshot may still lack some files: see
// CachedFile and CachedModel.
func CachedSnapshot(cacheDir string, t RepoType, repo, revision string) (string, error) {
	commit, err := ResolveCachedRevision(cacheDir, t, repo, revision)
	if err != nil {
		return "", err
	}
	dir := snapshotDir(RepoDir(cacheDir, t, repo), commit)
	info, err := os.Stat(dir)
	if err != nil || !info.IsDir() {
		return "", notCached("%s revision %q is not in the cache %s (no snapshot %s)", describe(t, repo), revision, cacheDir, commit)
	}
	return dir, nil
}

// CachedFile returns the path of a file of a repository revision in the
// cache, making no request; the error matches ErrNotCached when it is absent.
func CachedFile(cacheDir string, t RepoType, repo, revision, filename string) (string, error) {
	if err := validateFilename(filename); err != nil {
		return "", err
	}
	dir, err := CachedSnapshot(cacheDir, t, repo, revision)
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, filepath.FromSlash(filename))
	if !isFile(p) {
		return "", notCached("%s file %q at revision %q is not in the cache %s", describe(t, repo), filename, revision, cacheDir)
	}
	return p, nil
}

// isFile reports whether p (following symlinks) is a regular file.
func isFile(p string) bool {
	info, err := os.Stat(p)
	return err == nil && info.Mode().IsRegular()
}

// writeRef records that revision points to commit (refs/<revision>, the
// bare hash without newline, as huggingface_hub writes it). Nothing is
// written when the revision is the commit itself.
func writeRef(repoDir, revision, commit string) error {
	if revision == commit {
		return nil
	}
	p := refPath(repoDir, revision)
	if old, err := os.ReadFile(p); err == nil && strings.TrimSpace(string(old)) == commit {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("hub: creating refs directory: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".ref-*")
	if err != nil {
		return fmt.Errorf("hub: writing ref %s: %w", revision, err)
	}
	_, werr := tmp.WriteString(commit)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("hub: writing ref %s: %w", revision, err)
	}
	_ = os.Chmod(tmp.Name(), 0o644)
	if err := os.Rename(tmp.Name(), p); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("hub: writing ref %s: %w", revision, err)
	}
	return nil
}

// linkBlob makes pointer a relative symlink to blob, replacing whatever was
// there. Where symlinks are not supported it falls back to a hard link, then
// to a copy, like huggingface_hub.
func linkBlob(blob, pointer string) error {
	dir := filepath.Dir(pointer)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("hub: creating snapshot directory: %w", err)
	}
	rel, err := filepath.Rel(dir, blob)
	if err != nil {
		rel = blob
	}
	_ = os.Remove(pointer)
	if err := os.Symlink(rel, pointer); err == nil {
		return nil
	}
	if err := os.Link(blob, pointer); err == nil {
		return nil
	}
	if err := copyFile(blob, pointer); err != nil {
		return fmt.Errorf("hub: linking %s to %s: %w", pointer, blob, err)
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, cerr := io.Copy(out, in)
	if err := errors.Join(cerr, out.Close()); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, dst)
}
