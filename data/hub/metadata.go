package hub

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// FileMetadata is what a HEAD request on a resolve URL tells about a file.
type FileMetadata struct {
	// Commit is the commit the revision resolved to (X-Repo-Commit).
	Commit string
	// ETag names the blob: the sha256 of an LFS file, the git blob sha1 of
	// any other file.
	ETag string
	// Size is the file size in bytes.
	Size int64
	// Location is where to GET the content: the resolve URL (after relative
	// redirects) or the CDN URL an LFS file redirects to.
	Location string
	// SendToken reports whether Location is on the hub's host, so that the
	// token may be sent there.
	SendToken bool
}

// FileMetadata asks the hub about one file without downloading it.
func (c *Client) FileMetadata(ctx context.Context, repoType RepoType, repo, revision, filename string) (*FileMetadata, error) {
	if revision == "" {
		revision = DefaultRevision
	}
	if err := validateTarget(repoType, repo, revision, filename); err != nil {
		return nil, err
	}
	if c.Offline {
		return nil, offlineRefusal(fmt.Sprintf("query %s file %q", describe(repoType, repo), filename))
	}
	t := target{repoType, repo, revision, filename}
	return c.head(ctx, resolveURL(c.endpoint(), repoType, repo, revision, filename), t)
}

// head performs the metadata request, following relative redirects only
// (a renamed repository answers with a relative Location).
func (c *Client) head(ctx context.Context, rawURL string, t target) (*FileMetadata, error) {
	hc := c.httpClient(false)
	start, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("hub: bad URL %q: %w", rawURL, err)
	}
	cur := start
	for hop := 0; ; hop++ {
		if hop > maxRedirects {
			return nil, fmt.Errorf("hub: too many redirects for %s", rawURL)
		}
		sendToken := cur.Host == start.Host
		req, err := c.newRequest(ctx, http.MethodHead, cur.String(), sendToken)
		if err != nil {
			return nil, err
		}
		resp, err := do(hc, req)
		if err != nil {
			return nil, err
		}
		drain(resp)
		loc := resp.Header.Get("Location")
		if isRedirect(resp.StatusCode) && loc != "" {
			next, err := cur.Parse(loc)
			if err != nil {
				return nil, fmt.Errorf("hub: bad redirect from %s: %w", safeURL(cur), err)
			}
			if isRelative(loc) {
				cur = next
				continue
			}
			// Absolute redirect: the file lives elsewhere (LFS on a CDN).
			return parseMetadata(resp, next, next.Host == start.Host, t)
		}
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			return nil, statusError(resp, t, req.Header.Get("Authorization") != "")
		}
		return parseMetadata(resp, cur, sendToken, t)
	}
}

func isRedirect(code int) bool { return code >= 300 && code <= 399 }

// isRelative reports whether a Location header has no host, as
// huggingface_hub decides which redirects to follow itself.
func isRelative(loc string) bool {
	u, err := url.Parse(loc)
	return err == nil && u.Host == ""
}

func parseMetadata(resp *http.Response, location *url.URL, sendToken bool, t target) (*FileMetadata, error) {
	where := fmt.Sprintf("%s file %q at revision %q", describe(t.repoType, t.repo), t.filename, t.revision)
	commit := resp.Header.Get("X-Repo-Commit")
	if commit == "" {
		return nil, fmt.Errorf("hub: %s: response has no X-Repo-Commit header; the endpoint does not look like a Hugging Face hub (check HF_ENDPOINT and proxy settings)", where)
	}
	if !IsCommitHash(commit) {
		return nil, fmt.Errorf("hub: %s: bad X-Repo-Commit %q", where, commit)
	}
	raw := resp.Header.Get("X-Linked-Etag")
	if raw == "" {
		raw = resp.Header.Get("ETag")
	}
	if raw == "" {
		return nil, fmt.Errorf("hub: %s: response has no ETag, the download could not be verified", where)
	}
	etag, err := normalizeETag(raw)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, where)
	}
	rawSize := resp.Header.Get("X-Linked-Size")
	if rawSize == "" {
		rawSize = resp.Header.Get("Content-Length")
	}
	size, err := strconv.ParseInt(rawSize, 10, 64)
	if err != nil || size < 0 {
		return nil, fmt.Errorf("hub: %s: missing or bad size header %q", where, rawSize)
	}
	return &FileMetadata{Commit: commit, ETag: etag, Size: size, Location: location.String(), SendToken: sendToken}, nil
}

func validateTarget(repoType RepoType, repo, revision, filename string) error {
	if err := validateRepo(repoType, repo); err != nil {
		return err
	}
	if err := validateRevision(revision); err != nil {
		return err
	}
	return validateFilename(filename)
}
