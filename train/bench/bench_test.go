package bench

import (
	"bytes"
	"context"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spanqa/spanqa/data/batch"
	"github.com/spanqa/spanqa/models"
	"github.com/spanqa/spanqa/torch"
)

func TestForwardFLOPsBertBase(t *testing.T) {
	cfg, err := archs[0].config()
	require.NoError(t, err)
	// By hand: per layer 4 projections of 768x768 and the 768->3072->768 block per token,
	// plus QKᵀ and PV over 384x384 per head dimension; then the 768->2 span head.
	const b, l, h, i = 1.0, 384.0, 768.0, 3072.0
	want := 12*(2*b*l*h*(4*h+2*i)+2*2*b*l*l*h) + 2*b*l*h*2
	assert.InDelta(t, want, ForwardFLOPs(cfg, 1, 384, 0), 1)
	assert.InDelta(t, 8*want, ForwardFLOPs(cfg, 8, 384, 0), 8, "linear in the batch")
}

func TestForwardFLOPsOthers(t *testing.T) {
	cfgs := map[string]*models.Config{}
	for _, a := range archs {
		cfg, err := a.config()
		require.NoError(t, err)
		cfgs[a.Key] = cfg
	}
	bert := ForwardFLOPs(cfgs["bert"], 4, 256, 0)
	assert.Greater(t, ForwardFLOPs(cfgs["deberta"], 4, 256, 0), bert, "relative attention adds products")
	// Longformer pads to a multiple of its 512-token window: 100 and 512 tokens cost the same
	// in the encoder (only the head sees the unpadded length).
	lf := cfgs["longformer"]
	assert.InDelta(t, ForwardFLOPs(lf, 2, 512, 10), ForwardFLOPs(lf, 2, 100, 10)+2*2*412*768*2, 1)
	assert.Greater(t, ForwardFLOPs(lf, 2, 513, 10), ForwardFLOPs(lf, 2, 512, 10))
	assert.Greater(t, ForwardFLOPs(lf, 2, 512, 20), ForwardFLOPs(lf, 2, 512, 10), "global tokens cost")
}

func TestPlanEpochStrata(t *testing.T) {
	lengths := make([]int, 1003)
	for i := range lengths {
		lengths[i] = 40 + (i*37)%340
	}
	cfg := batch.Config{BatchSize: 4, PadMultiple: 8, MaxLength: 384, Shuffle: true, Seed: 1}
	flops := func(idx []int, l int) float64 { return float64(len(idx) * l * l) }
	p := planEpoch(lengths, cfg, 4, flops)
	require.Len(t, p.Strata, 4)
	var batches, seqs int
	var f float64
	for k, st := range p.Strata {
		batches += st.Batches
		seqs += st.Sequences
		f += st.FLOPs
		assert.Equal(t, 4, st.RepB)
		assert.Len(t, st.rep, 4)
		if k > 0 {
			assert.GreaterOrEqual(t, st.RepL, p.Strata[k-1].RepL, "strata go from cheap to costly")
		}
	}
	assert.Equal(t, 251, p.Batches)
	assert.Equal(t, p.Batches, batches)
	assert.Equal(t, 1003, seqs)
	assert.InDelta(t, p.FLOPs, f, 1)
	// At a constant FLOP rate the estimate is exactly total FLOPs / rate.
	secs := make([]float64, len(p.Strata))
	for k, st := range p.Strata {
		secs[k] = st.RepFLOPs / 1e6
	}
	assert.InDelta(t, p.FLOPs/1e6, p.estimate(secs), 1e-6)

	// Padding to the maximum: every batch costs the same.
	seed := cfg
	seed.PadMultiple, seed.BucketBatches = 384, 1
	ps := planEpoch(lengths, seed, 3, flops)
	assert.Equal(t, 384.0, ps.MeanL)
	for _, st := range ps.Strata {
		assert.Equal(t, 384, st.RepL)
	}
	assert.Less(t, p.MeanL, ps.MeanL/1.5, "bucketing pads far less")

	// Fewer windows than a batch: the one short batch is timed.
	one := planEpoch([]int{10, 20}, cfg, 4, flops)
	require.Len(t, one.Strata, 1)
	assert.Equal(t, 2, one.Strata[0].RepB)
}

