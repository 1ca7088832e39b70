package dist_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/spanqa/spanqa/internal/disttest"
	"github.com/spanqa/spanqa/torch"
	"github.com/spanqa/spanqa/torch/dist"
)

func TestEnvFrom(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	_, ok, err := dist.EnvFrom(env())
	require.NoError(t, err)
	require.False(t, ok, "no WORLD_SIZE: single process")
	_, ok, err = dist.EnvFrom(env("WORLD_SIZE", "1", "RANK", "0"))
	require.NoError(t, err)
	require.False(t, ok, "WORLD_SIZE=1: single process")

	e, ok, err := dist.EnvFrom(env("WORLD_SIZE", "8", "RANK", "5", "LOCAL_RANK", "1", "MASTER_ADDR", "node0", "MASTER_PORT", "29500"))
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, dist.Env{MasterAddr: "node0", MasterPort: 29500, Rank: 5, WorldSize: 8, LocalRank: 1}, e)

	e, _, err = dist.EnvFrom(env("WORLD_SIZE", "2", "RANK", "1", "MASTER_ADDR", "h", "MASTER_PORT", "1234",
		"TORCHELASTIC_USE_AGENT_STORE", "True", "TORCHELASTIC_RESTART_COUNT", "3"))
	require.NoError(t, err)
	require.True(t, e.AgentStore)
	require.Equal(t, "/worker/attempt_3", e.StorePrefix)
	require.Equal(t, 1, e.LocalRank, "LOCAL_RANK defaults to RANK")

	for _, bad := range [][]string{
		{"WORLD_SIZE", "2", "MASTER_ADDR", "h", "MASTER_PORT", "1"},                // no RANK
		{"WORLD_SIZE", "2", "RANK", "2", "MASTER_ADDR", "h", "MASTER_PORT", "1"},   // rank too big
		{"WORLD_SIZE", "2", "RANK", "0", "MASTER_PORT", "1"},                       // no address
		{"WORLD_SIZE", "2", "RANK", "0", "MASTER_ADDR", "h", "MASTER_PORT", "x"},   // bad port
		{"WORLD_SIZE", "two", "RANK", "0", "MASTER_ADDR", "h", "MASTER_PORT", "1"}, // bad size
		{"WORLD_SIZE", "2", "RANK", "0", "MASTER_ADDR", "h", "MASTER_PORT", "1", "LOCAL_RANK", "-1"},
	} {
		_, _, err := dist.EnvFrom(env(bad...))
		require.Error(t, err, "%v", bad)
	}
}

// needGloo skips, loudly, where cbridge was built without Gloo (no libgloo-dev headers).
func needGloo(t *testing.T) {
	t.Helper()
	if !dist.Gloo.Available() {
		t.Skip("SKIPPED: this cbridge has no Gloo backend: install libgloo-dev (make deps) and rebuild")
	}
}

// workerGroup joins the job the parent test started (timeout from SPANQA_DISTTEST_TIMEOUT).
func workerGroup(t *testing.T, bucketBytes int64) *dist.Group {
	t.Helper()
	e, ok, err := dist.FromEnv()
	require.NoError(t, err)
	require.True(t, ok)
	timeout, err := time.ParseDuration(os.Getenv("SPANQA_DISTTEST_TIMEOUT"))
	require.NoError(t, err)
	g, err := dist.Init(context.Background(), dist.Config{Env: e, Timeout: timeout, BucketBytes: bucketBytes})
	require.NoError(t, err)
	return g
}

func timeoutEnv(d time.Duration) func(int) []string {
	return func(int) []string { return []string{"SPANQA_DISTTEST_TIMEOUT=" + d.String()} }
}

func requireAllPassed(t *testing.T, job *disttest.Job, procs []*disttest.Proc) {
	t.Helper()
	for _, p := range procs {
		require.NoError(t, p.Err, "rank %d failed:\n%s", p.Rank, job.Outputs())
		require.Contains(t, p.Output(), "PASS", job.Outputs())
	}
}

