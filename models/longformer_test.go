package models

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spanqa/spanqa/internal/fixtures"
	"github.com/spanqa/spanqa/torch"
	"github.com/spanqa/spanqa/torch/weights"
)

// The logits, loss and gradient parity with HF runs in parity_test.go (parityArchs); these
// tests cover what that generic test cannot see.

// longformerGolden is the Longformer-only part of golden.json.
type longformerGolden struct {
	Longformer struct {
		GlobalAttentionMask  [][]int64 `json:"global_attention_mask"`
		MergedMaskValues     [][]int64 `json:"merged_attention_mask_values"`
		InternalPaddedLength int64     `json:"internal_padded_length"`
	} `json:"longformer"`
}

func readLongformerGolden(t *testing.T, dir string) *longformerGolden {
	data, err := os.ReadFile(filepath.Join(dir, "golden.json"))
	require.NoError(t, err)
	var g longformerGolden
	require.NoError(t, json.Unmarshal(data, &g))
	return &g
}

func tinyLongformerConfig(t *testing.T, window int) *Config {
	cfg, err := ParseConfig([]byte(fmt.Sprintf(`{"model_type": "longformer", "vocab_size": 100, "hidden_size": 32,
		"num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 37, "attention_window": %d,
		"max_position_embeddings": 130, "type_vocab_size": 1, "layer_norm_eps": 1e-5, "initializer_range": 0.2}`, window)))
	require.NoError(t, err)
	return cfg
}

// TestLongformerGlobalMask checks the global mask the model computes (against HF's, recorded in
// the fixture) and that a caller's mask replaces it.
func TestLongformerGlobalMask(t *testing.T) {
	dir := fixtures.Models(t, "longformer")
	g := readGolden(t, dir)
	lg := readLongformerGolden(t, dir)
	m := loadFrom(t, dir, weights.SafetensorsName, "").(*Longformer)
	defer m.Params().Free()

	torch.WithScope(func(s *torch.Scope) {
		in := goldenInputs(s, g)
		merged := m.mergedMask(in)
		for r, row := range lg.Longformer.MergedMaskValues {
			assert.Equal(t, row, merged[r*len(row):(r+1)*len(row)], "merged mask row %d", r)
		}

		run := func(global [][]int64) Output {
			in := goldenInputs(s, g)
			if global != nil {
				v, b, l := flatten(global)
				in.GlobalMask = torch.FromSlice(s, v, b, l)
			}
			var out Output
			var err error
			torch.NoGrad(func() { out, err = Forward(m, in, false) })
			require.NoError(t, err)
			return out
		}
		// Passing HF's own mask explicitly reproduces the golden logits (to the parity tolerance of
		// TestForwardParity: the goldens come from another libtorch, whose kernels round differently).
		explicit := run(lg.Longformer.GlobalAttentionMask)
		assert.LessOrEqual(t, maxAbsDiff(t, explicit.StartLogits, g.Eval.StartLogits), 1e-5)
		assert.LessOrEqual(t, maxAbsDiff(t, explicit.EndLogits, g.Eval.EndLogits), 1e-5)

		// Another mask (only <s> global; then none at all) is used instead of the question rule.
		onlyCLS := make([][]int64, len(g.Inputs["input_ids"]))
		none := make([][]int64, len(onlyCLS))
		for r, row := range g.Inputs["input_ids"] {
			onlyCLS[r] = make([]int64, len(row))
			none[r] = make([]int64, len(row))
			onlyCLS[r][0] = 1
		}
		for name, mask := range map[string][][]int64{"only <s>": onlyCLS, "none": none} {
			out := run(mask)
			diff := maxAbsDiff(t, out.StartLogits, g.Eval.StartLogits)
			t.Logf("global mask %q: logits move by up to %.3g from the question mask's", name, diff)
			assert.Greater(t, diff, 1e-3, "global mask %q was ignored", name)
			assert.True(t, out.StartLogits.AllFinite().Item() == 1 && out.EndLogits.AllFinite().Item() == 1)
		}
	})
}

