package train

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/spanqa/spanqa/data/features"
	"github.com/spanqa/spanqa/data/squad"
	"github.com/spanqa/spanqa/data/tokenize"
)

// smallArgs prepares a scaled-down embedded run: a very small BERT on a few hundred synthetic
// examples, with dropout on so that RNG state matters for exact resumption.
func smallArgs(t *testing.T, dir string) Args {
	t.Helper()
	a, err := PrepareEmbedded(dir, EmbeddedScale{TrainContexts: 60, EvalContexts: 10, Epochs: 2})
	require.NoError(t, err)
	a.ConfigOverrides = "hidden_size=32,num_hidden_layers=1,num_attention_heads=2,intermediate_size=48,hidden_dropout_prob=0.1,attention_probs_dropout_prob=0.1"
	a.PerDeviceTrainBatchSize = 8
	a.MaxSeqLength, a.DocStride = 64, 16
	a.NoPlot = true
	return a
}

func TestResumeIsBitIdentical(t *testing.T) {
	dir := t.TempDir()
	straight := smallArgs(t, filepath.Join(dir, "straight"))
	straight.MaxSteps = 12
	straight.GradientAccumulationSteps = 2
	res, err := Run(context.Background(), straight, &bytes.Buffer{})
	require.NoError(t, err)
	require.EqualValues(t, 12, res.GlobalStep)

	split := straight
	split.OutputDir = filepath.Join(dir, "split")
	ctx, cancel := context.WithCancel(context.Background())
	tr := &Trainer{Args: split, Log: &bytes.Buffer{}, OnStep: func(step int64, _ StepResult) {
		if step == 5 {
			cancel()
		}
	}}
	res, err = tr.Run(ctx)
	require.NoError(t, err)
	require.True(t, res.Interrupted)
	require.EqualValues(t, 5, res.GlobalStep)
	cks, err := Checkpoints(split.OutputDir)
	require.NoError(t, err)
	require.NotEmpty(t, cks)
	require.Equal(t, "checkpoint-5", filepath.Base(cks[len(cks)-1]))

	split.Resume = true
	res, err = Run(context.Background(), split, &bytes.Buffer{})
	require.NoError(t, err)
	require.EqualValues(t, 12, res.GlobalStep)

	a, err := os.ReadFile(filepath.Join(straight.OutputDir, "model.safetensors"))
	require.NoError(t, err)
	b, err := os.ReadFile(filepath.Join(split.OutputDir, "model.safetensors"))
	require.NoError(t, err)
	require.True(t, bytes.Equal(a, b), "resumed run's weights differ from the straight run's")
}

// TestCrashDuringCheckpointWrite kills a training process in the middle of writing its second
// checkpoint; the first must still load and training must resume to the same result.
func TestCrashDuringCheckpointWrite(t *testing.T) {
	if os.Getenv("SPANQA_CRASH_CHILD") != "" {
		a := smallArgs(t, os.Getenv("SPANQA_CRASH_CHILD"))
		a.MaxSteps, a.SaveSteps = 8, 4
		_, err := Run(context.Background(), a, os.Stderr)
		require.NoError(t, err)
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashDuringCheckpointWrite$")
	cmd.Env = append(os.Environ(), "SPANQA_CRASH_CHILD="+dir, "SPANQA_TEST_CRASH_CHECKPOINT=after-model@8")
	out, err := cmd.CombinedOutput()
	require.Error(t, err, "the child should have crashed: %s", out)
	require.Contains(t, string(out), "simulated crash")

	a := smallArgs(t, dir)
	a.MaxSteps, a.SaveSteps = 8, 4
	cks, err := Checkpoints(a.OutputDir)
	require.NoError(t, err)
	require.Len(t, cks, 1, "only the complete checkpoint counts")
	require.Equal(t, "checkpoint-4", filepath.Base(cks[0]))
	a.Resume = true
	res, err := Run(context.Background(), a, &bytes.Buffer{})
	require.NoError(t, err)
	require.EqualValues(t, 8, res.GlobalStep)

	ref := smallArgs(t, filepath.Join(dir, "ref"))
	ref.MaxSteps, ref.SaveSteps = 8, 4
	_, err = Run(context.Background(), ref, &bytes.Buffer{})
	require.NoError(t, err)
	x4, _ := os.ReadFile(filepath.Join(a.OutputDir, "checkpoint-4", "model.safetensors"))
	y4, _ := os.ReadFile(filepath.Join(ref.OutputDir, "checkpoint-4", "model.safetensors"))
	require.True(t, bytes.Equal(x4, y4), "checkpoint-4 differs between the crashed child and the reference")
	x, _ := os.ReadFile(filepath.Join(a.OutputDir, "model.safetensors"))
	y, _ := os.ReadFile(filepath.Join(ref.OutputDir, "model.safetensors"))
	require.True(t, bytes.Equal(x, y), "run resumed after the crash differs from an uninterrupted one")
}

// TestTrainsFromWindowsFile replays the windows `spanqa features --mode train` writes and gets
// exactly the weights training from the examples gives.
func TestTrainsFromWindowsFile(t *testing.T) {
	dir := t.TempDir()
	a := smallArgs(t, filepath.Join(dir, "examples"))
	a.MaxSteps = 4
	_, err := Run(context.Background(), a, &bytes.Buffer{})
	require.NoError(t, err)

	tok, err := tokenize.Load(a.Model)
	require.NoError(t, err)
	ex, _, err := squad.Read(a.TrainFile, squad.Options{})
	require.NoError(t, err)
	ws, err := features.Train(ex, tok, features.Options{MaxLength: a.MaxSeqLength, Stride: a.DocStride})
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, features.WriteJSONL(&buf, ws, features.ModeTrain))
	wfile := filepath.Join(dir, "windows.jsonl")
	require.NoError(t, os.WriteFile(wfile, buf.Bytes(), 0o644))

	b := a
	b.TrainFile, b.OutputDir = wfile, filepath.Join(dir, "windows")
	_, err = Run(context.Background(), b, &bytes.Buffer{})
	require.NoError(t, err)
	x, _ := os.ReadFile(filepath.Join(a.OutputDir, "model.safetensors"))
	y, _ := os.ReadFile(filepath.Join(b.OutputDir, "model.safetensors"))
	require.True(t, bytes.Equal(x, y))
}

