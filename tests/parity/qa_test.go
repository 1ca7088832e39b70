package parity

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/spanqa/spanqa/data/features"
	"github.com/spanqa/spanqa/data/squad"
	"github.com/spanqa/spanqa/data/tokenize"
	"github.com/spanqa/spanqa/eval"
	"github.com/spanqa/spanqa/internal/fixtures"
	"github.com/spanqa/spanqa/torch/weights"
)

// qaMeta is qa/qa.json, written by reference.py qa (and squad-v2-metrics).
type qaMeta struct {
	Features []struct {
		Tokenizer  string   `json:"tokenizer"`
		MaxLength  int      `json:"max_length"`
		Stride     int      `json:"stride"`
		Mode       string   `json:"mode"`
		File       string   `json:"file"`
		Windows    int      `json:"windows"`
		Skipped    []string `json:"skipped"`
		PadTokenID int64    `json:"pad_token_id"`
	} `json:"features"`
	PostProcess []struct {
		Tokenizer       string   `json:"tokenizer"`
		MaxLength       int      `json:"max_length"`
		Stride          int      `json:"stride"`
		V2              bool     `json:"v2"`
		NBestSize       int      `json:"n_best_size"`
		MaxAnswerLength int      `json:"max_answer_length"`
		Threshold       float64  `json:"null_score_diff_threshold"`
		Logits          string   `json:"logits"`
		Expected        string   `json:"expected"`
		Skipped         []string `json:"skipped"`
	} `json:"postprocess"`
	Score []struct {
		Name                 string             `json:"name"`
		Data                 string             `json:"data"`
		Predictions          string             `json:"predictions"`
		Version              string             `json:"version"`
		NAProb               string             `json:"na_prob"`
		NAProbThresh         *float64           `json:"na_prob_thresh"`
		ExpectedSmall        map[string]float64 `json:"expected_small"`
		ExpectedTransformers map[string]float64 `json:"expected_transformers"`
		Unanswered           []string           `json:"unanswered"`
	} `json:"score"`
	MetricGoldensChecked     int    `json:"metric_goldens_checked"`
	TransformersSquadMetrics string `json:"transformers_squad_metrics"`
}