func TestSyntheticWindowsFollowHistogram(t *testing.T) {
	for _, a := range archs {
		h, err := recorded(a.Tokenizer, a.MaxLength)
		require.NoError(t, err, a.Name)
		require.Greater(t, h.Windows, 10000)
		ws := syntheticWindows(&a, h, 30000, 7)
		got := histogramOf(ws, a.MaxLength, h.Examples)
		assert.Equal(t, h.Lengths, got.Lengths, "%s: exactly the recorded lengths", a.Name)
		for i := range ws[:200] {
			w := &ws[i]
			n := len(w.IDs)
			assert.Equal(t, a.CLS, w.IDs[0])
			assert.Equal(t, a.SEP, w.IDs[n-1])
			assert.Equal(t, a.SEP, w.IDs[questionTokens(w)], "the first separator ends the question")
			assert.Equal(t, 1, w.SequenceIDs[w.StartPos], "answers lie in the context")
			assert.LessOrEqual(t, w.StartPos, w.EndPos)
			assert.Equal(t, a.TypeIDs, w.TypeIDs != nil)
		}
	}
}

func TestGoShareFromProfile(t *testing.T) {
	var buf bytes.Buffer
	if err := pprof.StartCPUProfile(&buf); err != nil {
		t.Skipf("CPU profile already running: %v", err)
	}
	unlabel := deviceLabels()
	x := 0
	for start := time.Now(); time.Since(start) < 400*time.Millisecond; {
		for i := range 100000 {
			x += i * i % 7
		}
	}
	unlabel()
	pprof.StopCPUProfile()
	sh, err := goShare(buf.Bytes())
	require.NoError(t, err)
	if sh.Samples == 0 {
		t.Skip("no CPU samples (machine too busy)")
	}
	assert.Greater(t, sh.CPU, 0.5, "a pure Go loop is Go time")
	assert.Greater(t, sh.Device, 0.5, "on the labelled goroutine")
	assert.NotEmpty(t, sh.Top)
	_ = x
}

func TestTableAndCompare(t *testing.T) {
	mk := func(source string, seq float64) *Report {
		r := &Report{Schema: Schema, Source: source, Device: "cpu", Roofline: Roofline{GFLOPs: 100, DType: "float32"}}
		m := ModelResult{Name: "bert-base-uncased", ModelType: "bert", Windows: 10}
		m.Phases = []PhaseResult{
			{Name: "train/seed", Mode: "train", Setting: "seed", Batch: 4, SeqPerSec: seq, MFU: 0.5},
			{Name: "train/spanqa", Mode: "train", Setting: "spanqa", Batch: 4, SeqPerSec: 3 * seq},
		}
		m.setSpeedups()
		r.Models = []ModelResult{m}
		return r
	}
	this, that := mk("spanqa", 1), mk("hf", 0.5)
	path := filepath.Join(t.TempDir(), "bench.json")
	require.NoError(t, that.WriteJSON(path))
	back, err := ReadReport(path)
	require.NoError(t, err)
	var out bytes.Buffer
	require.NoError(t, this.WriteTable(&out))
	require.NoError(t, Compare(&out, this, back, "hf.json"))
	s := out.String()
	assert.Contains(t, s, "3.00x", "spanqa setting vs seed")
	assert.Contains(t, s, "2.00x", "this / that")
	assert.Contains(t, s, "this spanqa / that hf")
}

func TestSelect(t *testing.T) {
	ps, err := selectPhases("infer,train/seed")
	require.NoError(t, err)
	assert.Equal(t, []string{"infer/seed", "infer/spanqa", "train/seed"}, ps)
	_, err = selectPhases("nope")
	assert.Error(t, err)
	as, err := selectArchs("bert-base-uncased")
	require.NoError(t, err)
	assert.Equal(t, "bert", as[0].Key)
	_, err = selectArchs("gpt2")
	assert.Error(t, err)
}