// TestCollectives checks every collective with two ranks holding different values, including
// the bucketed, hook-driven gradient reducer against gradients computed by hand.
func TestCollectives(t *testing.T) {
	needGloo(t)
	if disttest.IsWorker() {
		collectivesWorker(t)
		return
	}
	job := disttest.Start(t, "TestCollectives", 2, timeoutEnv(20*time.Second))
	requireAllPassed(t, job, job.Wait(90*time.Second))
	t.Logf("rank 0:\n%s", job.Proc(0).Output())
}

func collectivesWorker(t *testing.T) {
	// Tiny buckets: the reducer below spreads its parameters over several of them.
	g := workerGroup(t, 32)
	defer g.Close()
	r, w := g.Rank(), g.WorldSize()
	require.Equal(t, 2, w)
	require.Equal(t, dist.Gloo, g.Backend())

	torch.WithScope(func(s *torch.Scope) {
		// Broadcast: everybody ends with rank 1's values, in two dtypes (two buckets).
		a := torch.FromSlice(s, []float32{float32(r), float32(10 * r), 3}, 3)
		b := torch.FromSlice(s, []int64{int64(r), -int64(r)}, 2)
		require.NoError(t, g.Broadcast([]*torch.Tensor{a, b}, 1))
		require.Equal(t, []float32{1, 10, 3}, a.Float32s())
		require.Equal(t, []int64{1, -1}, b.Int64s())

		// Mean over ranks: (r0 + r1) / 2.
		m := torch.FromSlice(s, []float32{float32(r + 1), float32(4 * r)}, 2)
		require.NoError(t, g.AllReduceMean([]*torch.Tensor{m}))
		require.Equal(t, []float32{1.5, 2}, m.Float32s())
	})
	sums, err := g.AllReduceFloat64s([]float64{float64(r), 1})
	require.NoError(t, err)
	require.Equal(t, []float64{1, 2}, sums)

	parts, err := g.AllGatherBytes(bytes.Repeat([]byte{byte('a' + r)}, 3*r)) // rank 0 sends nothing
	require.NoError(t, err)
	require.Equal(t, [][]byte{{}, []byte("bbb")}, parts)
	ints, err := g.AllGatherInt64s([]int64{int64(r), int64(100 + r)})
	require.NoError(t, err)
	require.Equal(t, [][]int64{{0, 100}, {1, 101}}, ints)
	require.NoError(t, g.Barrier())

	reducerCheck(t, g)
}

// reducerCheck: y = w2·tanh(w1 x + b1) on rank-specific inputs; "unused" gets a gradient only
// on rank 0 and "never" on no rank. After Finish every gradient must be the mean of the two
// ranks' own gradients (exchanged by hand), "unused" half of rank 0's, "never" none.
func reducerCheck(t *testing.T, g *dist.Group) {
	r := g.Rank()
	torch.ManualSeed(7) // same initial parameters on both ranks
	// Buckets run from the last parameter: "never" comes first so that its bucket is the last
	// and the others can start during backward.
	names := []string{"never", "w1", "b1", "w2", "unused"}
	shapes := [][]int64{{2}, {4, 3}, {4}, {1, 4}, {2}}
	params := make([]*torch.Tensor, len(names))
	p := map[string]*torch.Tensor{}
	for i := range params {
		params[i] = torch.Randn(nil, torch.Float32, torch.CPU, shapes[i]...).SetRequiresGrad(true)
		defer params[i].Free()
		p[names[i]] = params[i]
	}
	backward := func() {
		torch.WithScope(func(s *torch.Scope) {
			x := torch.FromSlice(s, []float32{1, float32(r) - 2, 0.5, float32(r), 3, -1}, 2, 3)
			h := torch.Linear(x, p["w1"], p["b1"]).Tanh()
			y := torch.Linear(h, p["w2"], nil).Square().Mean()
			if r == 0 {
				y = y.Add(s.Adopt(p["unused"].Square()).Sum())
			}
			y.Backward()
		})
	}
	grads := func() [][]float32 {
		out := make([][]float32, len(params))
		for i, p := range params {
			if gr := p.Grad(); gr != nil {
				out[i] = gr.Float32s()
				gr.Free()
			}
		}
		return out
	}

	// Reference: this rank's own gradients, exchanged with the other rank.
	backward()
	mine := grads()
	for _, p := range params {
		p.ZeroGrad()
	}
	all, err := g.AllGatherBytes(encodeGrads(mine))
	require.NoError(t, err)
	other := decodeGrads(all[1-r], len(params))

	red, err := g.NewGradReducer(params)
	require.NoError(t, err)
	defer red.Free()
	require.Greater(t, red.Buckets(), 2, "32-byte buckets split the parameters")
	for round := range 2 { // twice: the reducer re-arms cleanly
		require.NoError(t, red.Arm())
		backward()
		require.NoError(t, red.Finish(0.5))
		got := grads()
		for i, n := range names {
			switch n {
			case "never":
				require.Nil(t, got[i], "no rank had a gradient for %s", n)
			default:
				want := make([]float32, len(got[i]))
				for k := range want {
					var a, b float32
					if mine[i] != nil {
						a = mine[i][k]
					}
					if other[i] != nil {
						b = other[i][k]
					}
					want[k] = (a + b) / 2
				}
				require.InDeltaSlice(t, want, got[i], 1e-6, "round %d: %s", round, n)
			}
		}
		// On rank 0 every bucket but the one of "never" starts during backward. On rank 1
		// "unused" gets no gradient, so its bucket (the first) and, in order, all the others wait
		// for Finish: DDP's rule that buckets start in the same order everywhere.
		t.Logf("rank %d round %d: %d buckets, %d started during backward", r, round, red.Buckets(), red.Overlapped)
		if r == 0 {
			require.Equal(t, red.Buckets()-1, red.Overlapped)
		} else {
			require.Equal(t, 0, red.Overlapped)
		}
		for _, p := range params {
			p.ZeroGrad()
		}
	}
	// A rank with no data this step still takes part (zeros) without running backward.
	require.NoError(t, red.Arm())
	if r == 0 {
		backward()
	}
	require.NoError(t, red.Finish(1))
	got := grads()
	require.InDeltaSlice(t, mineOr(mine, other, r, 3), got[3], 1e-6) // w2
}

