package train

import (
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/spanqa/spanqa/models"
	"github.com/spanqa/spanqa/torch"
	"github.com/spanqa/spanqa/torch/nn"
	"github.com/spanqa/spanqa/torch/weights"
)

// bertBaseConfig is bert-base-uncased's architecture (110M parameters, 440 MB in float32).
const bertBaseConfig = `{"model_type": "bert", "architectures": ["BertForQuestionAnswering"], "vocab_size": 30522,
 "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072,
 "hidden_act": "gelu", "max_position_embeddings": 512, "type_vocab_size": 2, "layer_norm_eps": 1e-12,
 "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1, "initializer_range": 0.02, "pad_token_id": 0}`

// Bounds for TestCheckpointMemoryIsFlat. A checkpoint of bert-base copies 1.3 GB (weights and
// both AdamW moments) through Go memory on its way to disk; what must not survive it is any
// libtorch handle, and RSS once the Go heap is returned must not climb from one checkpoint to
// the next.
const checkpointRSSGrowth = 64 << 20

// TestCheckpointMemoryIsFlat saves several checkpoints of a bert-base-sized model with its
// optimizer: every tensor handle made for a checkpoint is freed before it returns (not left to
// GC cleanups), and RSS does not grow across checkpoints.
func TestCheckpointMemoryIsFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 3 x 1.3 GB of checkpoints")
	}
	cfg, err := models.ParseConfig([]byte(bertBaseConfig))
	require.NoError(t, err)
	m, err := models.New(cfg, torch.CPU)
	require.NoError(t, err)
	defer m.Params().Free()
	opt := NewAdamW(m.Params(), 0.9, 0.999, 1e-8, 0.01)
	defer opt.Free()
	require.Greater(t, m.Params().Count(), int64(100_000_000))
	dir := t.TempDir()
	args := DefaultArgs()
	sched := Schedule{Kind: "linear", TotalSteps: 10}
	st := &TrainerState{}

	live0 := torch.SettledLiveTensors()
	var rss []int64
	for i := 1; i <= 3; i++ {
		st.GlobalStep = int64(i)
		_, err := saveCheckpoint(dir, m, opt, sched, st, &args)
		require.NoError(t, err)
		// Before any collection: a handle left to a GC cleanup would still count here.
		require.Equal(t, live0, torch.LiveTensors(), "live tensors after checkpoint %d", i)
		require.NoError(t, rotateCheckpoints(dir, 1, ""))
		debug.FreeOSMemory()
		rss = append(rss, rssBytes(t))
	}
	peak := statusBytes(t, "VmHWM")
	t.Logf("RSS after each checkpoint (MiB): %v; peak %d MiB", mib(rss), peak>>20)
	for i := 1; i < len(rss); i++ {
		require.LessOrEqual(t, rss[i]-rss[0], int64(checkpointRSSGrowth), "RSS grew by %d MiB from checkpoint 1 to %d", (rss[i]-rss[0])>>20, i+1)
	}
	cks, err := Checkpoints(dir)
	require.NoError(t, err)
	require.Len(t, cks, 1)
	_, err = os.Stat(filepath.Join(cks[0], "optimizer.safetensors"))
	require.NoError(t, err)
}

func mib(v []int64) []int64 {
	out := make([]int64, len(v))
	for i, x := range v {
		out[i] = x >> 20
	}
	return out
}

func rssBytes(t *testing.T) int64 { return statusBytes(t, "VmRSS") }

// statusBytes reads a "kB" field of /proc/self/status.
func statusBytes(t *testing.T, field string) int64 {
	t.Helper()
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			require.NoError(t, err)
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}

// TestOptimizerStateFreesConversions: the float32 copies of bfloat16 moments that State makes
// are freed before it returns, and the state round-trips.
func TestOptimizerStateFreesConversions(t *testing.T) {
	p := nn.NewParams(torch.CPU)
	for i := range 8 {
		p.New("layer"+strconv.Itoa(i)+".weight", 64, 32)
	}
	p.To(torch.CPU, torch.BFloat16)
	defer p.Free()
	opt := NewAdamW(p, 0.9, 0.999, 1e-8, 0.01)
	defer opt.Free()
	torch.NoGrad(func() {
		half := torch.Full(nil, 0.5, torch.BFloat16, torch.CPU, 64, 32)
		defer half.Free()
		for _, m := range opt.expAvg {
			m.Copy_(half)
		}
	})
	live := torch.SettledLiveTensors()
	st, err := opt.State()
	require.NoError(t, err)
	require.Equal(t, live, torch.LiveTensors(), "State left converted tensors behind")
	moments := 0
	for _, w := range st {
		if !strings.HasPrefix(w.Name, "exp_avg") {
			continue
		}
		moments++
		require.Equal(t, weights.F32, w.DType, w.Name)
		v, err := w.Float32s()
		require.NoError(t, err)
		if strings.HasPrefix(w.Name, "exp_avg.") {
			require.Equal(t, float32(0.5), v[0], w.Name)
		}
	}
	require.Equal(t, 16, moments)
}