func readQAMeta(t *testing.T) (string, qaMeta) {
	dir := referenceDir(t, "qa")
	var meta qaMeta
	data, err := os.ReadFile(filepath.Join(dir, "qa.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &meta))
	return dir, meta
}

// featureLine is one line of `spanqa features` output, or of the reference's features (which add
// the unpadded length and, for training windows, the unpadded call's labels).
type featureLine struct {
	InputIDs          []int64   `json:"input_ids"`
	TokenTypeIDs      []int64   `json:"token_type_ids"`
	AttentionMask     []int64   `json:"attention_mask"`
	OffsetMapping     []*[2]int `json:"offset_mapping"`
	ExampleID         string    `json:"example_id"`
	StartPositions    *int      `json:"start_positions"`
	EndPositions      *int      `json:"end_positions"`
	Length            int       `json:"length"`
	UnpaddedPositions *[2]int   `json:"unpadded_positions"`
}

func readFeatureLines(t *testing.T, path string) []featureLine {
	return fixtures.ReadJSONL[featureLine](t, path)
}

// TestFeatures runs `spanqa features` (train and eval, two window sizes, three tokenizers) on
// the reference's random SQuAD v2 data and compares every window with run_qa.py's preprocessing
// done by transformers' fast tokenizer call, exactly:
//   - unpadded (run_qa.py --pad_to_max_length False, and spanqa's own windows): input_ids,
//     token_type_ids, attention_mask, offset_mapping (None outside the context in eval windows),
//     example_id, start/end positions;
//   - padded to max_length (run_qa.py's default): the same after padding spanqa's window as HF
//     pads (pad id, mask 0, type 0, offsets (0, 0) or None); the labels are equal except in the
//     one place where padding changes HF's rule: when the first answer lies inside the window's
//     last context token, HF's start scan runs through the final [SEP] and the padding to the last
//     position, while without padding (and in spanqa) it stops at the final [SEP]. Those windows
//     must show exactly that difference and are counted.
//
// Examples whose question leaves no room are dropped on both sides (HF raises; spanqa is run
// with --skip-too-long).
func TestFeatures(t *testing.T) {
	dir, meta := readQAMeta(t)
	require.NotEmpty(t, meta.Features)
	data := filepath.Join(dir, "squad_v2.json")
	for _, fc := range meta.Features {
		t.Run(fmt.Sprintf("%s/%d/%s", fc.Tokenizer, fc.MaxLength, fc.Mode), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "features.jsonl")
			// `spanqa features --tokenizer ... --skip-too-long --output out`.
			tok, err := tokenize.Load(fixtures.Tokenizers(t, fc.Tokenizer))
			require.NoError(t, err)
			mode, err := features.ParseMode(fc.Mode)
			require.NoError(t, err)
			_, err = features.WriteFile(out, data, squad.Options{}, tok, mode,
				features.Options{MaxLength: fc.MaxLength, Stride: fc.Stride, SkipTooLong: true})
			require.NoError(t, err, "spanqa features")
			got := readFeatureLines(t, out)
			want := readFeatureLines(t, filepath.Join(dir, fc.File))
			require.Len(t, got, fc.Windows, "spanqa made %d windows, HF %d", len(got), fc.Windows)
			require.Len(t, want, fc.Windows)
			edge := 0
			for i := range want {
				g, w := &got[i], &want[i]
				where := fmt.Sprintf("window %d (example %s)", i, w.ExampleID)
				n := w.Length
				require.Equal(t, w.ExampleID, g.ExampleID, where)
				require.Len(t, g.InputIDs, n, "%s: unpadded length", where)
				// Unpadded: exactly HF's windows cut at the padding.
				require.Equal(t, w.InputIDs[:n], g.InputIDs, "%s input_ids", where)
				require.Equal(t, w.AttentionMask[:n], g.AttentionMask, "%s attention_mask", where)
				if w.TokenTypeIDs == nil {
					require.Nil(t, g.TokenTypeIDs, "%s: spanqa writes token_type_ids the model does not take", where)
				} else {
					require.Equal(t, w.TokenTypeIDs[:n], g.TokenTypeIDs, "%s token_type_ids", where)
				}
				require.Equal(t, w.OffsetMapping[:n], g.OffsetMapping, "%s offset_mapping", where)
				// Padded: spanqa's window padded as HF pads it.
				pad := func(xs []int64, v int64) []int64 {
					out := slices.Clone(xs)
					for len(out) < fc.MaxLength {
						out = append(out, v)
					}
					return out
				}
				require.Equal(t, w.InputIDs, pad(g.InputIDs, fc.PadTokenID), "%s padded input_ids", where)
				require.Equal(t, w.AttentionMask, pad(g.AttentionMask, 0), "%s padded attention_mask", where)
				if w.TokenTypeIDs != nil {
					require.Equal(t, w.TokenTypeIDs, pad(g.TokenTypeIDs, 0), "%s padded token_type_ids", where)
				}
				offs := slices.Clone(g.OffsetMapping)
				for len(offs) < fc.MaxLength {
					if fc.Mode == "train" {
						offs = append(offs, &[2]int{0, 0})
					} else {
						offs = append(offs, nil)
					}
				}
				require.Equal(t, w.OffsetMapping, offs, "%s padded offset_mapping", where)
				if fc.Mode != "train" {
					require.Nil(t, g.StartPositions, "%s: evaluation windows have no labels", where)
					continue
				}
				require.NotNil(t, g.StartPositions, where)
				require.NotNil(t, w.UnpaddedPositions, where)
				gs, ge := *g.StartPositions, *g.EndPositions
				require.Equal(t, *w.UnpaddedPositions, [2]int{gs, ge}, "%s: labels against run_qa.py without padding", where)
				ws, we := *w.StartPositions, *w.EndPositions
				if ws != gs && n < fc.MaxLength && ws == fc.MaxLength-1 && gs == n-1 && we == ge {
					edge++
					continue
				}
				require.Equal(t, [2]int{ws, we}, [2]int{gs, ge}, "%s: labels against run_qa.py with padding", where)
			}
			t.Logf("%s max_length %d %s: %d windows identical to run_qa.py's (%d examples skipped on both sides); padded to max_length, %d training labels differ only by HF's start scan running into the padding",
				fc.Tokenizer, fc.MaxLength, fc.Mode, len(want), len(fc.Skipped), edge)
		})
	}
}

