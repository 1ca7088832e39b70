package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spanqa/spanqa/internal/fixtures"
	"github.com/spanqa/spanqa/torch"
)

// Schema names the bench.json format; tests/bench/hf_reference.py writes the same one.
const Schema = "spanqa-bench/1"

// Report is bench.json.
type Report struct {
	Schema string `json:"schema"`
	// Source is "spanqa" or, for tests/bench/hf_reference.py, "hf".
	Source  string `json:"source"`
	Created string `json:"created"`
	Device  string `json:"device"`
	// Precision is float32, or bfloat16 for autocast runs.
	Precision string `json:"precision"`
	// GradientCheckpointing is set when training phases recomputed activations in backward.
	GradientCheckpointing bool          `json:"gradient_checkpointing,omitempty"`
	Quick                 bool          `json:"quick"`
	Host                  Host          `json:"host"`
	Roofline              Roofline      `json:"roofline"`
	Models                []ModelResult `json:"models"`
}

// Host describes the machine and its load.
type Host struct {
	CPUModel string `json:"cpu_model"`
	CPUs     int    `json:"cpus"`
	Threads  int    `json:"threads"`
	// ThreadsNote says how Threads was chosen.
	ThreadsNote string   `json:"threads_note,omitempty"`
	BLAS        []string `json:"blas,omitempty"`
	Libtorch    string   `json:"libtorch"`
	Go          string   `json:"go,omitempty"`
	// LoadStart and LoadEnd are /proc/loadavg (1, 5, 15 minutes) before and after the run.
	LoadStart [3]float64 `json:"loadavg_start"`
	LoadEnd   [3]float64 `json:"loadavg_end"`
}

// ModelResult is one architecture's phases.
type ModelResult struct {
	Key        string          `json:"key"`
	Name       string          `json:"name"`
	ModelType  string          `json:"model_type"`
	Config     json.RawMessage `json:"config"`
	Parameters int64           `json:"parameters"`
	MaxLength  int             `json:"max_length"`
	Windows    int             `json:"windows"`
	Lengths    string          `json:"lengths"` // where the window lengths came from
	// Layout is how rows are laid out (special tokens), so that tests/bench/hf_reference.py can
	// rebuild the timed batches from their strata's rep_rows.
	Layout Layout        `json:"layout"`
	Phases []PhaseResult `json:"phases"`
}

// Layout is a tokenizer's pair layout: [CLS] q [SEP] c [SEP] or <s> q </s></s> c </s>.
type Layout struct {
	CLS       int64 `json:"cls"`
	SEP       int64 `json:"sep"`
	Pad       int64 `json:"pad"`
	DoubleSep bool  `json:"double_sep"`
	TypeIDs   bool  `json:"type_ids"`
}

