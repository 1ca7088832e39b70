package hub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Defaults used when the corresponding Client field is zero.
const (
	DefaultRetries      = 5
	DefaultRetryDelay   = time.Second
	DefaultStallTimeout = 60 * time.Second
	defaultUserAgent    = "spanqa (huggingface_hub compatible)"
	maxRedirects        = 10
)

// Client downloads from a hub into a local cache. The zero value is not
// usable: CacheDir must be set (NewClientFromEnv sets everything).
type Client struct {
	// Endpoint is the hub base URL, e.g. https://huggingface.co. Empty means
	// DefaultEndpoint.
	Endpoint string
	// Token is sent as "Authorization: Bearer <Token>" to the hub (never to
	// another host, such as a CDN the hub redirects to). Empty sends none.
	Token string
	// CacheDir is the hub cache directory (HF_HUB_CACHE).
	CacheDir string
	// Offline answers only from the cache and makes no request.
	Offline bool
	// HTTP is the client used for requests; nil means one with sensible
	// timeouts. Its CheckRedirect is replaced (on a copy) by the hub policy.
	HTTP *http.Client
	// Progress receives progress bars (when it is a terminal) or plain
	// progress lines; nil disables progress output.
	Progress io.Writer
	// Retries is how many times a dropped download is resumed before giving
	// up; 0 means DefaultRetries, a negative value disables retries. The
	// count resets whenever an attempt makes progress.
	Retries int
	// RetryDelay is the pause before a retry; 0 means DefaultRetryDelay.
	RetryDelay time.Duration
	// StallTimeout aborts an attempt that receives no data for this long;
	// 0 means DefaultStallTimeout.
	StallTimeout time.Duration
	// UserAgent overrides the User-Agent header.
	UserAgent string
}

var defaultHTTP = &http.Client{Transport: defaultTransport()}

func defaultTransport() http.RoundTripper {
	t, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return http.DefaultTransport
	}
	t = t.Clone()
	t.ResponseHeaderTimeout = 60 * time.Second
	return t
}

func (c *Client) endpoint() string {
	if c.Endpoint == "" {
		return DefaultEndpoint
	}
	return strings.TrimRight(c.Endpoint, "/")
}

func (c *Client) retries() int {
	switch {
	case c.Retries < 0:
		return 0
	case c.Retries == 0:
		return DefaultRetries
	}
	return c.Retries
}

func (c *Client) retryDelay() time.Duration {
	if c.RetryDelay > 0 {
		return c.RetryDelay
	}
	return DefaultRetryDelay
}

func (c *Client) stallTimeout() time.Duration {
	if c.StallTimeout > 0 {
		return c.StallTimeout
	}
	return DefaultStallTimeout
}

func (c *Client) checkUsable() error {
	if c == nil {
		return errors.New("hub: nil client")
	}
	if c.CacheDir == "" {
		return errors.New("hub: client has no cache directory")
	}
	return nil
}

// metadataRetries bounds the retries of metadata and listing requests, so
// that an unreachable hub is reported (or the cache used) quickly.
const metadataRetries = 2

// retryTransient re-runs fn, after a pause, up to n times while it fails with
// a retryable error; first is the error of the attempt already made.
func (c *Client) retryTransient(ctx context.Context, first error, n int, fn func() error) error {
	err := first
	for i := 0; i < min(n, c.retries()) && err != nil && retryable(err); i++ {
		select {
		case <-ctx.Done():
			return err
		case <-time.After(c.retryDelay()):
		}
		err = fn()
	}
	return err
}

// httpClient returns a copy of the configured client whose redirect policy
// is the hub's: follow=false returns redirects to the caller; follow=true
// follows them but drops the Authorization header whenever the host (port
// included) changes.
func (c *Client) httpClient(follow bool) *http.Client {
	base := c.HTTP
	if base == nil {
		base = defaultHTTP
	}
	cp := *base
	if follow {
		cp.CheckRedirect = stripAuthOnHostChange
	} else {
		cp.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	return &cp
}

// stripAuthOnHostChange is a CheckRedirect that never forwards credentials
// to another host. net/http only compares host names, so a redirect to the
// same name on another port would otherwise keep the token.
func stripAuthOnHostChange(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return fmt.Errorf("hub: stopped after %d redirects", maxRedirects)
	}
	if req.URL.Host != via[0].URL.Host || req.URL.Scheme != via[0].URL.Scheme {
		req.Header.Del("Authorization")
	}
	return nil
}

// newRequest builds a request with the hub headers; auth adds the token.
func (c *Client) newRequest(ctx context.Context, method, url string, auth bool) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return nil, fmt.Errorf("hub: building request for %s: %w", url, err)
	}
	ua := c.UserAgent
	if ua == "" {
		ua = defaultUserAgent
	}
	req.Header.Set("User-Agent", ua)
	// Identity encoding: sizes and ranges refer to the stored bytes.
	req.Header.Set("Accept-Encoding", "identity")
	if auth && c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	return req, nil
}

// do sends req, classifying transport failures as network errors.
func do(hc *http.Client, req *http.Request) (*http.Response, error) {
	resp, err := hc.Do(req)
	if err != nil {
		if ctxErr := req.Context().Err(); ctxErr != nil {
			return nil, fmt.Errorf("hub: %s %s: %w", req.Method, safeURL(req.URL), ctxErr)
		}
		return nil, &networkError{fmt.Errorf("hub: %s %s: %w", req.Method, safeURL(req.URL), err)}
	}
	return resp, nil
}

// safeURL renders u for messages without its query, which holds the
// signature of CDN URLs, or user information.
func safeURL(u *url.URL) string {
	cp := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}
	return cp.String()
}

// drain discards a little of the body so the connection can be reused, then
// closes it.
func drain(resp *http.Response) {
	_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
	_ = resp.Body.Close()
}
