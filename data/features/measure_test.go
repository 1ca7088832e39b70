package features

import (
	"io"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/spanqa/spanqa/data/squad"
	"github.com/spanqa/spanqa/internal/fixtures"
	"github.com/stretchr/testify/require"
)

// TestMeasureDev times featurising all of SQuAD v1.1 dev and reports the process's peak RSS. It
// runs only with SPANQA_MEASURE=<tokenizer dir>[,inmemory] (one tokenizer per process, so that
// the peak belongs to it):
//
//	SPANQA_MEASURE=bert-base-uncased go test -run TestMeasureDev -v ./data/features
func TestMeasureDev(t *testing.T) {
	spec := os.Getenv("SPANQA_MEASURE")
	if spec == "" {
		t.Skip("set SPANQA_MEASURE=<tokenizer dir> to measure")
	}
	dir, inMemory, _ := strings.Cut(spec, ",")
	path := fixtures.Data(t, "squad", "v1.1", "dev-v1.1.json")
	t0 := time.Now()
	tok := loadTok(t, dir)
	load := time.Since(t0)
	for _, mode := range []Mode{ModeTrain, ModeEval} {
		t1 := time.Now()
		var n int
		if inMemory != "" {
			exs, _, err := squad.ReadJSON(path, squad.Options{})
			require.NoError(t, err)
			ws, err := build(exs, tok, mode, DefaultOptions)
			require.NoError(t, err)
			n = len(ws)
			runtime.KeepAlive(ws)
		} else {
			sum, err := Run(path, squad.Options{}, tok, mode, DefaultOptions, io.Discard)
			require.NoError(t, err)
			n = sum.Windows
		}
		t.Logf("%s %s (%s): %d windows in %s (tokenizer load %s); GOMAXPROCS %d", dir, mode, map[bool]string{true: "in memory", false: "streamed to JSONL"}[inMemory != ""],
			n, time.Since(t1).Round(time.Millisecond), load.Round(time.Millisecond), runtime.GOMAXPROCS(0))
	}
	status, err := os.ReadFile("/proc/self/status")
	if err == nil {
		for _, l := range strings.Split(string(status), "\n") {
			if strings.HasPrefix(l, "VmHWM") {
				t.Logf("peak RSS %s", strings.TrimSpace(strings.TrimPrefix(l, "VmHWM:")))
			}
		}
	}
}