// TestEmbeddedDefaultEndToEnd is `make train` scaled down: everything a real run writes is
// there and the loss falls.
func TestEmbeddedDefaultEndToEnd(t *testing.T) {
	dir := t.TempDir()
	a, err := PrepareEmbedded(dir, EmbeddedScale{TrainContexts: 150, EvalContexts: 20, Epochs: 2})
	require.NoError(t, err)
	a.ConfigOverrides = "hidden_size=64,num_hidden_layers=2,num_attention_heads=4,intermediate_size=128"
	a.MaxSeqLength, a.DocStride = 96, 32
	var first, last float64
	logs := &bytes.Buffer{}
	tr := &Trainer{Args: a, Log: logs, OnStep: func(step int64, r StepResult) {
		if step == 1 {
			first = r.Loss
		}
		last = r.Loss
	}}
	res, err := tr.Run(context.Background())
	require.NoError(t, err)
	require.False(t, res.Interrupted)
	require.Less(t, last, first, "loss should fall")
	require.False(t, res.EvalF1 != res.EvalF1, "evaluation ran")
	for _, f := range []string{"config.json", "model.safetensors", "vocab.txt", "trainer_state.json", "train_log.jsonl", "training_plot.png", "eval_results.json", "eval/predictions.json", "eval/nbest_predictions.json"} {
		require.FileExists(t, filepath.Join(a.OutputDir, f))
	}
	cks, err := Checkpoints(a.OutputDir)
	require.NoError(t, err)
	require.NotEmpty(t, cks)
	for _, f := range []string{"model.safetensors", "optimizer.safetensors", "rng_state.safetensors", "scheduler.json", "trainer_state.json", "config.json"} {
		require.FileExists(t, filepath.Join(cks[len(cks)-1], f))
	}
	// The embedded model uses relative_key positions, which transformers 5.x does not implement:
	// the run says so.
	require.Contains(t, logs.String(), "position_embedding_type relative_key: transformers 4.x")
	t.Logf("embedded (scaled down): loss %.3f -> %.3f, EM %.1f F1 %.1f in %s", first, last, res.EvalEM, res.EvalF1, res.Runtime)
}

// TestCustomColumns trains from JSON Lines whose columns have other names, as run_qa.py's
// --question_column etc. allow.
func TestCustomColumns(t *testing.T) {
	dir := t.TempDir()
	a := smallArgs(t, filepath.Join(dir, "cols"))
	ex, _, err := squad.Read(a.TrainFile, squad.Options{})
	require.NoError(t, err)
	var buf bytes.Buffer
	for _, e := range ex[:40] {
		rec := map[string]any{"qid": e.ID, "title": e.Title, "passage": e.Context, "query": e.Question,
			"spans": map[string]any{"text": []string{e.Answers[0].Text}, "answer_start": []int{e.Answers[0].Start}}}
		line, err := json.Marshal(rec)
		require.NoError(t, err)
		buf.Write(append(line, '\n'))
	}
	a.TrainFile = filepath.Join(dir, "renamed.jsonl")
	require.NoError(t, os.WriteFile(a.TrainFile, buf.Bytes(), 0o644))
	a.EvalFile, a.MaxSteps = "", 2
	_, err = Run(context.Background(), a, &bytes.Buffer{})
	require.Error(t, err, "default column names must not find the renamed fields")
	a.QuestionColumn, a.ContextColumn, a.AnswerColumn, a.IDColumn = "query", "passage", "spans", "qid"
	res, err := Run(context.Background(), a, &bytes.Buffer{})
	require.NoError(t, err)
	require.EqualValues(t, 2, res.GlobalStep)
}

// TestGradientCheckpointingTrainsIdentically: --gradient-checkpointing changes memory, not the
// run: with dropout on, the weights after 8 steps are byte for byte those of a plain run.
func TestGradientCheckpointingTrainsIdentically(t *testing.T) {
	dir := t.TempDir()
	plain := smallArgs(t, filepath.Join(dir, "plain"))
	plain.ConfigOverrides = strings.Replace(plain.ConfigOverrides, "num_hidden_layers=1", "num_hidden_layers=2", 1)
	plain.MaxSteps = 8
	_, err := Run(context.Background(), plain, &bytes.Buffer{})
	require.NoError(t, err)

	ckpt := plain
	ckpt.OutputDir = filepath.Join(dir, "checkpointed")
	ckpt.GradientCheckpointing = true
	_, err = Run(context.Background(), ckpt, &bytes.Buffer{})
	require.NoError(t, err)

	a, err := os.ReadFile(filepath.Join(plain.OutputDir, "model.safetensors"))
	require.NoError(t, err)
	b, err := os.ReadFile(filepath.Join(ckpt.OutputDir, "model.safetensors"))
	require.NoError(t, err)
	require.True(t, bytes.Equal(a, b), "gradient checkpointing changed the trained weights")
}
