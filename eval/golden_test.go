package eval

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spanqa/spanqa/internal/fixtures"
)

// goldenCase is one record of metric-goldens/cases.json.
type goldenCase struct {
	Name           string          `json:"name"`
	Script         string          `json:"script"`
	Dataset        string          `json:"dataset"`
	Predictions    string          `json:"predictions"`
	ExtraArgs      []string        `json:"extra_args"`
	ReturnCode     int             `json:"returncode"`
	Output         json.RawMessage `json:"output"`
	ExpectedOutput string          `json:"expected_output"`
	StderrFile     string          `json:"stderr_file"`
	StderrLines    int             `json:"stderr_line_count"`
	StdoutFile     string          `json:"stdout_file"`
	StdoutLines    int             `json:"stdout_line_count"`
	ErrorLastLine  string          `json:"error_last_line"`
}

// orderedJSON decodes a flat JSON object keeping key order and the numbers' text.
func orderedJSON(t *testing.T, b []byte) (keys []string, vals []json.Number) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	tok, err := dec.Token()
	require.NoError(t, err)
	require.Equal(t, json.Delim('{'), tok)
	for dec.More() {
		k, err := dec.Token()
		require.NoError(t, err)
		v, err := dec.Token()
		require.NoError(t, err)
		keys = append(keys, k.(string))
		vals = append(vals, v.(json.Number))
	}
	return keys, vals
}

func loadCases(t *testing.T) (dir string, cases []goldenCase) {
	dir = fixtures.Data(t, "squad", "metric-goldens")
	b, err := os.ReadFile(filepath.Join(dir, "cases.json"))
	require.NoError(t, err)
	var doc struct {
		Cases []goldenCase `json:"cases"`
	}
	require.NoError(t, json.Unmarshal(b, &doc))
	require.NotEmpty(t, doc.Cases)
	return dir, doc.Cases
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// TestScoreGoldens runs ScoreFiles.Score (`spanqa score`) on every case of
// metric-goldens/cases.json and compares every number (to 1e-9, and the printed text exactly),
// the key order, and the stderr/stdout lines with the official scripts' outputs.
func TestScoreGoldens(t *testing.T) {
	dir, cases := loadCases(t)
	squadDir := filepath.Dir(dir)
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			// The official scripts' defaults, then their extra arguments.
			files := ScoreFiles{Data: filepath.Join(squadDir, c.Dataset), Predictions: filepath.Join(dir, c.Predictions), NoAnswerThreshold: 1.0}
			for i := 0; i < len(c.ExtraArgs); i++ {
				switch c.ExtraArgs[i] {
				case "--na-prob-file":
					i++
					files.NoAnswerProbs = filepath.Join(dir, c.ExtraArgs[i])
				case "--na-prob-thresh":
					i++
					thresh, err := strconv.ParseFloat(c.ExtraArgs[i], 64)
					require.NoError(t, err)
					files.NoAnswerThreshold = thresh
				default:
					t.Fatalf("unknown extra argument %q", c.ExtraArgs[i])
				}
			}
			var stdout, stderr bytes.Buffer
			err := files.Score(&stdout, &stderr)

			if c.ReturnCode != 0 {
				require.Error(t, err)
				var missing *MissingPredictionsError
				require.True(t, errors.As(err, &missing), "%v", err)
				if c.ErrorLastLine != "" {
					assert.Equal(t, c.ErrorLastLine, "KeyError: '"+missing.KeyErrorID+"'")
				}
				if c.StdoutFile != "" {
					want := readLines(t, filepath.Join(dir, c.StdoutFile))
					assert.Len(t, want, c.StdoutLines)
					assert.Equal(t, strings.Join(want, "\n")+"\n", stdout.String())
				}
				return
			}
			require.NoError(t, err, "stderr: %s", stderr.String())

			wantKeys, wantVals := orderedJSON(t, c.Output)
			out := stdout.String()
			if c.Script == "evaluate-v1.1.py" {
				// One line, as json.dumps prints it without indent.
				var parts []string
				for i, k := range wantKeys {
					parts = append(parts, `"`+k+`": `+wantVals[i].String())
				}
				assert.Equal(t, "{"+strings.Join(parts, ", ")+"}\n", out)
			} else {
				exp, err := os.ReadFile(filepath.Join(dir, c.ExpectedOutput))
				require.NoError(t, err)
				assert.Equal(t, strings.TrimSuffix(string(exp), "\n")+"\n", out)
			}
			gotKeys, gotVals := orderedJSON(t, []byte(out))
			require.Equal(t, wantKeys, gotKeys)
			for i := range wantKeys {
				w, err := wantVals[i].Float64()
				require.NoError(t, err)
				g, err := gotVals[i].Float64()
				require.NoError(t, err)
				assert.InDelta(t, w, g, 1e-9, wantKeys[i])
			}

			var wantErr []string
			if c.StderrFile != "" {
				wantErr = readLines(t, filepath.Join(dir, c.StderrFile))
			}
			assert.Len(t, wantErr, c.StderrLines)
			gotErr := readLines(t, writeTemp(t, stderr.Bytes()))
			assert.Equal(t, wantErr, gotErr)
		})
	}
}

