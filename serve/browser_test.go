package serve

import (
	"context"
	"html"
	"net/url"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// chromiumPath finds Debian's chromium, or skips the test loudly.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("SKIPPED LOUDLY: chromium not found (apt-get install chromium; .ci/run installs it through third_party/install-deps.sh)")
	return ""
}

// TestWebPageInChromium loads the web page in headless Chromium with a question and a context
// in the URL (auto=1 asks at once), lets the page call /v1/answer, and reads the answer
// highlighted in the page's final DOM.
func TestWebPageInChromium(t *testing.T) {
	bin := chromiumPath(t)
	m := loadTestModel(t, "bert", Options{})
	ts := startServer(t, m, ServerConfig{})
	question := "Which city is the capital?"
	context := "Paris — « la Ville Lumière » — is the capital of France 🇫🇷 and its most populous city."
	want, err := m.Answer(t.Context(), question, context, AnswerOptions{})
	require.NoError(t, err)
	require.False(t, want.Null)

	page := ts.URL + "/?" + url.Values{"q": {question}, "c": {context}, "auto": {"1"}}.Encode()
	dom := dumpDOM(t, bin, page)

	require.Contains(t, dom, `data-state="answered"`, "the page shows an answer")
	mark := regexp.MustCompile(`<mark id="answer">([^<]*)</mark>`).FindStringSubmatch(dom)
	require.NotNil(t, mark, "the answer is highlighted:\n%s", dom)
	require.Equal(t, want.Text, html.UnescapeString(mark[1]))
	// The highlight sits where the offsets say, in the context shown around it.
	before := []rune(context)[:want.Start]
	require.Contains(t, html.UnescapeString(dom), string(before)+"<mark id=\"answer\">"+want.Text)
	require.Equal(t, 1.0, metricValue(ts.metricFamilies(t), "spanqa_http_requests_total", map[string]string{"handler": "answer", "code": "200"}))
}

// dumpDOM runs headless Chromium on url and returns the DOM after the page's scripts have run.
// --virtual-time-budget lets the page's fetch complete before the dump; the whole run is bounded.
func dumpDOM(t *testing.T, bin, url string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-extensions", "--no-first-run", "--no-default-browser-check", "--mute-audio",
		"--user-data-dir="+t.TempDir(), "--virtual-time-budget=20000", "--dump-dom", url)
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "chromium: %s", stderr.String())
	return strings.TrimSpace(stdout.String())
}