func TestLongformerQuestionRuleNeedsThreeSeparators(t *testing.T) {
	cfg := tinyLongformerConfig(t, 4)
	m := NewLongformer(cfg, torch.CPU)
	defer m.Params().Free()
	torch.WithScope(func(s *torch.Scope) {
		ids := torch.FromSlice(s, []int64{0, 5, 6, 2, 2, 7, 8, 9}, 1, 8) // two separators only
		_, err := Forward(m, Inputs{IDs: ids}, false)
		require.ErrorContains(t, err, "want exactly 3")
		// With a mask of its own the same input is fine.
		global := torch.FromSlice(s, []int64{1, 0, 0, 0, 0, 0, 0, 0}, 1, 8)
		_, err = Forward(m, Inputs{IDs: ids, GlobalMask: global}, false)
		require.NoError(t, err)
		_, err = Forward(m, Inputs{IDs: ids, GlobalMask: torch.FromSlice(s, []int64{1, 0}, 1, 2)}, false)
		require.ErrorContains(t, err, "global attention mask has shape")
	})
	got := questionGlobalMask([]int64{0, 5, 6, 2, 2, 7, 2, 1}, 1, 8, 2)
	assert.Equal(t, []int64{1, 1, 1, 0, 0, 0, 0, 0}, got)
}

// TestLongformerReleasesTensors checks that a training step leaves no tensor handle behind:
// the per-layer scopes and the loose mask tensors are all freed.
func TestLongformerReleasesTensors(t *testing.T) {
	cfg := tinyLongformerConfig(t, 4)
	m := NewLongformer(cfg, torch.CPU)
	defer m.Params().Free()
	step := func() {
		torch.WithScope(func(s *torch.Scope) {
			ids := torch.FromSlice(s, []int64{0, 5, 6, 2, 2, 7, 8, 9, 10, 2, 1, 1}, 1, 12)
			mask := torch.FromSlice(s, []int64{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0}, 1, 12)
			out, err := Forward(m, Inputs{IDs: ids, Mask: mask,
				StartPositions: torch.FromSlice(s, []int64{6}), EndPositions: torch.FromSlice(s, []int64{8})}, true)
			require.NoError(t, err)
			out.Loss.Backward()
		})
	}
	step() // the first step creates the parameters' gradients
	before := torch.LiveTensors()
	step()
	assert.Equal(t, before, torch.LiveTensors())
}

func TestLongformerParameterOrderIsHF(t *testing.T) {
	dir := fixtures.Models(t, "longformer")
	data, err := os.ReadFile(filepath.Join(dir, "trajectory.json"))
	require.NoError(t, err)
	var traj struct {
		Norms json.RawMessage `json:"initial_param_norms"`
	}
	require.NoError(t, json.Unmarshal(data, &traj))
	// The object's keys are in named_parameters order; a map would lose it.
	dec := json.NewDecoder(bytes.NewReader(traj.Norms))
	var want []string
	_, _ = dec.Token()
	for dec.More() {
		tok, err := dec.Token()
		require.NoError(t, err)
		want = append(want, tok.(string))
		var v float64
		require.NoError(t, dec.Decode(&v))
	}
	cfg, err := LoadConfig(filepath.Join(dir, "config.json"))
	require.NoError(t, err)
	m := NewLongformer(cfg, torch.CPU)
	defer m.Params().Free()
	assert.Equal(t, want, m.Params().Names())
}

// TestLongformerHiddenStatesMatchHF compares the embedding output and each layer's output with
// the fixture's full hidden states: where a logit mismatch starts, this says which layer.
func TestLongformerHiddenStatesMatchHF(t *testing.T) {
	dir := fixtures.Models(t, "longformer")
	g := readGolden(t, dir)
	lg := readLongformerGolden(t, dir)
	m := loadFrom(t, dir, weights.SafetensorsName, "").(*Longformer)
	defer m.Params().Free()
	gf, err := weights.OpenSafetensors(filepath.Join(dir, "golden.safetensors"))
	require.NoError(t, err)
	defer gf.Close()

	torch.WithScope(func(s *torch.Scope) {
		torch.NoGrad(func() {
			in := goldenInputs(s, g)
			b, length := in.IDs.Size(0), in.IDs.Size(1)
			n := lg.Longformer.InternalPaddedLength
			require.Equal(t, n, length+(m.multiple-length%m.multiple)%m.multiple)
			merged := make([]int64, b*n)
			for r, row := range lg.Longformer.MergedMaskValues {
				copy(merged[int64(r)*n:], row)
			}
			ids := in.IDs.Pad([]int64{0, n - length}, float64(m.cfg.PadTokenID))
			x := m.embeddings.forward(ids, ids.ZerosLike(), robertaPositions(ids, m.cfg.PadTokenID), false)
			masks := newLongformerMasks(merged, b, n, m.cfg.HiddenSize, m.cfg.NumAttentionHeads, x.DType(), x.Device())
			defer masks.free()
			check := func(i int, got *torch.Tensor) {
				name := fmt.Sprintf("hidden_states.%d", i)
				w, err := gf.Get(name)
				require.NoError(t, err)
				want, err := w.Float32s()
				require.NoError(t, err)
				v := got.Narrow(1, 0, length).Contiguous().Float32s()
				require.Len(t, v, len(want))
				worst, differ := 0.0, 0
				for j := range v {
					if v[j] != want[j] {
						differ++
					}
					worst = math.Max(worst, math.Abs(float64(v[j]-want[j])))
				}
				t.Logf("%s: largest difference %.3g (%d of %d values not bit-identical)", name, worst, differ, len(v))
				assert.LessOrEqual(t, worst, 1e-5, name)
			}
			check(0, x)
			for i, l := range m.layers {
				x = l.forward(x, masks, false)
				check(i+1, x)
			}
		})
	})
}

