package hub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

var errStalled = errors.New("no data received within the stall timeout")

// fetchBlob downloads meta.Location into blob. The bytes go to
// blob.incomplete first; an existing .incomplete file is resumed with an
// HTTP range request. The blob appears only once its size and hash are
// right; a corrupt download is deleted, an interrupted one is kept for the
// next attempt.
func (c *Client) fetchBlob(ctx context.Context, meta *FileMetadata, blob, name string) error {
	incomplete := blob + ".incomplete"
	f, err := os.OpenFile(incomplete, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("opening %s: %w", incomplete, err)
	}
	sum := newContentHash(meta.ETag, meta.Size)
	have, err := resumePoint(f, sum, meta.Size)
	if err != nil {
		_ = f.Close()
		return err
	}
	bar := c.newProgress(name, meta.Size)
	bar.set(have)
	err = c.transfer(ctx, meta, f, sum, &have, bar, name)
	if err == nil {
		err = sum.check(name)
	}
	if err == nil {
		err = f.Sync()
	}
	bar.finish(err)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		if errors.Is(err, ErrVerification) {
			_ = os.Remove(incomplete)
			return fmt.Errorf("%w (the corrupt download was deleted; nothing was cached)", err)
		}
		return err
	}
	if err := os.Rename(incomplete, blob); err != nil {
		return fmt.Errorf("moving %s into place: %w", incomplete, err)
	}
	return nil
}

// resumePoint hashes the bytes a previous attempt left in f and returns
// their count. A partial file longer than the expected size is discarded.
func resumePoint(f *os.File, sum *contentHash, size int64) (int64, error) {
	info, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("inspecting %s: %w", f.Name(), err)
	}
	have := info.Size()
	if have > size {
		if err := f.Truncate(0); err != nil {
			return 0, fmt.Errorf("truncating %s: %w", f.Name(), err)
		}
		return 0, nil
	}
	if _, err := io.Copy(sum, io.NewSectionReader(f, 0, have)); err != nil {
		return 0, fmt.Errorf("reading partial download %s: %w", f.Name(), err)
	}
	return have, nil
}

// transfer runs download attempts until the file is complete, retrying
// network failures; the retry budget is restored whenever an attempt makes
// progress.
func (c *Client) transfer(ctx context.Context, meta *FileMetadata, f *os.File, sum *contentHash, have *int64, bar progress, name string) error {
	left := c.retries()
	for *have < meta.Size {
		before := *have
		err := c.attempt(ctx, meta, f, sum, have, bar)
		if err == nil {
			continue
		}
		if !retryable(err) || ctx.Err() != nil {
			return err
		}
		if *have > before {
			left = c.retries()
		}
		if left == 0 {
			return fmt.Errorf("%w (gave up after retries; run again to resume at %s)", err, formatBytes(*have))
		}
		left--
		bar.note("%s: %v; retrying from %s", name, err, formatBytes(*have))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(c.retryDelay()):
		}
	}
	return nil
}

// attempt makes one GET, from byte *have on, appending to f.
func (c *Client) attempt(ctx context.Context, meta *FileMetadata, f *os.File, sum *contentHash, have *int64, bar progress) error {
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	req, err := c.newRequest(actx, http.MethodGet, meta.Location, meta.SendToken)
	if err != nil {
		return err
	}
	if *have > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(*have, 10)+"-")
	}
	resp, err := do(c.httpClient(true), req)
	if err != nil {
		return attemptError(ctx, actx, err)
	}
	defer resp.Body.Close()

	restart := func(why string) error {
		bar.note("%s; restarting from byte 0", why)
		*have = 0
		sum.reset()
		bar.set(0)
		return f.Truncate(0)
	}
	switch resp.StatusCode {
	case http.StatusPartialContent:
		start, ok := contentRangeStart(resp.Header.Get("Content-Range"))
		if !ok || start != *have {
			if err := restart(fmt.Sprintf("server answered range %q for bytes=%d-", resp.Header.Get("Content-Range"), *have)); err != nil {
				return err
			}
			return &networkError{errors.New("unusable partial content")}
		}
	case http.StatusOK:
		if *have > 0 {
			if err := restart("server ignored the range request"); err != nil {
				return err
			}
		}
	case http.StatusRequestedRangeNotSatisfiable:
		if err := restart("server rejected the range request"); err != nil {
			return err
		}
		return &networkError{errors.New("range not satisfiable")}
	default:
		return fmt.Errorf("GET %s: %w", safeURL(req.URL), downloadStatusError(resp))
	}
	if _, err := f.Seek(*have, io.SeekStart); err != nil {
		return fmt.Errorf("seeking in %s: %w", f.Name(), err)
	}
	return c.copyBody(ctx, actx, cancel, resp.Body, meta.Size, f, sum, have, bar)
}

// copyBody streams the response into f and the hash, aborting the attempt
// when no data arrives for the stall timeout.
func (c *Client) copyBody(ctx, actx context.Context, cancel context.CancelCauseFunc, body io.Reader, size int64, f *os.File, sum *contentHash, have *int64, bar progress) error {
	stall := c.stallTimeout()
	timer := time.AfterFunc(stall, func() { cancel(errStalled) })
	defer timer.Stop()
	buf := make([]byte, 256<<10)
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			timer.Reset(stall)
			if *have+int64(n) > size {
				return fmt.Errorf("server sent more than the expected %d bytes: %w", size, ErrVerification)
			}
			if _, err := f.Write(buf[:n]); err != nil {
				return fmt.Errorf("writing %s: %w", f.Name(), err)
			}
			_, _ = sum.Write(buf[:n])
			*have += int64(n)
			bar.add(n)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return attemptError(ctx, actx, rerr)
		}
	}
	if *have < size {
		return &networkError{fmt.Errorf("connection closed after %d of %d bytes", *have, size)}
	}
	return nil
}

// attemptError classifies an attempt's failure: the caller's cancellation
// stays as is, everything else (including a stall) is a network error.
func attemptError(ctx, actx context.Context, err error) error {
	if ctx.Err() != nil {
		return err
	}
	if errors.Is(context.Cause(actx), errStalled) {
		return &networkError{errStalled}
	}
	var ne *networkError
	if errors.As(err, &ne) {
		return err
	}
	return &networkError{err}
}

// contentRangeStart parses the first byte of "bytes <start>-<end>/<size>".
func contentRangeStart(h string) (int64, bool) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(h), "bytes ")
	if !ok {
		return 0, false
	}
	startStr, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	start, err := strconv.ParseInt(strings.TrimSpace(startStr), 10, 64)
	return start, err == nil
}

// downloadStatusError describes a failed GET; 5xx and 429 are retried.
func downloadStatusError(resp *http.Response) error {
	err := fmt.Errorf("status %s", resp.Status)
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
		return &networkError{err}
	}
	return err
}
