package hub

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// DefaultEndpoint is the hub used when HF_ENDPOINT is not set.
const DefaultEndpoint = "https://huggingface.co"

// Environment variables read by NewClientFromEnv, with the meaning
// huggingface_hub gives them.
const (
	EnvEndpoint    = "HF_ENDPOINT"
	EnvToken       = "HF_TOKEN"
	EnvTokenPath   = "HF_TOKEN_PATH"
	EnvHome        = "HF_HOME"
	EnvHubCache    = "HF_HUB_CACHE"
	EnvOffline     = "HF_HUB_OFFLINE"
	envLegacyCache = "HUGGINGFACE_HUB_CACHE"
	envLegacyToken = "HUGGING_FACE_HUB_TOKEN"
)

// NewClientFromEnv returns a Client configured the way huggingface_hub
// configures itself: endpoint from HF_ENDPOINT, token from HF_TOKEN or the
// token file, cache directory from HF_HUB_CACHE or HF_HOME, offline mode from
// HF_HUB_OFFLINE. Progress goes to os.Stderr.
func NewClientFromEnv() (*Client, error) {
	cacheDir, err := DefaultCacheDir()
	if err != nil {
		return nil, err
	}
	return &Client{
		Endpoint: EndpointFromEnv(),
		Token:    TokenFromEnv(),
		CacheDir: cacheDir,
		Offline:  OfflineFromEnv(),
		Progress: os.Stderr,
	}, nil
}

// EndpointFromEnv returns HF_ENDPOINT without a trailing slash, or
// DefaultEndpoint.
func EndpointFromEnv() string {
	if e := strings.TrimRight(os.Getenv(EnvEndpoint), "/"); e != "" {
		return e
	}
	return DefaultEndpoint
}

// OfflineFromEnv reports whether HF_HUB_OFFLINE is set to a true value
// (1, ON, YES or TRUE, in any case).
func OfflineFromEnv() bool {
	return isTruthy(os.Getenv(EnvOffline))
}

// HFHome returns HF_HOME, or $XDG_CACHE_HOME/huggingface, or
// ~/.cache/huggingface.
func HFHome() (string, error) {
	if h := os.Getenv(EnvHome); h != "" {
		return expandHome(h)
	}
	if x := os.Getenv("XDG_CACHE_HOME"); x != "" {
		return filepath.Join(x, "huggingface"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("hub: locating the Hugging Face home (set HF_HOME): %w", err)
	}
	return filepath.Join(home, ".cache", "huggingface"), nil
}

// DefaultCacheDir returns the hub cache directory: HF_HUB_CACHE (or the legacy
// HUGGINGFACE_HUB_CACHE) when set, else HFHome()/hub.
func DefaultCacheDir() (string, error) {
	for _, name := range []string{EnvHubCache, envLegacyCache} {
		if d := os.Getenv(name); d != "" {
			return expandHome(d)
		}
	}
	home, err := HFHome()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, "hub"), nil
}

// TokenFromEnv returns HF_TOKEN (or the legacy HUGGING_FACE_HUB_TOKEN), else
// the content of the token file written by `huggingface-cli login`
// (HF_TOKEN_PATH, default HF_HOME/token), else "".
func TokenFromEnv() string {
	for _, name := range []string{EnvToken, envLegacyToken} {
		if t := strings.TrimSpace(os.Getenv(name)); t != "" {
			return t
		}
	}
	path := os.Getenv(EnvTokenPath)
	if path == "" {
		home, err := HFHome()
		if err != nil {
			return ""
		}
		path = filepath.Join(home, "token")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(data))
}

func isTruthy(v string) bool {
	switch strings.ToUpper(strings.TrimSpace(v)) {
	case "1", "ON", "YES", "TRUE":
		return true
	}
	return false
}

// expandHome replaces a leading "~" with the user's home directory, as
// Python's os.path.expanduser does for these variables.
func expandHome(p string) (string, error) {
	if p != "~" && !strings.HasPrefix(p, "~/") {
		return p, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("hub: expanding %q: %w", p, err)
	}
	return filepath.Join(home, strings.TrimPrefix(p, "~")), nil
}
