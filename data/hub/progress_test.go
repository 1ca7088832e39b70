package hub

import (
	"bytes"
	"errors"
	"net/http"
	"net/url"
	"sync"
	"testing"

	"github.com/spanqa/spanqa/data/hub/hubtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFormatBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 440473133: "420.1 MiB", 3 << 30: "3.0 GiB"} {
		assert.Equal(t, want, formatBytes(n))
	}
}

func TestLineProgress(t *testing.T) {
	var out bytes.Buffer
	c := &Client{Progress: &out}
	p := c.newProgress("model.safetensors", 64<<20)
	_, isLine := p.(*lineProgress)
	require.True(t, isLine, "a buffer is not a terminal: plain lines")
	p.set(0)
	for range 64 {
		p.add(1 << 20)
	}
	p.finish(nil)
	assert.Equal(t, []string{
		"downloading model.safetensors (64.0 MiB)",
		"  model.safetensors: 25% (16.0 MiB of 64.0 MiB)",
		"  model.safetensors: 50% (32.0 MiB of 64.0 MiB)",
		"  model.safetensors: 75% (48.0 MiB of 64.0 MiB)",
	}, splitLines(out.String())[:4])
	assert.Contains(t, out.String(), "done model.safetensors (64.0 MiB in")

	out.Reset()
	p = c.newProgress("x.bin", 100)
	p.set(40)
	p.finish(errors.New("boom"))
	assert.Equal(t, "resuming x.bin at 40 B of 100 B\nfailed x.bin after 40 B: boom\n", out.String())

	assert.IsType(t, nopProgress{}, (&Client{}).newProgress("x", 1))
}

func splitLines(s string) []string {
	var out []string
	for _, l := range bytes.Split([]byte(s), []byte("\n")) {
		if len(l) > 0 {
			out = append(out, string(l))
		}
	}
	return out
}

// TestConcurrentDownloadsShareOneTransfer: the blob lock makes a second
// download of the same file wait and reuse the first one's blob.
func TestConcurrentDownloadsShareOneTransfer(t *testing.T) {
	srv := hubtest.New(t)
	files := hubtest.ModelFiles()
	srv.AddCommit("model", "org/tiny", "main", files...)
	c, _ := newClient(t, srv)
	ctx := testCtx(t)

	const n = 4
	paths := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			paths[i], errs[i] = c.DownloadFile(ctx, RepoTypeModel, "org/tiny", "main", "model.safetensors")
		}()
	}
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i])
		requireContent(t, paths[i], fileNamed(t, files, "model.safetensors").Content)
	}
	assert.Equal(t, 1, srv.CountRequests("cdn", http.MethodGet))
}

func TestBarProgressRenders(t *testing.T) {
	var out bytes.Buffer
	p := newBarProgress(&out, "model.safetensors", 2048)
	p.set(1024)
	p.note("resuming")
	p.add(1024)
	p.finish(nil)
	assert.Contains(t, out.String(), "model.safetensors")
	assert.Contains(t, out.String(), "resuming")
	assert.Contains(t, out.String(), "100%")
}

func TestSafeURLDropsSignature(t *testing.T) {
	u, err := url.Parse("https://user:pw@cdn.example/lfs/abc?X-Amz-Signature=secret")
	require.NoError(t, err)
	assert.Equal(t, "https://cdn.example/lfs/abc", safeURL(u))
}