// PhaseResult is one phase: training or inference, at the seed's or spanqa's batching.
type PhaseResult struct {
	Name    string `json:"name"`    // train/seed, train/spanqa, infer/seed, infer/spanqa
	Mode    string `json:"mode"`    // train (forward, backward, clip, AdamW) or infer (no grad)
	Setting string `json:"setting"` // seed (pad to max length) or spanqa (dynamic padding, buckets)
	Batch   int    `json:"batch"`
	// Error says why the phase has no figures (out of memory, say).
	Error string `json:"error,omitempty"`

	// SeqPerSec is sequences (windows) per second over a whole epoch (see plan.go).
	SeqPerSec float64 `json:"sequences_per_second"`
	// TokensPerSec counts real tokens, padding excluded.
	TokensPerSec float64 `json:"tokens_per_second"`
	EpochSeconds float64 `json:"epoch_seconds"`
	EpochFLOPs   float64 `json:"epoch_flops"`
	// MeanLength is the mean padded length per sequence; PaddingEfficiency is real tokens over
	// padded ones.
	MeanLength        float64 `json:"mean_padded_length"`
	PaddingEfficiency float64 `json:"padding_efficiency"`
	// GFLOPs is achieved model FLOP/s (padded shapes); MFU divides it by the roofline.
	GFLOPs float64 `json:"gflops"`
	MFU    float64 `json:"mfu"`
	// SpeedupVsSeed is this phase's sequences/s over the seed setting's, same mode.
	SpeedupVsSeed float64 `json:"speedup_vs_seed,omitempty"`

	// PeakRSSMiB is the resident high-water mark during the phase (the process's so far when
	// PeakRSSReset is false), StartRSSMiB the resident size when it began; PeakDeviceMiB is the
	// accelerator's peak, where known (not yet from spanqa: libtorch's CUDA allocator statistics
	// are not in the binding).
	PeakRSSMiB    float64  `json:"peak_rss_mib"`
	StartRSSMiB   float64  `json:"start_rss_mib"`
	PeakRSSReset  bool     `json:"peak_rss_reset"`
	PeakDeviceMiB *float64 `json:"peak_device_mib"`

	// DataWait is the fraction of step time spent waiting for the next batch.
	DataWait float64 `json:"data_wait_fraction"`
	// Go is the CPU profile's account of the Go side (nil when not profiled).
	Go *GoShare `json:"go,omitempty"`
	// GoAllocsPerStep and GoBytesPerStep are Go heap allocations per timed step, batching
	// workers included.
	GoAllocsPerStep float64 `json:"go_allocs_per_step"`
	GoBytesPerStep  float64 `json:"go_bytes_per_step"`

	// OtherCores is how many cores other processes kept busy during the timed steps; LoadStart
	// and LoadEnd are the 1-minute load average around them.
	OtherCores    float64 `json:"other_cores"`
	LoadStart     float64 `json:"loadavg_start"`
	LoadEnd       float64 `json:"loadavg_end"`
	WarmupSeconds float64 `json:"warmup_seconds"`

	// HFBaseline is HF's figure at the same shape from fixtures/models/hf_cpu_baseline.json,
	// where one exists (CPU, seed setting, the baseline's batch and length).
	HFBaseline *float64 `json:"hf_baseline_sequences_per_second,omitempty"`

	Strata []Stratum    `json:"strata"`
	Steps  []StepResult `json:"steps"`
}

// StepResult is one timed step.
type StepResult struct {
	B        int     `json:"batch"`
	L        int     `json:"length"`
	Seconds  float64 `json:"seconds"`
	DataWait float64 `json:"data_wait_seconds"`
	// OtherCores is how many cores other processes kept busy during the step; Runs is how
	// many times it ran (retries of disturbed runs; the least disturbed is kept).
	OtherCores float64 `json:"other_cores"`
	Runs       int     `json:"runs"`
}

// failedPhase is the result of a phase that did not complete.
func failedPhase(name string, b int, msg string) *PhaseResult {
	mode, setting, _ := cutPhase(name)
	return &PhaseResult{Name: name, Mode: mode, Setting: setting, Batch: b, Error: msg}
}

// cutPhase splits "train/seed" into its mode and setting.
func cutPhase(name string) (mode, setting string, ok bool) {
	return strings.Cut(name, "/")
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func compactJSON(s string) []byte {
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		return []byte(s)
	}
	return b.Bytes()
}

// finish derives the phase's figures from the epoch plan and the estimated epoch time.
func (p *PhaseResult) finish(plan *epochPlan, roofline float64) {
	p.EpochFLOPs = plan.FLOPs
	p.MeanLength = plan.MeanL
	if plan.MeanL > 0 {
		p.PaddingEfficiency = float64(plan.RealTokens) / (plan.MeanL * float64(plan.Sequences))
	}
	if p.EpochSeconds > 0 {
		p.SeqPerSec = float64(plan.Sequences) / p.EpochSeconds
		p.TokensPerSec = float64(plan.RealTokens) / p.EpochSeconds
		p.GFLOPs = plan.FLOPs / p.EpochSeconds / 1e9
	}
	if roofline > 0 {
		p.MFU = p.GFLOPs / roofline
	}
	var wait, total float64
	for _, s := range p.Steps {
		wait += s.DataWait
		total += s.Seconds
	}
	if total > 0 {
		p.DataWait = wait / total
	}
}