func writeTemp(t *testing.T, b []byte) string {
	p := filepath.Join(t.TempDir(), "out.txt")
	require.NoError(t, os.WriteFile(p, b, 0o644))
	return p
}

// TestPerQuestionV1 compares every per-question value of v11_09 with the official functions'.
func TestPerQuestionV1(t *testing.T) {
	dir := fixtures.Data(t, "squad", "metric-goldens")
	d, err := ReadDataset(filepath.Join(filepath.Dir(dir), "v1.1", "dev-v1.1.json"))
	require.NoError(t, err)
	preds, err := ReadPredictions(filepath.Join(dir, "predictions", "v11_09_messy_mixture.json"))
	require.NoError(t, err)
	res, err := ScoreV1(d, preds)
	require.NoError(t, err)

	b, err := os.ReadFile(filepath.Join(dir, "per-question", "v11_09_messy_mixture.per_question.json"))
	require.NoError(t, err)
	var want map[string]struct {
		EM      float64 `json:"em"`
		F1      float64 `json:"f1"`
		Missing bool    `json:"missing"`
	}
	require.NoError(t, json.Unmarshal(b, &want))
	require.Len(t, res.Questions, len(want))
	bad := 0
	for _, q := range res.Questions {
		w, ok := want[q.ID]
		require.True(t, ok, q.ID)
		if w.Missing != q.Missing || w.EM != q.Exact || math.Abs(w.F1-q.F1) > 1e-9 {
			bad++
			if bad < 20 {
				t.Errorf("%s: got em %v f1 %v missing %v, want em %v f1 %v missing %v", q.ID, q.Exact, q.F1, q.Missing, w.EM, w.F1, w.Missing)
			}
		}
	}
	assert.Zero(t, bad)
	assert.Len(t, res.Unanswered, 233)
	assert.InDelta(t, 46.66982024597919, res.ExactMatch, 1e-9)
	assert.InDelta(t, 62.352069098450976, res.F1, 1e-9)
}

// TestPerQuestionV2 compares every raw per-question value of v20_03 with get_raw_scores'.
func TestPerQuestionV2(t *testing.T) {
	dir := fixtures.Data(t, "squad", "metric-goldens")
	d, err := ReadDataset(filepath.Join(filepath.Dir(dir), "v2.0", "dev-v2.0.reconstructed.json"))
	require.NoError(t, err)
	preds, err := ReadPredictions(filepath.Join(dir, "predictions", "v20_03_mixed_no_answer.json"))
	require.NoError(t, err)
	res, err := ScoreV2(d, preds, nil, 1.0)
	require.NoError(t, err)

	b, err := os.ReadFile(filepath.Join(dir, "per-question", "v20_03_mixed_no_answer.per_question.json"))
	require.NoError(t, err)
	var want map[string]struct {
		Exact  float64 `json:"exact"`
		F1     float64 `json:"f1"`
		HasAns bool    `json:"has_ans"`
	}
	require.NoError(t, json.Unmarshal(b, &want))
	require.Len(t, res.Questions, len(want))
	bad := 0
	for _, q := range res.Questions {
		w, ok := want[q.ID]
		require.True(t, ok, q.ID)
		if w.HasAns != q.HasAnswer || w.Exact != q.Exact || math.Abs(w.F1-q.F1) > 1e-9 {
			bad++
			if bad < 20 {
				t.Errorf("%s: got exact %v f1 %v has_ans %v, want %v %v %v", q.ID, q.Exact, q.F1, q.HasAnswer, w.Exact, w.F1, w.HasAns)
			}
		}
	}
	assert.Zero(t, bad)
	assert.Nil(t, res.Best)
	assert.Equal(t, 5928, res.HasAns.Total)
	assert.Equal(t, 5945, res.NoAns.Total)
}
