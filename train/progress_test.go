package train

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestProgressLineShowsIntervalMean: the plain progress line reports the mean loss of the steps
// since the previous line, as train_log.jsonl and HF's logs do, with the last step's lr and
// grad_norm.
func TestProgressLineShowsIntervalMean(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf, 40, 0) // a line every 2 steps
	for i, l := range []float64{1, 3, 10, 20} {
		p.step(StepResult{Loss: l, LR: float64(i + 1), GradNorm: float64(10 * (i + 1))})
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 2)
	require.Contains(t, lines[0], "step 2/40 loss 2.0000 lr 2 grad_norm 20 ")
	require.Contains(t, lines[1], "step 4/40 loss 15.0000 lr 4 grad_norm 40 ")
}
