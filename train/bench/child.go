package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"

	"github.com/spanqa/spanqa/torch"
)

// childSpec is what a parent run hands a child process: one model, its phases, and the file
// the child keeps its results in (rewritten after every phase, so a child killed mid-way
// still leaves the phases it finished).
type childSpec struct {
	Options  Options `json:"options"`
	Phases   []string
	Roofline float64
	Output   string
}

// childResult is the child's output file.
type childResult struct {
	Model *ModelResult `json:"model"`
	Error string       `json:"error,omitempty"`
}

// runModelIsolated runs one model's phases in child processes. When a child dies (the kernel's
// out-of-memory killer, say), the phase it was in is recorded as failed and a new child runs the
// phases after it.
func runModelIsolated(ctx context.Context, a *arch, phases []string, opt *Options, roofline float64) (*ModelResult, error) {
	dir, err := os.MkdirTemp("", "spanqa-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	var mr *ModelResult
	remaining := phases
	for try := 0; len(remaining) > 0; try++ {
		spec := childSpec{Options: *opt, Phases: remaining, Roofline: roofline, Output: filepath.Join(dir, fmt.Sprintf("result-%d.json", try))}
		spec.Options.Models = a.Key
		specPath := filepath.Join(dir, fmt.Sprintf("spec-%d.json", try))
		b, err := json.Marshal(spec)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(specPath, b, 0o644); err != nil {
			return nil, err
		}
		cmd := exec.CommandContext(ctx, opt.ChildCommand[0], append(slices.Clone(opt.ChildCommand[1:]), specPath)...)
		cmd.Stdout, cmd.Stderr = opt.Log, opt.Log
		runErr := cmd.Run()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var res childResult
		if b, err := os.ReadFile(spec.Output); err == nil {
			if err := json.Unmarshal(b, &res); err != nil {
				return nil, fmt.Errorf("bench: %s: child result: %w", a.Name, err)
			}
		}
		if res.Model != nil { // the child's description of the model, with every phase so far
			var earlier []PhaseResult
			if mr != nil {
				earlier = mr.Phases
			}
			mr = res.Model
			mr.Phases = append(earlier, mr.Phases...)
		}
		done := map[string]bool{}
		if res.Model != nil {
			for _, p := range res.Model.Phases {
				done[p.Name] = true
			}
		}
		remaining = slices.DeleteFunc(slices.Clone(remaining), func(p string) bool { return done[p] })
		if runErr == nil && res.Error == "" {
			for _, p := range remaining { // cannot happen with RunChild, which reports every phase
				mr.Phases = append(mr.Phases, *failedPhase(p, phaseBatch(a, opt, p), "the child process ended without running it"))
			}
			break
		}
		msg := res.Error
		killed := false
		if msg == "" {
			msg = runErr.Error()
			var ee *exec.ExitError
			if errors.As(runErr, &ee) && !ee.Exited() { // ended by a signal
				killed = true
				msg += " (out of memory?)"
			}
		}
		if res.Model == nil && mr == nil && !killed {
			// The child failed before any phase (bad configuration, missing data): no retry.
			return nil, fmt.Errorf("bench: %s: %s", a.Name, msg)
		}
		if len(remaining) == 0 {
			break
		}
		logf(opt.Log, "bench: %s %s: %s", a.Name, remaining[0], msg)
		if mr == nil {
			mr = &ModelResult{Key: a.Key, Name: a.Name}
		}
		mr.Phases = append(mr.Phases, *failedPhase(remaining[0], phaseBatch(a, opt, remaining[0]), msg))
		remaining = remaining[1:]
	}
	mr.setSpeedups()
	return mr, nil
}

// RunChild is the child side of Options.ChildCommand: it measures the one model of the spec
// file at path and writes its results where the spec says. Like Run it pins its goroutine.
func RunChild(ctx context.Context, path string) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var spec childSpec
	if err := json.Unmarshal(b, &spec); err != nil {
		return fmt.Errorf("bench: child spec %s: %w", path, err)
	}
	// Volunteer as the kernel's first out-of-memory victim: a benchmark that outgrows the machine
	// (Longformer's 4096-token training batches) should cost its own phase, not a colleague's
	// process or the parent run. Raising one's own score needs no privilege.
	_ = os.WriteFile("/proc/self/oom_score_adj", []byte("1000"), 0)
	opt := spec.Options
	opt.Log = os.Stderr
	if opt.Threads > 0 { // the parent's choice (see Run)
		torch.SetNumThreads(opt.Threads)
	}
	as, err := selectArchs(opt.Models)
	if err != nil || len(as) != 1 {
		return fmt.Errorf("bench: child: models %q: %v", opt.Models, err)
	}
	save := func(res childResult) error {
		b, err := json.Marshal(res)
		if err != nil {
			return err
		}
		tmp := spec.Output + ".tmp"
		if err := os.WriteFile(tmp, b, 0o644); err != nil {
			return err
		}
		return os.Rename(tmp, spec.Output)
	}
	var saveErr error
	mr, err := runModel(ctx, &as[0], spec.Phases, &opt, spec.Roofline, func(m *ModelResult) {
		if err := save(childResult{Model: m}); err != nil && saveErr == nil {
			saveErr = err
		}
	})
	if err != nil {
		_ = save(childResult{Model: mr, Error: err.Error()})
		return err
	}
	if saveErr != nil {
		return saveErr
	}
	return save(childResult{Model: mr})
}