// TestRunModelTiny runs all four phases of a two-layer BERT over windows from the recorded
// histogram, one step each: the whole path (loader, steps, profile, memory, report) in seconds.
func TestRunModelTiny(t *testing.T) {
	a := archs[0]
	a.Config = `{"model_type": "bert", "vocab_size": 30522, "hidden_size": 32, "num_hidden_layers": 2,
		"num_attention_heads": 2, "intermediate_size": 64, "max_position_embeddings": 512}`
	runtime.LockOSThread() // as Run does: libtorch state is per OS thread
	defer runtime.UnlockOSThread()
	opt := &Options{Device: torch.CPU, Data: "recorded", Steps: 2, Seed: 1, TrainBatch: 2, EvalBatch: 2}
	mr, err := runModel(context.Background(), &a, phaseNames, opt, 10, nil)
	require.NoError(t, err)
	require.Len(t, mr.Phases, 4)
	assert.Contains(t, mr.Lengths, "recorded histogram")
	for _, p := range mr.Phases {
		assert.Greater(t, p.SeqPerSec, 0.0, p.Name)
		assert.Greater(t, p.MFU, 0.0, p.Name)
		assert.Len(t, p.Steps, 2, p.Name)
		assert.Greater(t, p.PeakRSSMiB, 0.0, p.Name)
		if p.Setting == "seed" {
			assert.Equal(t, 384, p.Steps[0].L, p.Name)
		} else {
			assert.Greater(t, p.SpeedupVsSeed, 0.0, p.Name)
			assert.Less(t, p.MeanLength, 384.0, p.Name)
		}
	}
	var out bytes.Buffer
	require.NoError(t, (&Report{Schema: Schema, Source: "spanqa", Models: []ModelResult{*mr}}).WriteTable(&out))
	assert.True(t, strings.Contains(out.String(), "infer/spanqa"))
}

// TestIsolatedChildKilled stands a shell script in for the child: the first child finishes one
// phase and is killed in the second (as the OOM killer would), the next runs the rest. The parent
// keeps the first phase, records the second as failed and goes on.
func TestIsolatedChildKilled(t *testing.T) {
	script := `
out=$(grep -o '"Output":"[^"]*"' "$1" | cut -d'"' -f4)
case "$1" in
*spec-0.json)
	echo '{"model": {"key": "bert", "name": "bert-base-uncased", "phases": [{"name": "infer/seed", "mode": "infer", "setting": "seed", "sequences_per_second": 1}]}}' > "$out"
	kill -9 $$ ;;
*)
	echo '{"model": {"key": "bert", "name": "bert-base-uncased", "phases": [{"name": "train/seed", "mode": "train", "setting": "seed", "sequences_per_second": 0.5}, {"name": "train/spanqa", "mode": "train", "setting": "spanqa", "sequences_per_second": 1.5}]}}' > "$out" ;;
esac`
	opt := &Options{ChildCommand: []string{"sh", "-c", script, "child"}}
	mr, err := runModelIsolated(context.Background(), &archs[0], phaseNames, opt, 10)
	require.NoError(t, err)
	require.Len(t, mr.Phases, 4)
	names := []string{}
	for _, p := range mr.Phases {
		names = append(names, p.Name)
	}
	assert.Equal(t, phaseNames, names)
	assert.Empty(t, mr.Phases[0].Error)
	assert.Contains(t, mr.Phases[1].Error, "killed")
	assert.Equal(t, 8, mr.Phases[1].Batch, "the default inference batch on the CPU")
	assert.Equal(t, "bert-base-uncased", mr.Name)
	assert.InDelta(t, 3.0, mr.Phases[3].SpeedupVsSeed, 1e-9)

	// Killed in the very first phase: the next child's description of the model is kept.
	first := strings.Replace(script, "*spec-0.json)\n\techo", "*spec-0.json)\n\ttrue ||", 1)
	opt.ChildCommand = []string{"sh", "-c", first, "child"}
	mr, err = runModelIsolated(context.Background(), &archs[0], phaseNames, opt, 10)
	require.NoError(t, err)
	require.Len(t, mr.Phases, 4)
	assert.Contains(t, mr.Phases[0].Error, "killed")
	assert.Equal(t, "bert-base-uncased", mr.Name)
	// The stand-in's second child skips infer/spanqa, which RunChild never does.
	assert.Equal(t, "infer/spanqa", mr.Phases[3].Name)
	assert.Contains(t, mr.Phases[3].Error, "without running it")

	// A child that fails before any phase is an error of the run.
	opt.ChildCommand = []string{"sh", "-c", "exit 3", "child"}
	_, err = runModelIsolated(context.Background(), &archs[0], phaseNames, opt, 10)
	assert.ErrorContains(t, err, "exit status 3")
}