// TestPostProcess post-processes spanqa's evaluation windows with the reference's random float32
// logits (rows padded to max_length, as the Trainer's are) and compares predictions.json,
// nbest_predictions.json and null_odds.json with utils_qa.py's rule computed by the reference
// with numpy (as it runs on an AVX2 machine), byte for byte but for one allowance (see
// compareFiles). Rows have no equal logits: numpy 2.x orders equal values by CPU-specific SIMD
// sort kernels.
func TestPostProcess(t *testing.T) {
	dir, meta := readQAMeta(t)
	require.NotEmpty(t, meta.PostProcess)
	all, _, err := squad.Read(filepath.Join(dir, "squad_v2.json"), squad.Options{})
	require.NoError(t, err)
	for i, pc := range meta.PostProcess {
		name := fmt.Sprintf("%s/%d", pc.Tokenizer, i)
		t.Run(name, func(t *testing.T) {
			var examples []squad.Example
			for _, e := range all {
				if !slices.Contains(pc.Skipped, e.ID) {
					examples = append(examples, e)
				}
			}
			tok, err := tokenize.Load(fixtures.Tokenizers(t, pc.Tokenizer))
			require.NoError(t, err)
			windows, err := features.Eval(examples, tok, features.Options{MaxLength: pc.MaxLength, Stride: pc.Stride, SkipTooLong: true})
			require.NoError(t, err)
			set, err := weights.OpenSafetensors(filepath.Join(dir, pc.Logits))
			require.NoError(t, err)
			defer set.Close()
			rows := func(key string) [][]float32 {
				x, err := set.Get(key)
				require.NoError(t, err)
				v, err := x.Float32s()
				require.NoError(t, err)
				require.Len(t, x.Shape, 2)
				require.Equal(t, int64(len(windows)), x.Shape[0], "one logit row per window")
				w := int(x.Shape[1])
				out := make([][]float32, len(windows))
				for r := range out {
					out[r] = slices.Clone(v[r*w : (r+1)*w])
				}
				return out
			}
			start, end := rows("start_logits"), rows("end_logits")
			preds, err := eval.PostProcess(examples, windows, start, end, eval.Options{Version2WithNegative: pc.V2,
				NBestSize: pc.NBestSize, MaxAnswerLength: pc.MaxAnswerLength, NullScoreDiffThreshold: pc.Threshold})
			require.NoError(t, err)
			out := t.TempDir()
			require.NoError(t, eval.WritePredictions(out, "", preds, pc.V2))
			var want map[string]string
			data, err := os.ReadFile(filepath.Join(dir, pc.Expected))
			require.NoError(t, err)
			require.NoError(t, json.Unmarshal(data, &want))
			placeholderULPs := 0
			for key, file := range map[string]string{"predictions": "predictions.json", "nbest": "nbest_predictions.json", "null_odds": "null_odds.json"} {
				got, err := os.ReadFile(filepath.Join(out, file))
				w, ok := want[key]
				if !ok {
					require.True(t, os.IsNotExist(err), "%s written in v1 mode", file)
					continue
				}
				require.NoError(t, err)
				n, err := compareFiles(string(got), w, key == "nbest")
				require.NoError(t, err, file)
				placeholderULPs += n
			}
			t.Logf("%s: %d examples, %d windows, v2=%v n_best %d max_answer %d threshold %g: files identical (%d probabilities of placeholder examples 1 ulp apart)",
				pc.Tokenizer, len(examples), len(windows), pc.V2, pc.NBestSize, pc.MaxAnswerLength, pc.Threshold, placeholderULPs)
		})
	}
}

// compareFiles compares a file spanqa wrote with the reference's, line by line. The one
// difference allowed (nbest only) is the last bit of a probability in an example whose n-best
// list starts with HF's {"text": "empty"} placeholder: that softmax runs in float64 (the
// placeholder's score is a Python float), where numpy calls the C library's exp, which is not
// correctly rounded in every case, while spanqa's exp64 is. It returns how many such lines it
// allowed.
func compareFiles(got, want string, nbest bool) (int, error) {
	gl, wl := strings.Split(got, "\n"), strings.Split(want, "\n")
	if len(gl) != len(wl) {
		return 0, fmt.Errorf("%d lines, HF %d", len(gl), len(wl))
	}
	allowed, placeholder := 0, false
	for k := range wl {
		if strings.HasPrefix(wl[k], "    \"") {
			placeholder = false // a new example
		}
		if strings.TrimSpace(wl[k]) == `"text": "empty",` {
			placeholder = true
		}
		if gl[k] == wl[k] {
			continue
		}
		const key = `"probability": `
		gv, gok := strings.CutPrefix(strings.TrimSpace(gl[k]), key)
		wv, wok := strings.CutPrefix(strings.TrimSpace(wl[k]), key)
		if nbest && placeholder && gok && wok {
			g, err1 := strconv.ParseFloat(strings.TrimSuffix(gv, ","), 64)
			w, err2 := strconv.ParseFloat(strings.TrimSuffix(wv, ","), 64)
			if err1 == nil && err2 == nil && (math.Nextafter(g, w) == w) {
				allowed++
				continue
			}
		}
		return allowed, fmt.Errorf("line %d: spanqa %s, HF %s", k+1, gl[k], wl[k])
	}
	return allowed, nil
}

