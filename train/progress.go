package train

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
)

// progress shows a bar (steps, loss, lr, it/s, ETA) on a terminal and a plain line every
// 5% of the run otherwise. Its loss is, like the loss of train_log.jsonl and HF's logs, the
// mean over the steps since the previous line (one step's loss is too noisy to read a trend
// from); grad_norm and lr are the last step's.
type progress struct {
	w        io.Writer
	bar      *progressbar.ProgressBar
	total    int64
	done     int64
	start    time.Time
	nextLine int64
	lossSum  float64
	lossN    int64
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func newProgress(w io.Writer, total, done int64) *progress {
	p := &progress{w: w, total: total, done: done, start: time.Now()}
	if isTerminal(w) {
		p.bar = progressbar.NewOptions64(total, progressbar.OptionSetWriter(w), progressbar.OptionShowCount(),
			progressbar.OptionShowIts(), progressbar.OptionSetItsString("step"), progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetWidth(30), progressbar.OptionThrottle(200*time.Millisecond))
		p.bar.Set64(done)
	}
	p.nextLine = done + max(total/20, 1)
	return p
}

func (p *progress) step(r StepResult) {
	p.done++
	p.lossSum += r.Loss
	p.lossN++
	mean := p.lossSum / float64(p.lossN)
	if p.bar != nil {
		p.bar.Describe(fmt.Sprintf("loss %.4f lr %.2e", mean, r.LR))
		p.bar.Add64(1)
		if p.done >= p.nextLine {
			p.lossSum, p.lossN = 0, 0
			p.nextLine = p.done + max(p.total/20, 1)
		}
		return
	}
	if p.done >= p.nextLine || p.done == p.total {
		el := time.Since(p.start)
		rate := float64(p.done) / el.Seconds()
		eta := time.Duration(float64(p.total-p.done) / rate * float64(time.Second))
		fmt.Fprintf(p.w, "train: step %d/%d loss %.4f lr %.3g grad_norm %.3g (%.2f it/s, ETA %s)\n",
			p.done, p.total, mean, r.LR, r.GradNorm, rate, eta.Round(time.Second))
		p.nextLine = p.done + max(p.total/20, 1)
		p.lossSum, p.lossN = 0, 0
	}
}

func (p *progress) finish() {
	if p.bar != nil {
		p.bar.Finish()
		fmt.Fprintln(p.w)
	}
}

func jsonLine(v any) ([]byte, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}