// denseLongformerAttention is a test oracle: Longformer self-attention written directly from
// its definition with full n×n score matrices. A token that is neither padding nor global
// attends to the non-padding keys within window/2 of it plus every global key; a global token
// attends to every non-padding key with the global projections; padding rows attend to nothing.
func denseLongformerAttention(a *longformerSelfAttention, x *torch.Tensor, merged []int64) *torch.Tensor {
	b, n, hidden := x.Size(0), x.Size(1), x.Size(2)
	d := hidden / a.heads
	allowed := make([]bool, b*n*n)
	padRows := make([]bool, b*n)
	global := make([]bool, b*n)
	for r := int64(0); r < b; r++ {
		for i := int64(0); i < n; i++ {
			padRows[r*n+i] = merged[r*n+i] == 0
			global[r*n+i] = merged[r*n+i] == 2
			for j := int64(0); j < n; j++ {
				key := merged[r*n+j]
				near := i-j <= a.window && j-i <= a.window
				allowed[(r*n+i)*n+j] = key == 2 || (key == 1 && near)
			}
		}
	}
	s := x.Scope()
	notAllowed := torch.FromSlice(s, allowed, b, 1, n, n).LogicalNot()
	padQ := torch.FromSlice(s, padRows, b, 1, n, 1)
	padK := torch.FromSlice(s, padRows, b, 1, 1, n)
	isGlobal := torch.FromSlice(s, global, b, n, 1)
	minVal := minValue(x.DType())
	scale := math.Sqrt(float64(d))

	q := splitHeads(a.query.Forward(x).DivScalar(scale), a.heads)
	k := splitHeads(a.key.Forward(x), a.heads)
	v := splitHeads(a.value.Forward(x), a.heads)
	local := q.Matmul(k.Transpose(-1, -2)).MaskedFill(notAllowed, minVal).Softmax(-1).MaskedFill(padQ, 0)
	out := mergeHeads(local.Matmul(v))

	qg := splitHeads(a.queryGlobal.Forward(x).DivScalar(scale), a.heads)
	kg := splitHeads(a.keyGlobal.Forward(x), a.heads)
	vg := splitHeads(a.valueGlobal.Forward(x), a.heads)
	full := qg.Matmul(kg.Transpose(-1, -2)).MaskedFill(padK, minVal).Softmax(-1)
	return torch.Where(isGlobal, mergeHeads(full.Matmul(vg)), out)
}

