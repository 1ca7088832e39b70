package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// RepoInfo is the part of the hub's repository API answer
// (GET /api/{models|datasets}/{repo}/revision/{revision}?blobs=true) that
// the downloader uses.
type RepoInfo struct {
	// ID is the repository id.
	ID string `json:"id"`
	// SHA is the commit the revision resolves to.
	SHA string `json:"sha"`
	// Siblings lists the files of the repository at that commit.
	Siblings []Sibling `json:"siblings"`
}

// Sibling is one file of a repository.
type Sibling struct {
	// Name is the path of the file in the repository.
	Name string `json:"rfilename"`
	// Size is the file size (the real size for LFS files), when known.
	Size int64 `json:"size"`
	// BlobID is the git blob sha1.
	BlobID string `json:"blobId"`
	// LFS is set for files stored with git LFS.
	LFS *LFSInfo `json:"lfs,omitempty"`
}

// LFSInfo describes the content of an LFS file.
type LFSInfo struct {
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// ETag is the name the file's blob gets in the cache: the sha256 of LFS
// files, the git blob id of the others ("" when unknown).
func (s Sibling) ETag() string {
	if s.LFS != nil && s.LFS.SHA256 != "" {
		return s.LFS.SHA256
	}
	return s.BlobID
}

// FileSize is the size of the file content, 0 when unknown.
func (s Sibling) FileSize() int64 {
	if s.LFS != nil && s.LFS.Size > 0 {
		return s.LFS.Size
	}
	return s.Size
}

// maxAPIBody bounds the repository API answer (listing files only).
const maxAPIBody = 64 << 20

// RepoInfo lists the files of a repository at a revision (empty means
// "main") and the commit it resolves to.
func (c *Client) RepoInfo(ctx context.Context, repoType RepoType, repo, revision string) (*RepoInfo, error) {
	if revision == "" {
		revision = DefaultRevision
	}
	if err := validateRepo(repoType, repo); err != nil {
		return nil, err
	}
	if err := validateRevision(revision); err != nil {
		return nil, err
	}
	if c.Offline {
		return nil, offlineRefusal("list the files of " + describe(repoType, repo))
	}
	t := target{repoType, repo, revision, ""}
	var info *RepoInfo
	list := func() (err error) {
		info, err = c.repoInfoOnce(ctx, t)
		return err
	}
	err := list()
	if err = c.retryTransient(ctx, err, metadataRetries, list); err != nil {
		return nil, err
	}
	return info, nil
}

func (c *Client) repoInfoOnce(ctx context.Context, t target) (*RepoInfo, error) {
	repoType, repo, revision := t.repoType, t.repo, t.revision
	u := c.endpoint() + "/api/" + repoType.apiCollection() + "/" + repo + "/revision/" +
		url.PathEscape(revision) + "?blobs=true"
	req, err := c.newRequest(ctx, http.MethodGet, u, true)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := do(c.httpClient(true), req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, statusError(resp, t, c.Token != "")
	}
	var info RepoInfo
	dec := json.NewDecoder(io.LimitReader(resp.Body, maxAPIBody))
	if err := dec.Decode(&info); err != nil {
		return nil, &networkError{fmt.Errorf("hub: decoding file list of %s at revision %q: %w", describe(repoType, repo), revision, err)}
	}
	if !IsCommitHash(info.SHA) {
		return nil, fmt.Errorf("hub: file list of %s at revision %q has no commit hash (got %q); is HF_ENDPOINT a Hugging Face hub?", describe(repoType, repo), revision, info.SHA)
	}
	return &info, nil
}

// file returns the sibling with the given name.
func (r *RepoInfo) file(name string) (Sibling, bool) {
	for _, s := range r.Siblings {
		if s.Name == name {
			return s, true
		}
	}
	return Sibling{}, false
}

// names lists the sibling names, for error messages.
func (r *RepoInfo) names() string {
	out := make([]string, 0, len(r.Siblings))
	for _, s := range r.Siblings {
		out = append(out, s.Name)
	}
	return strings.Join(out, ", ")
}
