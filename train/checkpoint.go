package train

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/spanqa/spanqa/data/batch"
	"github.com/spanqa/spanqa/models"
	"github.com/spanqa/spanqa/torch"
	"github.com/spanqa/spanqa/torch/weights"
)

// A checkpoint is a folder checkpoint-<step>/ holding everything needed to continue exactly:
//
//	model.safetensors, config.json   the model (HF names; HF Transformers loads it)
//	optimizer.safetensors            AdamW moments (exp_avg.<param>, exp_avg_sq.<param>)
//	rng_state.safetensors            libtorch's CPU generator (dropout)
//	scheduler.json                   the schedule and its position
//	trainer_state.json               step, epoch, data position, log history, best metric
//
// It is written into a temporary folder, every file fsynced, then renamed into place, so a
// crash mid-write leaves the previous checkpoints whole.

const checkpointPrefix = "checkpoint-"

// TrainerState is trainer_state.json (HF's fields plus spanqa's data position).
type TrainerState struct {
	GlobalStep          int64            `json:"global_step"`
	Epoch               float64          `json:"epoch"`
	MaxSteps            int64            `json:"max_steps"`
	NumTrainEpochs      float64          `json:"num_train_epochs"`
	LogHistory          []map[string]any `json:"log_history"`
	BestMetric          *float64         `json:"best_metric"`
	BestModelCheckpoint string           `json:"best_model_checkpoint"`
	TrainBatchSize      int              `json:"train_batch_size"`
	// DataPosition is the last micro-batch consumed: resuming continues after it.
	DataPosition batch.Position `json:"data_position"`
	// EpochDone marks that the epoch of DataPosition is finished (evaluated and saved).
	EpochDone bool `json:"epoch_done"`
}

type schedulerState struct {
	Schedule
	LastStep int64 `json:"last_step"`
}

// saveCheckpoint writes checkpoint-<step> into dir atomically and returns its path.
func saveCheckpoint(dir string, m models.QAModel, opt *AdamW, sched Schedule, st *TrainerState, args *Args) (string, error) {
	final := filepath.Join(dir, fmt.Sprintf("%s%d", checkpointPrefix, st.GlobalStep))
	tmp := filepath.Join(dir, fmt.Sprintf(".%s%d.tmp", checkpointPrefix, st.GlobalStep))
	if err := os.RemoveAll(tmp); err != nil {
		return "", err
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return "", err
	}
	fail := func(err error) (string, error) {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("train: checkpoint %s: %w", final, err)
	}
	if err := models.Save(m, tmp); err != nil {
		return fail(err)
	}
	crashHook("after-model", st.GlobalStep)
	optState, err := opt.State()
	if err != nil {
		return fail(err)
	}
	if err := weights.WriteSafetensors(filepath.Join(tmp, "optimizer.safetensors"), optState, map[string]string{"step": strconv.FormatInt(opt.Step, 10)}); err != nil {
		return fail(err)
	}
	var rng weights.Tensor
	if err := torch.Catch(func() {
		s := torch.RNGState()
		defer s.Free()
		rng = weights.Tensor{Name: "cpu_rng_state", DType: weights.U8, Shape: s.Shape(), Data: s.Bytes()}
	}); err != nil {
		return fail(err)
	}
	if err := weights.WriteSafetensors(filepath.Join(tmp, "rng_state.safetensors"), []weights.Tensor{rng}, nil); err != nil {
		return fail(err)
	}
	for name, v := range map[string]any{
		"scheduler.json":     schedulerState{Schedule: sched, LastStep: st.GlobalStep},
		"trainer_state.json": st,
		"training_args.json": args,
	} {
		if err := writeJSON(filepath.Join(tmp, name), v); err != nil {
			return fail(err)
		}
	}
	if err := syncDir(tmp); err != nil {
		return fail(err)
	}
	if err := os.RemoveAll(final); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return fail(err)
	}
	if err := syncDir(dir); err != nil {
		return fail(err)
	}
	return final, nil
}

// crashHook lets the crash test kill the process in the middle of a checkpoint write:
// SPANQA_TEST_CRASH_CHECKPOINT=<stage>@<step>.
func crashHook(stage string, step int64) {
	if os.Getenv("SPANQA_TEST_CRASH_CHECKPOINT") == fmt.Sprintf("%s@%d", stage, step) {
		fmt.Fprintln(os.Stderr, "spanqa: simulated crash during checkpoint write")
		os.Exit(3)
	}
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(data, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Checkpoints lists the complete checkpoint folders in dir, oldest (lowest step) first.
// Temporary folders of interrupted writes are ignored.
func Checkpoints(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	type ck struct {
		step int64
		path string
	}
	var cks []ck
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), checkpointPrefix) {
			continue
		}
		step, err := strconv.ParseInt(strings.TrimPrefix(e.Name(), checkpointPrefix), 10, 64)
		if err != nil {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, e.Name(), "trainer_state.json")); err != nil {
			continue
		}
		cks = append(cks, ck{step, filepath.Join(dir, e.Name())})
	}
	sort.Slice(cks, func(i, j int) bool { return cks[i].step < cks[j].step })
	out := make([]string, len(cks))
	for i, c := range cks {
		out[i] = c.path
	}
	return out, nil
}

// rotateCheckpoints deletes all but the newest keep checkpoints, never the best one.
func rotateCheckpoints(dir string, keep int, best string) error {
	if keep <= 0 {
		return nil
	}
	cks, err := Checkpoints(dir)
	if err != nil {
		return err
	}
	for len(cks) > keep {
		victim := cks[0]
		cks = cks[1:]
		if victim == best {
			keep--
			continue
		}
		if err := os.RemoveAll(victim); err != nil {
			return err
		}
	}
	return nil
}

// loadCheckpoint restores the model, optimizer, RNG and trainer state from ck.
func loadCheckpoint(ck string, m models.QAModel, opt *AdamW) (*TrainerState, error) {
	fail := func(err error) (*TrainerState, error) {
		return nil, fmt.Errorf("train: resume from %s: %w", ck, err)
	}
	set, err := weights.Open(ck)
	if err != nil {
		return fail(err)
	}
	err = models.LoadWeights(m, set, nil)
	set.Close()
	if err != nil {
		return fail(err)
	}
	var st TrainerState
	data, err := os.ReadFile(filepath.Join(ck, "trainer_state.json"))
	if err != nil {
		return fail(err)
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return fail(err)
	}
	osf, err := weights.OpenFile(filepath.Join(ck, "optimizer.safetensors"))
	if err != nil {
		return fail(err)
	}
	err = opt.LoadState(osf, st.GlobalStep)
	osf.Close()
	if err != nil {
		return fail(err)
	}
	opt.Step = st.GlobalStep
	rs, err := weights.OpenFile(filepath.Join(ck, "rng_state.safetensors"))
	if err != nil {
		return fail(err)
	}
	defer rs.Close()
	w, err := rs.Get("cpu_rng_state")
	if err != nil {
		return fail(err)
	}
	if err := torch.Catch(func() {
		t := torch.FromBytes(nil, torch.Uint8, w.Data, w.Shape...)
		defer t.Free()
		torch.SetRNGState(t)
	}); err != nil {
		return fail(err)
	}
	return &st, nil
}