// TestLongformerAttentionMatchesDense checks the banded attention (and its gradient) against the
// dense oracle for global tokens anywhere, in uneven numbers per row, with padding, with no
// global token at all, and for two window sizes. The fixture only has question-prefix masks.
func TestLongformerAttentionMatchesDense(t *testing.T) {
	torch.ManualSeed(7)
	cases := []struct {
		window int
		n      int64
		global [][]int64 // per row: positions with global attention
		real   []int64   // per row: number of non-padding tokens
	}{
		{window: 4, n: 16, global: [][]int64{{0, 1, 2}, {5, 15}, {}}, real: []int64{11, 16, 16}},
		{window: 8, n: 24, global: [][]int64{{3}, {0, 9, 10, 11, 20}}, real: []int64{24, 21}},
		{window: 8, n: 16, global: [][]int64{{}, {}}, real: []int64{16, 7}},
		{window: 2, n: 6, global: [][]int64{{2}}, real: []int64{5}},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("window%d_n%d", c.window, c.n), func(t *testing.T) {
			cfg := tinyLongformerConfig(t, c.window)
			m := NewLongformer(cfg, torch.CPU)
			defer m.Params().Free()
			a := m.layers[0].attention
			b := int64(len(c.real))
			merged := make([]int64, b*c.n)
			for r := int64(0); r < b; r++ {
				for i := int64(0); i < c.real[r]; i++ {
					merged[r*c.n+i] = 1
				}
				for _, p := range c.global[r] {
					merged[r*c.n+p] *= 2 // a global padding token stays padding, as in HF
				}
			}
			torch.WithScope(func(s *torch.Scope) {
				x := torch.Randn(s, torch.Float32, torch.CPU, b, c.n, cfg.HiddenSize).SetRequiresGrad(true)
				weight := torch.Randn(s, torch.Float32, torch.CPU, b, c.n, cfg.HiddenSize)
				masks := newLongformerMasks(merged, b, c.n, cfg.HiddenSize, cfg.NumAttentionHeads, torch.Float32, torch.CPU)
				defer masks.free()

				banded := a.forward(x, masks, false)
				banded.Mul(weight).Sum().Backward()
				gradBanded := s.Adopt(x.Grad())
				x.ZeroGrad()
				dense := denseLongformerAttention(a, x, merged)
				dense.Mul(weight).Sum().Backward()
				gradDense := s.Adopt(x.Grad())

				outDiff := banded.Sub(dense).Abs().Max().Item()
				gradDiff := gradBanded.Sub(gradDense).Abs().Max().Item()
				t.Logf("largest difference: output %.3g, input gradient %.3g", outDiff, gradDiff)
				assert.Less(t, outDiff, 2e-5)
				assert.Less(t, gradDiff, 2e-5)
				assert.Equal(t, []int64{b, c.n, cfg.HiddenSize}, banded.Shape())
			})
		})
	}
}

// TestLongformerPaddingIsInvisible runs the same questions padded to different lengths, one of
// them a multiple of the window (no internal padding): the real tokens' logits agree.
func TestLongformerPaddingIsInvisible(t *testing.T) {
	cfg := tinyLongformerConfig(t, 8)
	m := NewLongformer(cfg, torch.CPU)
	defer m.Params().Free()
	row := []int64{0, 11, 12, 13, 2, 2, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 2} // 20 tokens
	logits := func(length int) []float32 {
		ids := make([]int64, length)
		mask := make([]int64, length)
		for i := range ids {
			ids[i], mask[i] = cfg.PadTokenID, 0
			if i < len(row) {
				ids[i], mask[i] = row[i], 1
			}
		}
		var out []float32
		torch.WithScope(func(s *torch.Scope) {
			o, err := Forward(m, Inputs{IDs: torch.FromSlice(s, ids, 1, int64(length)), Mask: torch.FromSlice(s, mask, 1, int64(length))}, false)
			require.NoError(t, err)
			out = o.StartLogits.Float32s()[:len(row)]
		})
		return out
	}
	ref := logits(len(row))
	for _, length := range []int{24, 29, 40} {
		got := logits(length)
		for i := range ref {
			assert.InDelta(t, ref[i], got[i], 1e-5, "length %d position %d", length, i)
		}
	}
}

func TestPaddingMultiple(t *testing.T) {
	assert.Equal(t, int64(8), paddingMultiple([]int64{8, 8}))
	assert.Equal(t, int64(512), paddingMultiple([]int64{512, 256, 512}))
	assert.Equal(t, int64(12), paddingMultiple([]int64{6, 4}))
}

// longformerBaseConfig is allenai/longformer-base-4096's configuration.
const longformerBaseConfig = `{"model_type": "longformer", "vocab_size": 50265, "hidden_size": 768,
	"num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072, "attention_window": 512,
	"max_position_embeddings": 4098, "type_vocab_size": 1, "layer_norm_eps": 1e-5, "pad_token_id": 1,
	"bos_token_id": 0, "eos_token_id": 2, "sep_token_id": 2, "initializer_range": 0.02}`

