package hub

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// RepoType is the kind of a hub repository.
type RepoType string

// Repository kinds understood by the hub.
const (
	RepoTypeModel   RepoType = "model"
	RepoTypeDataset RepoType = "dataset"
)

// DefaultRevision is the revision used when none is given.
const DefaultRevision = "main"

var (
	commitHashRE = regexp.MustCompile(`^[0-9a-f]{40}$`)
	sha256RE     = regexp.MustCompile(`^[0-9a-f]{64}$`)
	repoIDRE     = regexp.MustCompile(`^([A-Za-z0-9][A-Za-z0-9._-]*/)?[A-Za-z0-9][A-Za-z0-9._-]*$`)
	etagRE       = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
)

// IsCommitHash reports whether rev is a full 40-character git commit hash.
func IsCommitHash(rev string) bool { return commitHashRE.MatchString(rev) }

// Valid reports whether t is a known repository type.
func (t RepoType) Valid() bool { return t == RepoTypeModel || t == RepoTypeDataset }

// urlPrefix is the path prefix of resolve URLs for the type.
func (t RepoType) urlPrefix() string {
	if t == RepoTypeDataset {
		return "datasets/"
	}
	return ""
}

// apiCollection is the path segment of the repository API for the type.
func (t RepoType) apiCollection() string { return string(t) + "s" }

// RepoFolderName is the name of a repository's folder in the cache, e.g.
// "models--google--bert" or "datasets--rajpurkar--squad".
func RepoFolderName(t RepoType, repo string) string {
	return string(t) + "s--" + strings.ReplaceAll(repo, "/", "--")
}

func validateRepo(t RepoType, repo string) error {
	if !t.Valid() {
		return fmt.Errorf("hub: unknown repository type %q (want %q or %q)", t, RepoTypeModel, RepoTypeDataset)
	}
	if !repoIDRE.MatchString(repo) || strings.Contains(repo, "..") || strings.Contains(repo, "--") {
		return fmt.Errorf("hub: invalid repository id %q (want \"name\" or \"org/name\")", repo)
	}
	return nil
}

// validateFilename rejects names that could escape the snapshot directory.
func validateFilename(name string) error {
	if name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, "\\") {
		return fmt.Errorf("hub: invalid file name %q", name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == "" || part == "." || part == ".." {
			return fmt.Errorf("hub: invalid file name %q", name)
		}
	}
	return nil
}

func validateRevision(rev string) error {
	if rev == "" || strings.Contains(rev, "..") || strings.HasPrefix(rev, "/") ||
		strings.HasSuffix(rev, "/") || strings.ContainsAny(rev, "\\\x00") {
		return fmt.Errorf("hub: invalid revision %q", rev)
	}
	return nil
}

// normalizeETag strips the weak marker and quotes from an ETag header value,
// as huggingface_hub does, and checks the result is usable as a file name.
func normalizeETag(h string) (string, error) {
	e := strings.Trim(strings.TrimPrefix(strings.TrimSpace(h), "W/"), `"`)
	if !etagRE.MatchString(e) {
		return "", fmt.Errorf("hub: unusable etag %q", h)
	}
	return e, nil
}

// resolveURL builds {endpoint}/[datasets/]{repo}/resolve/{revision}/{file}.
// The revision is escaped as one path segment (refs/pr/1 -> refs%2Fpr%2F1).
func resolveURL(endpoint string, t RepoType, repo, revision, filename string) string {
	return strings.TrimRight(endpoint, "/") + "/" + t.urlPrefix() + repo + "/resolve/" +
		url.PathEscape(revision) + "/" + escapePath(filename)
}

// escapePath escapes each segment of a slash separated path.
func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}

// describe names a repository for messages, e.g. `model "org/name"`.
func describe(t RepoType, repo string) string {
	return fmt.Sprintf("%s %q", t, repo)
}
