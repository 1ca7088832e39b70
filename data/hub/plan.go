package hub

import (
	"context"
	"fmt"
	"strings"
)

// FetchPlan lists the files of a repository revision that a download needs,
// and which of them the cache already holds.
type FetchPlan struct {
	RepoType RepoType
	Repo     string
	// Revision is what was asked for (branch, tag or commit).
	Revision string
	// Commit is the commit Revision resolves to.
	Commit string
	// CacheDir is the cache the plan was checked against.
	CacheDir string
	Files    []PlannedFile
}

// PlannedFile is one file of a FetchPlan.
type PlannedFile struct {
	// Name is the path in the repository.
	Name string
	// Size is the content size in bytes (0 when the hub did not say).
	Size int64
	// ETag names the blob in the cache ("" when the hub did not say).
	ETag string
	// Cached reports whether the cache already holds the content.
	Cached bool
}

// SnapshotDir is where the files will be: <cache>/<repo folder>/snapshots/<commit>.
func (p *FetchPlan) SnapshotDir() string {
	return snapshotDir(RepoDir(p.CacheDir, p.RepoType, p.Repo), p.Commit)
}

// Missing returns the files that must be downloaded.
func (p *FetchPlan) Missing() []PlannedFile {
	var out []PlannedFile
	for _, f := range p.Files {
		if !f.Cached {
			out = append(out, f)
		}
	}
	return out
}

// MissingBytes is the total size of the files to download.
func (p *FetchPlan) MissingBytes() int64 {
	var n int64
	for _, f := range p.Missing() {
		n += f.Size
	}
	return n
}

// Describe says in a few lines what the download will fetch, e.g. for
// `make train` to print before it starts.
func (p *FetchPlan) Describe() string {
	var b strings.Builder
	what := fmt.Sprintf("%s at revision %q (commit %s)", describe(p.RepoType, p.Repo), p.Revision, p.Commit)
	missing := p.Missing()
	if len(missing) == 0 {
		fmt.Fprintf(&b, "%s: all %d files are in the cache %s\n", what, len(p.Files), p.CacheDir)
		return b.String()
	}
	fmt.Fprintf(&b, "%s: will fetch %d of %d files, %s, into %s\n",
		what, len(missing), len(p.Files), formatBytes(p.MissingBytes()), p.CacheDir)
	width := 0
	for _, f := range missing {
		width = max(width, len(f.sizeText()))
	}
	for _, f := range missing {
		fmt.Fprintf(&b, "  %*s  %s\n", width, f.sizeText(), f.Name)
	}
	return b.String()
}

// sizeText is the size for display, "?" when the hub did not give it.
func (f PlannedFile) sizeText() string {
	if f.Size == 0 && f.ETag == "" {
		return "?"
	}
	return formatBytes(f.Size)
}

// newPlan builds the plan for the named files of info, marking those whose
// snapshot link or blob the cache already has.
func (c *Client) newPlan(t RepoType, repo, revision string, info *RepoInfo, names []string) *FetchPlan {
	p := &FetchPlan{RepoType: t, Repo: repo, Revision: revision, Commit: info.SHA, CacheDir: c.CacheDir}
	repoDir := RepoDir(c.CacheDir, t, repo)
	for _, name := range names {
		s, _ := info.file(name)
		f := PlannedFile{Name: name, Size: s.FileSize(), ETag: s.ETag()}
		f.Cached = isFile(pointerPath(repoDir, info.SHA, name)) ||
			(etagRE.MatchString(f.ETag) && isFile(blobPath(repoDir, f.ETag)))
		p.Files = append(p.Files, f)
	}
	return p
}

// Fetch downloads the missing files of a plan (printing the plan first when
// something is missing) and returns the snapshot directory.
func (c *Client) Fetch(ctx context.Context, p *FetchPlan) (string, error) {
	if err := c.checkUsable(); err != nil {
		return "", err
	}
	if len(p.Missing()) > 0 {
		c.info("%s", strings.TrimRight(p.Describe(), "\n"))
	}
	if err := writeRef(RepoDir(c.CacheDir, p.RepoType, p.Repo), p.Revision, p.Commit); err != nil {
		return "", err
	}
	for _, f := range p.Files {
		// Pinned to the commit: every file comes from the same revision
		// even if the branch moves meanwhile.
		if _, err := c.DownloadFile(ctx, p.RepoType, p.Repo, p.Commit, f.Name); err != nil {
			return "", err
		}
	}
	return p.SnapshotDir(), nil
}