// TestScore runs `spanqa score` on random predictions (and no-answer probabilities) for random
// SQuAD-like data and for ../shared's dev sets, and compares every number it prints:
//   - v1.1 rules with the reference's small implementation of evaluate-v1.1.py (no pip package
//     ships that script's logic: evaluate's squad metric is downloaded from the hub, torchmetrics
//     uses the v2.0 F1 rule), which reference.py first checks against every official-script
//     golden in ../shared/data/squad/metric-goldens; also the "Unanswered question" lines;
//   - v2.0 rules with transformers 4.57.6's squad_metrics (the official evaluate-v2.0.py logic as
//     that pip package ships it), and with the small implementation.
//
// Numbers must be equal to 1e-12 (relative); the official scripts' arithmetic is plain float64
// sums in data-set order, which spanqa follows.
func TestScore(t *testing.T) {
	dir, meta := readQAMeta(t)
	require.NotEmpty(t, meta.Score)
	t.Logf("the small metric reference reproduced %d official-script goldens of ../shared; v2.0 cases also against transformers %q's squad_metrics",
		meta.MetricGoldensChecked, meta.TransformersSquadMetrics)
	for _, sc := range meta.Score {
		t.Run(sc.Name, func(t *testing.T) {
			// `spanqa score` with its defaults (--na-prob-thresh 1.0, --version auto).
			files := eval.ScoreFiles{Data: sc.Data, Predictions: filepath.Join(dir, sc.Predictions), NoAnswerThreshold: 1.0}
			if sc.NAProb != "" {
				files.NoAnswerProbs = filepath.Join(dir, sc.NAProb)
			}
			if sc.NAProbThresh != nil {
				files.NoAnswerThreshold = *sc.NAProbThresh
			}
			var stdout, stderr bytes.Buffer
			require.NoError(t, files.Score(&stdout, &stderr), "spanqa score: %s", stderr.String())
			var got map[string]float64
			require.NoError(t, json.Unmarshal(stdout.Bytes(), &got), "spanqa score output %q", stdout.String())
			compare := func(what string, want map[string]float64) {
				require.NotEmpty(t, want, what)
				keys := func(m map[string]float64) []string {
					var ks []string
					for k := range m {
						ks = append(ks, k)
					}
					slices.Sort(ks)
					return ks
				}
				require.Equal(t, keys(want), keys(got), "%s: the numbers printed", what)
				for k, w := range want {
					require.LessOrEqual(t, math.Abs(got[k]-w), 1e-12*math.Abs(w), "%s: %s: spanqa %v, reference %v", what, k, got[k], w)
				}
			}
			compare("small reference of the official script", sc.ExpectedSmall)
			if sc.Version == "2.0" {
				if sc.ExpectedTransformers == nil {
					t.Skip("SKIPPED LOUDLY: no transformers 4.57.6 squad_metrics result (the hf457 packages could not be installed; see run.sh)")
				}
				compare("transformers squad_metrics", sc.ExpectedTransformers)
				return
			}
			var unanswered []string
			for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
				if id, ok := strings.CutPrefix(line, "Unanswered question "); ok {
					unanswered = append(unanswered, strings.TrimSuffix(id, " will receive score 0."))
				}
			}
			if !reflect.DeepEqual(unanswered, sc.Unanswered) && (len(unanswered) > 0 || len(sc.Unanswered) > 0) {
				t.Fatalf("unanswered questions: spanqa %d, reference %d", len(unanswered), len(sc.Unanswered))
			}
		})
	}
}