// addBaseline attaches HF's CPU baseline figure when this phase has its shape.
func (p *PhaseResult) addBaseline(model string, dev torch.Device) {
	if dev.Type != torch.CPUDevice || p.Setting != "seed" || len(p.Steps) == 0 || p.Steps[0].L != 384 {
		return
	}
	b, err := os.ReadFile(filepath.Join(fixtures.FixturesDir(), "models", "hf_cpu_baseline.json"))
	if err != nil {
		return
	}
	var base struct {
		Summary map[string]map[string]float64 `json:"summary"`
	}
	if json.Unmarshal(b, &base) != nil {
		return
	}
	key := fmt.Sprintf("inference_b%d_s384_sequences_per_second", p.Batch)
	if p.Mode == "train" {
		key = fmt.Sprintf("train_step_b%d_s384_sequences_per_second", p.Batch)
	}
	if v, ok := base.Summary[model][key]; ok {
		p.HFBaseline = &v
	}
}

// setSpeedups fills SpeedupVsSeed for the spanqa phases.
func (m *ModelResult) setSpeedups() {
	for i := range m.Phases {
		p := &m.Phases[i]
		if p.Setting == "seed" {
			continue
		}
		if s := m.phase(p.Mode + "/seed"); s != nil && s.SeqPerSec > 0 {
			p.SpeedupVsSeed = p.SeqPerSec / s.SeqPerSec
		}
	}
}

func (m *ModelResult) phase(name string) *PhaseResult {
	for i := range m.Phases {
		if m.Phases[i].Name == name {
			return &m.Phases[i]
		}
	}
	return nil
}

// WriteJSON writes the report to path.
func (r *Report) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// ReadReport reads a bench.json (spanqa's or the HF reference script's).
func ReadReport(path string) (*Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if r.Schema != Schema {
		return nil, fmt.Errorf("%s: schema %q, want %q", path, r.Schema, Schema)
	}
	return &r, nil
}