// mineOr is rank 0's gradient of parameter i whichever rank asks.
func mineOr(mine, other [][]float32, r, i int) []float32 {
	if r == 0 {
		return mine[i]
	}
	return other[i]
}

func encodeGrads(gs [][]float32) []byte {
	var b bytes.Buffer
	for _, g := range gs {
		binary.Write(&b, binary.LittleEndian, int32(len(g)))
		if g == nil {
			binary.Write(&b, binary.LittleEndian, int32(-1))
			continue
		}
		binary.Write(&b, binary.LittleEndian, int32(0))
		binary.Write(&b, binary.LittleEndian, g)
	}
	return b.Bytes()
}

func decodeGrads(data []byte, n int) [][]float32 {
	rd := bytes.NewReader(data)
	out := make([][]float32, n)
	for i := range out {
		var l, flag int32
		binary.Read(rd, binary.LittleEndian, &l)
		binary.Read(rd, binary.LittleEndian, &flag)
		if flag < 0 {
			continue
		}
		out[i] = make([]float32, l)
		binary.Read(rd, binary.LittleEndian, out[i])
	}
	return out
}

// TestPeerFailure: rank 1 dies (or hangs) while rank 0 waits in an all-reduce; rank 0 must get
// an ErrBroken error, within the timeout, and exit.
func TestPeerFailure(t *testing.T) {
	needGloo(t)
	if disttest.IsWorker() {
		peerFailureWorker(t)
		return
	}
	const timeout = 4 * time.Second
	for _, mode := range []string{"die", "hang"} {
		t.Run(mode, func(t *testing.T) {
			job := disttest.Start(t, "TestPeerFailure", 2, func(int) []string {
				return []string{"SPANQA_DISTTEST_TIMEOUT=" + timeout.String(), "SPANQA_DISTTEST_MODE=" + mode}
			})
			// Rank 1 hangs for a minute in the hang mode: only rank 0 is waited for.
			start := time.Now()
			job.Wait(60*time.Second, 0)
			job.Kill()
			procs := job.Wait(30 * time.Second)
			out := procs[0].Output()
			require.Contains(t, out, "rank 0: got", job.Outputs())
			require.Contains(t, out, "PASS", job.Outputs())
			t.Logf("%s: rank 0 exited %s after the start: %s", mode, time.Since(start).Round(time.Millisecond), lineWith(out, "rank 0: got"))
		})
	}
}