// TestLongformerLongInputs runs a longformer-base-sized model on 1,024, 2,048 and 4,096 tokens,
// each in a fresh process (so VmHWM, the peak resident memory, belongs to that length alone), and
// checks that the memory a forward pass adds grows about linearly. It takes a minute or two on
// two cores, so it runs only with SPANQA_LONG=1.
func TestLongformerLongInputs(t *testing.T) {
	if os.Getenv("SPANQA_LONG") != "1" {
		t.Skip("set SPANQA_LONG=1 to run longformer-base forwards on up to 4,096 tokens")
	}
	type result struct {
		n                         int
		rssBeforeKB, peakKB, grow int64
		seconds, cpuSeconds       float64
	}
	var results []result
	for _, n := range []int{1024, 2048, 4096} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestLongformerLongChild$", "-test.v")
		cmd.Env = append(os.Environ(), "SPANQA_LONG_CHILD="+strconv.Itoa(n))
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		var r result
		found := false
		for sc := bufio.NewScanner(bytes.NewReader(out)); sc.Scan(); {
			line := sc.Text()
			if i := strings.Index(line, "LONGFORMER "); i >= 0 {
				_, err := fmt.Sscanf(line[i:], "LONGFORMER n=%d rss_before_kb=%d peak_kb=%d seconds=%g cpu_seconds=%g",
					&r.n, &r.rssBeforeKB, &r.peakKB, &r.seconds, &r.cpuSeconds)
				require.NoError(t, err, line)
				found = true
			}
		}
		require.True(t, found, "child printed no result:\n%s", out)
		r.grow = r.peakKB - r.rssBeforeKB
		results = append(results, r)
	}
	// CPU time is reported besides wall time because the machine may be shared.
	t.Logf("longformer-base forward (batch 1, NoGrad, %d threads):", torch.NumThreads())
	for _, r := range results {
		t.Logf("  %5d tokens: %6.2f s wall, %6.2f s CPU, peak RSS %5d MiB (model loaded: %5d MiB, forward adds %5d MiB)",
			r.n, r.seconds, r.cpuSeconds, r.peakKB/1024, r.rssBeforeKB/1024, r.grow/1024)
	}
	// Linear growth doubles the forward's memory with the length; quadratic would quadruple it.
	for i := 1; i < len(results); i++ {
		ratio := float64(results[i].grow) / float64(results[i-1].grow)
		t.Logf("  %d -> %d tokens: forward memory x%.2f", results[i-1].n, results[i].n, ratio)
		assert.Less(t, ratio, 2.6, "memory grows faster than linearly")
	}
}

// TestLongformerLongChild is TestLongformerLongInputs' subprocess: one forward at
// SPANQA_LONG_CHILD tokens, reporting memory and time on stdout.
func TestLongformerLongChild(t *testing.T) {
	env := os.Getenv("SPANQA_LONG_CHILD")
	if env == "" {
		t.Skip("helper process of TestLongformerLongInputs")
	}
	n, err := strconv.Atoi(env)
	require.NoError(t, err)
	cfg, err := ParseConfig([]byte(longformerBaseConfig))
	require.NoError(t, err)
	m := NewLongformer(cfg, torch.CPU)
	defer m.Params().Free()

	// <s> question </s></s> context </s>: the question (32 tokens) gets global attention.
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = int64(1000 + i%40000)
	}
	ids[0], ids[33], ids[34], ids[n-1] = 0, 2, 2, 2
	rssBefore := procStatusKB(t, "VmRSS")
	var seconds, cpuSeconds float64
	torch.WithScope(func(s *torch.Scope) {
		torch.NoGrad(func() {
			start, cpuStart := time.Now(), processCPUSeconds(t)
			out, err := Forward(m, Inputs{IDs: torch.FromSlice(s, ids, 1, int64(n))}, false)
			seconds, cpuSeconds = time.Since(start).Seconds(), processCPUSeconds(t)-cpuStart
			require.NoError(t, err)
			require.Equal(t, []int64{1, int64(n)}, out.StartLogits.Shape())
			require.Equal(t, 1.0, out.StartLogits.AllFinite().Item())
		})
	})
	fmt.Printf("LONGFORMER n=%d rss_before_kb=%d peak_kb=%d seconds=%.3f cpu_seconds=%.3f\n",
		n, rssBefore, procStatusKB(t, "VmHWM"), seconds, cpuSeconds)
}

// processCPUSeconds is the user plus system time this process has used.
func processCPUSeconds(t *testing.T) float64 {
	var ru syscall.Rusage
	require.NoError(t, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// procStatusKB reads a "kB" field of /proc/self/status.
func procStatusKB(t *testing.T, field string) int64 {
	data, err := os.ReadFile("/proc/self/status")
	require.NoError(t, err)
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			v, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			require.NoError(t, err)
			return v
		}
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}