// WriteTable prints the report as a table.
func (r *Report) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "%s bench on %s (%s): %s, %d CPUs, %d threads", r.Source, r.Device, orDash(r.Precision), orDash(r.Host.CPUModel), r.Host.CPUs, r.Host.Threads)
	if r.Host.ThreadsNote != "" {
		fmt.Fprintf(w, " (%s)", r.Host.ThreadsNote)
	}
	fmt.Fprintf(w, ", libtorch %s\n", r.Host.Libtorch)
	fmt.Fprintf(w, "roofline: %.1f GFLOP/s (best %s GEMM", r.Roofline.GFLOPs, r.Roofline.DType)
	for _, s := range r.Roofline.Shapes {
		fmt.Fprintf(w, "; %dx%dx%d %.1f", s.M, s.K, s.N, s.GFLOPs)
	}
	if r.Roofline.DirectGFLOPs > 0 {
		fmt.Fprintf(w, "; 1024³ in a C++ loop %.1f", r.Roofline.DirectGFLOPs)
	}
	fmt.Fprintf(w, ")\nload average: %.2f at the start, %.2f at the end", r.Host.LoadStart[0], r.Host.LoadEnd[0])
	if r.Quick {
		fmt.Fprint(w, " (quick run: few steps, figures are rough)")
	}
	fmt.Fprintln(w)
	for _, m := range r.Models {
		fmt.Fprintf(w, "\n%s (%s, %.1fM parameters), %d windows: %s\n", m.Name, m.ModelType, float64(m.Parameters)/1e6, m.Windows, m.Lengths)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "phase\tbatch\tmean L\tpad eff\tseq/s\tvs seed\tvs HF\tGFLOP/s\tMFU\tRSS start/peak\tdata wait\tGo CPU\tGo dev\tother cores\t")
		for _, p := range m.Phases {
			if p.Error != "" {
				fmt.Fprintf(tw, "%s\t%d\tfailed: %s\t\n", p.Name, p.Batch, p.Error)
				continue
			}
			vsHF := "-"
			if p.HFBaseline != nil && *p.HFBaseline > 0 {
				vsHF = fmt.Sprintf("%.2fx", p.SeqPerSec / *p.HFBaseline)
			}
			vsSeed := "-"
			if p.SpeedupVsSeed > 0 {
				vsSeed = fmt.Sprintf("%.2fx", p.SpeedupVsSeed)
			}
			goCPU, goDev := "-", "-"
			if p.Go != nil {
				goCPU, goDev = pct(p.Go.CPU), pct(p.Go.Device)
			}
			peak := fmt.Sprintf("%.0f/%.0f MiB", p.StartRSSMiB, p.PeakRSSMiB)
			if !p.PeakRSSReset {
				peak += "*"
			}
			fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.2f\t%.3f\t%s\t%s\t%.1f\t%s\t%s\t%s\t%s\t%s\t%.2f\t\n",
				p.Name, p.Batch, p.MeanLength, p.PaddingEfficiency, p.SeqPerSec, vsSeed, vsHF, p.GFLOPs, pct(p.MFU), peak, pct(p.DataWait), goCPU, goDev, p.OtherCores)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintln(w, "\nseq/s: windows per second over a whole epoch, estimated from timed batches of each length stratum;")
	fmt.Fprintln(w, "MFU: model matmul FLOP/s (padded shapes, training = 3x forward) over the roofline; vs HF: HF 4.x on torch 1.13 at")
	fmt.Fprintln(w, "the same shape (fixtures/models/hf_cpu_baseline.json); Go CPU / Go dev: share of the process's CPU samples, and of")
	fmt.Fprintln(w, "the step thread's, in Go rather than libtorch; other cores: CPU other processes used meanwhile; RSS: resident memory")
	fmt.Fprintln(w, "when the phase started and its peak (* peak since the process started: the mark could not be reset).")
	return nil
}

// Compare prints, for every model and phase in both reports, the ratio of this report's
// sequences/s to the other's (spanqa/HF when other comes from tests/bench/hf_reference.py).
func Compare(w io.Writer, this, other *Report, otherName string) error {
	fmt.Fprintf(w, "\ncompared with %s (%s on %s, %s): ratio = this %s / that %s\n", otherName, other.Source, other.Device, other.Created, this.Source, other.Source)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "model\tphase\tthis seq/s\tthat seq/s\tratio\tthis MFU\tthat MFU\tthis peak RSS\tthat peak RSS\t")
	n := 0
	for _, m := range this.Models {
		var om *ModelResult
		for i := range other.Models {
			if other.Models[i].Name == m.Name {
				om = &other.Models[i]
			}
		}
		if om == nil {
			continue
		}
		for _, p := range m.Phases {
			op := om.phase(p.Name)
			if p.Error != "" || op == nil || op.SeqPerSec <= 0 {
				continue
			}
			n++
			fmt.Fprintf(tw, "%s\t%s\t%.3f\t%.3f\t%.2fx\t%s\t%s\t%.0f MiB\t%.0f MiB\t\n", m.Name, p.Name, p.SeqPerSec, op.SeqPerSec, p.SeqPerSec/op.SeqPerSec, pct(p.MFU), pct(op.MFU), p.PeakRSSMiB, op.PeakRSSMiB)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if n == 0 {
		fmt.Fprintln(w, "(no model and phase in common)")
	}
	return nil
}

func pct(x float64) string { return fmt.Sprintf("%.1f%%", 100*x) }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