func lineWith(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

func peerFailureWorker(t *testing.T) {
	g := workerGroup(t, 0)
	timeout := g.Timeout()
	// One healthy round first: the connections are up.
	_, err := g.AllReduceFloat64s([]float64{1})
	require.NoError(t, err)
	if g.Rank() == 1 {
		if os.Getenv("SPANQA_DISTTEST_MODE") == "die" {
			os.Exit(7) // as if killed: no goodbye to the peer
		}
		time.Sleep(time.Minute) // hung: alive, connected, silent
		return
	}
	start := time.Now()
	_, err = g.AllReduceFloat64s([]float64{2})
	elapsed := time.Since(start)
	require.Error(t, err)
	require.True(t, errors.Is(err, dist.ErrBroken), "%v", err)
	fmt.Printf("rank 0: got %q after %s\n", err, elapsed.Round(time.Millisecond))
	require.Less(t, elapsed, timeout+2*time.Second, "the failure must surface within the timeout")
	// The group stays broken: no second wait.
	_, err = g.AllReduceFloat64s([]float64{3})
	require.ErrorIs(t, err, dist.ErrBroken)
	require.NoError(t, g.Close())
}

// TestRendezvousTimeout: a rank alone in a job of two gives up after the timeout.
func TestRendezvousTimeout(t *testing.T) {
	needGloo(t)
	port, err := dist.FreePort()
	require.NoError(t, err)
	start := time.Now()
	_, err = dist.Init(context.Background(), dist.Config{
		Env:     dist.Env{MasterAddr: "127.0.0.1", MasterPort: port, Rank: 0, WorldSize: 2},
		Timeout: 2 * time.Second,
	})
	require.Error(t, err)
	require.Less(t, time.Since(start), 10*time.Second)
	require.Contains(t, err.Error(), "only 1 of 2 ranks arrived")
	t.Logf("%v", err)
}

// TestLaunch starts two workers with Launch; then a job whose rank 1 fails, where Launch must
// stop rank 0 (blocked in a collective with a long timeout) and report rank 1.
func TestLaunch(t *testing.T) {
	needGloo(t)
	if os.Getenv(dist.LaunchWorkerEnv) != "" {
		launchWorker(t)
		return
	}
	run := func(fail string) (error, string, time.Duration) {
		var out bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		start := time.Now()
		err := dist.Launch(ctx, dist.LaunchConfig{
			NProcPerNode: 2, Command: os.Args[0], Args: []string{"-test.run=^TestLaunch$", "-test.v"},
			Env: append(os.Environ(), "SPANQA_LAUNCH_FAIL="+fail), Stdout: &out, Stderr: &out, KillGrace: 5 * time.Second,
		})
		return err, out.String(), time.Since(start)
	}
	err, out, _ := run("")
	require.NoError(t, err, out)
	require.Equal(t, 2, strings.Count(out, "launched: rank"), out)
	require.Contains(t, out, "world 2", out)

	err, out, took := run("1")
	require.Error(t, err, out)
	require.Contains(t, err.Error(), "rank 1 failed", out)
	require.Less(t, took, 60*time.Second, "rank 0 must be stopped, not left to its 5-minute timeout")
	t.Logf("failing job: %v after %s", err, took.Round(time.Millisecond))
}

func launchWorker(t *testing.T) {
	e, ok, err := dist.FromEnv()
	require.NoError(t, err)
	require.True(t, ok)
	require.NotEmpty(t, os.Getenv("SPANQA_NUM_THREADS"), "Launch shares the cores out")
	g, err := dist.Init(context.Background(), dist.Config{Env: e, Timeout: 5 * time.Minute})
	require.NoError(t, err)
	defer g.Close()
	fmt.Printf("launched: rank %d local %d world %d\n", g.Rank(), g.LocalRank(), g.WorldSize())
	if os.Getenv("SPANQA_LAUNCH_FAIL") == fmt.Sprint(g.Rank()) {
		os.Exit(5)
	}
	v, err := g.AllReduceFloat64s([]float64{1})
	require.NoError(t, err)
	require.Equal(t, 2.0, v[0])
	require.False(t, math.IsNaN(v[0]))
}
