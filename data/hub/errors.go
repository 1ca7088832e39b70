package hub

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Sentinel errors; test with errors.Is.
var (
	// ErrUnauthorized: the hub refused the request (401/403): the repository
	// is private or gated, or the token is missing or wrong.
	ErrUnauthorized = errors.New("hub: unauthorized")
	// ErrNotFound: the repository, revision or file does not exist (404).
	ErrNotFound = errors.New("hub: not found")
	// ErrOffline: offline mode is on and the cache cannot answer.
	ErrOffline = errors.New("hub: offline mode")
	// ErrNotCached: the cache does not hold the requested revision or file.
	ErrNotCached = errors.New("hub: not in cache")
	// ErrVerification: a download did not match its expected size or hash.
	ErrVerification = errors.New("verification failed")
)

// HTTPError is a failed hub request, with enough context to say what was
// being fetched.
type HTTPError struct {
	StatusCode int
	// Code is the hub's X-Error-Code header (RepoNotFound, RevisionNotFound,
	// EntryNotFound, GatedRepo), if any.
	Code string
	// ServerMessage is the hub's X-Error-Message header, if any.
	ServerMessage string
	RepoType      RepoType
	Repo          string
	Revision      string
	// Filename is empty for repository-level requests (the API).
	Filename string
	// TokenSent reports whether an Authorization header was sent.
	TokenSent bool
}

// Error describes the failure and what to do about it.
func (e *HTTPError) Error() string {
	what := describe(e.RepoType, e.Repo)
	if e.Filename != "" {
		what += fmt.Sprintf(" file %q", e.Filename)
	}
	what += fmt.Sprintf(" at revision %q", e.Revision)
	var b strings.Builder
	fmt.Fprintf(&b, "hub: %d %s for %s", e.StatusCode, http.StatusText(e.StatusCode), what)
	if hint := e.hint(); hint != "" {
		b.WriteString(": " + hint)
	}
	if e.ServerMessage != "" {
		fmt.Fprintf(&b, " (server: %s)", e.ServerMessage)
	}
	return b.String()
}

func (e *HTTPError) hint() string {
	switch {
	case e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden:
		if e.Code == "GatedRepo" {
			return "the repository is gated: request access on its hub page, then set HF_TOKEN (or --token) to a token of that account"
		}
		if e.TokenSent {
			return "the token was rejected or has no access to this repository; check HF_TOKEN (or --token)"
		}
		return "the repository is private, gated or does not exist; set HF_TOKEN (or --token) to a token with access"
	case e.StatusCode == http.StatusNotFound:
		switch e.Code {
		case "RevisionNotFound":
			return fmt.Sprintf("revision %q does not exist", e.Revision)
		case "EntryNotFound":
			return fmt.Sprintf("file %q does not exist at this revision", e.Filename)
		default:
			return fmt.Sprintf("repository %q does not exist (or it is private: set HF_TOKEN)", e.Repo)
		}
	case e.StatusCode == http.StatusTooManyRequests:
		return "rate limited, try again later"
	case e.StatusCode >= 500:
		return "the hub failed, try again later"
	}
	return ""
}

// Is makes errors.Is(err, ErrUnauthorized) and errors.Is(err, ErrNotFound)
// work on HTTP errors.
func (e *HTTPError) Is(target error) bool {
	switch target {
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	}
	return false
}

// transient reports whether retrying the request later may succeed.
func (e *HTTPError) transient() bool {
	return e.StatusCode == http.StatusTooManyRequests || e.StatusCode >= 500
}

// cacheMiss is a cache lookup that found nothing; it matches ErrNotCached.
type cacheMiss struct{ msg string }

func (e *cacheMiss) Error() string        { return e.msg }
func (e *cacheMiss) Is(target error) bool { return target == ErrNotCached }

func notCached(format string, args ...any) error {
	return &cacheMiss{"hub: " + fmt.Sprintf(format, args...)}
}

// offlineMiss is a cache miss in offline mode; it matches ErrOffline and
// whatever the miss matches (ErrNotCached).
type offlineMiss struct{ err error }

func (e *offlineMiss) Error() string {
	return "hub: offline mode (HF_HUB_OFFLINE=1): " + strings.TrimPrefix(e.err.Error(), "hub: ") +
		"; nothing can be downloaded offline: run the download once with network access, or point HF_HUB_CACHE at a cache that has it"
}
func (e *offlineMiss) Is(target error) bool { return target == ErrOffline }
func (e *offlineMiss) Unwrap() error        { return e.err }

// offlineRefusal is the error for a request attempted in offline mode.
func offlineRefusal(what string) error {
	return fmt.Errorf("hub: cannot %s: %w (HF_HUB_OFFLINE is set)", what, ErrOffline)
}

// target names what a request was about, for HTTPError.
type target struct {
	repoType RepoType
	repo     string
	revision string
	filename string
}

// statusError builds an HTTPError from a non-success response.
func statusError(resp *http.Response, t target, tokenSent bool) *HTTPError {
	return &HTTPError{
		StatusCode:    resp.StatusCode,
		Code:          resp.Header.Get("X-Error-Code"),
		ServerMessage: resp.Header.Get("X-Error-Message"),
		RepoType:      t.repoType,
		Repo:          t.repo,
		Revision:      t.revision,
		Filename:      t.filename,
		TokenSent:     tokenSent,
	}
}

// networkError marks a failure to talk to the hub at all (connection refused,
// reset, timeout, truncated body). Such failures are retried, and a cached
// copy may be used instead.
type networkError struct{ err error }

func (e *networkError) Error() string { return e.err.Error() }
func (e *networkError) Unwrap() error { return e.err }

// isNetworkError reports whether err is a connectivity failure rather than
// an answer from the hub.
func isNetworkError(err error) bool {
	var ne *networkError
	return errors.As(err, &ne)
}

// canFallBackToCache reports whether err allows answering from the cache,
// as huggingface_hub does: no connection, server errors, auth failures; but
// not "this repository, revision or file does not exist".
func canFallBackToCache(err error) bool {
	if isNetworkError(err) {
		return true
	}
	var he *HTTPError
	return errors.As(err, &he) && he.StatusCode != http.StatusNotFound
}

// retryable reports whether a download attempt that failed with err should
// be retried.
func retryable(err error) bool {
	if isNetworkError(err) {
		return true
	}
	var he *HTTPError
	return errors.As(err, &he) && he.transient()
}
