package hub

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress reports the download of one file.
type progress interface {
	// set moves the count to n bytes (a resume starts above zero).
	set(n int64)
	// add counts n more bytes.
	add(n int)
	// note prints a one-line message about the file (retry, resume).
	note(format string, args ...any)
	// finish ends the report; err is nil on success.
	finish(err error)
}

// newProgress picks a progress bar for terminals, plain lines otherwise.
func (c *Client) newProgress(name string, total int64) progress {
	w := c.Progress
	if w == nil {
		return nopProgress{}
	}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return newBarProgress(w, name, total)
	}
	return &lineProgress{w: w, name: name, total: total, began: time.Now()}
}

// info prints a line to the progress writer, if any.
func (c *Client) info(format string, args ...any) {
	if c.Progress != nil {
		fmt.Fprintf(c.Progress, format+"\n", args...)
	}
}

type nopProgress struct{}

func (nopProgress) set(int64)           {}
func (nopProgress) add(int)             {}
func (nopProgress) note(string, ...any) {}
func (nopProgress) finish(error)        {}

type barProgress struct {
	w   io.Writer
	bar *progressbar.ProgressBar
}

func newBarProgress(w io.Writer, name string, total int64) *barProgress {
	bar := progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(shortName(name)),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowTotalBytes(true),
		progressbar.OptionUseIECUnits(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetPredictTime(true),
	)
	return &barProgress{w: w, bar: bar}
}

func (p *barProgress) set(n int64) { _ = p.bar.Set64(n) }
func (p *barProgress) add(n int)   { _ = p.bar.Add(n) }

func (p *barProgress) note(format string, args ...any) {
	_ = p.bar.Clear()
	fmt.Fprintf(p.w, format+"\n", args...)
}

func (p *barProgress) finish(err error) {
	if err != nil {
		_ = p.bar.Exit()
	} else {
		_ = p.bar.Finish()
	}
	fmt.Fprintln(p.w)
}

// lineProgress writes a start line, a line at each quarter of large files,
// and a final line: readable in logs and CI output.
type lineProgress struct {
	w       io.Writer
	name    string
	total   int64
	n       int64
	quarter int64
	began   time.Time
	started bool
}

const lineProgressMinSize = 16 << 20

func (p *lineProgress) set(n int64) {
	if !p.started {
		p.started = true
		if n > 0 {
			fmt.Fprintf(p.w, "resuming %s at %s of %s\n", p.name, formatBytes(n), formatBytes(p.total))
		} else {
			fmt.Fprintf(p.w, "downloading %s (%s)\n", p.name, formatBytes(p.total))
		}
	}
	p.n = n
	p.quarter = p.quarterOf(n)
}

func (p *lineProgress) quarterOf(n int64) int64 {
	if p.total <= 0 {
		return 0
	}
	return n * 4 / p.total
}

func (p *lineProgress) add(n int) {
	p.n += int64(n)
	if p.total < lineProgressMinSize {
		return
	}
	if q := p.quarterOf(p.n); q > p.quarter && q < 4 {
		p.quarter = q
		fmt.Fprintf(p.w, "  %s: %d%% (%s of %s)\n", p.name, q*25, formatBytes(p.n), formatBytes(p.total))
	}
}

func (p *lineProgress) note(format string, args ...any) {
	fmt.Fprintf(p.w, format+"\n", args...)
}

func (p *lineProgress) finish(err error) {
	if err != nil {
		fmt.Fprintf(p.w, "failed %s after %s: %v\n", p.name, formatBytes(p.n), err)
		return
	}
	fmt.Fprintf(p.w, "done %s (%s in %s)\n", p.name, formatBytes(p.total), time.Since(p.began).Round(100*time.Millisecond))
}

// shortName keeps progress bar descriptions to a readable width.
func shortName(name string) string {
	const max = 40
	if len(name) <= max {
		return name
	}
	return "…" + name[len(name)-max+1:]
}

// formatBytes renders a size with binary units, e.g. "420.0 MiB".
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
