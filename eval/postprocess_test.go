package eval

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spanqa/spanqa/data/features"
	"github.com/spanqa/spanqa/data/squad"
)

// wordOffsets returns the rune offsets of the space-separated words of s.
func wordOffsets(s string) [][2]int {
	var out [][2]int
	start := -1
	i := 0
	for _, r := range s {
		if r == ' ' {
			if start >= 0 {
				out = append(out, [2]int{start, i})
				start = -1
			}
		} else if start < 0 {
			start = i
		}
		i++
	}
	if start >= 0 {
		out = append(out, [2]int{start, i})
	}
	return out
}

// testWindow lays out [CLS] q*qlen [SEP] ctx... [SEP] like an HF evaluation feature: offsets only
// on context tokens. It returns the window and the token index of the first context token.
func testWindow(ex *squad.Example, exIdx, qlen int, ctx [][2]int) (features.Window, int) {
	w := features.Window{ExampleID: ex.ID, ExampleIndex: exIdx}
	add := func(o [2]int, seq int) {
		w.IDs = append(w.IDs, int64(len(w.IDs)+100))
		w.Offsets = append(w.Offsets, o)
		w.SequenceIDs = append(w.SequenceIDs, seq)
	}
	add(features.NoOffset, -1)
	for range qlen {
		add(features.NoOffset, 0)
	}
	add(features.NoOffset, -1)
	first := len(w.IDs)
	for _, o := range ctx {
		add(o, 1)
	}
	add(features.NoOffset, -1)
	return w, first
}

// lowLogits returns n logits far below any the tests set, all distinct.
func lowLogits(n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = -20 - float32(i)/64
	}
	return x
}

func TestPostProcessWindowsSplitAnswer(t *testing.T) {
	ctx := "w0 w1 w2 w3 w4 w5 w6 w7 w8 w9"
	ex := squad.Example{ID: "split", Context: ctx}
	words := wordOffsets(ctx)
	// Window A holds words 0-5, window B words 3-9 (stride 3). The answer "w4 w5 w6 w7" is whole
	// only in window B.
	wa, fa := testWindow(&ex, 0, 2, words[0:6])
	wb, fb := testWindow(&ex, 0, 2, words[3:10])
	sa, ea := lowLogits(len(wa.IDs)), lowLogits(len(wa.IDs))
	sb, eb := lowLogits(len(wb.IDs)), lowLogits(len(wb.IDs))
	// Window A is sure the answer starts at w4 but can only end inside itself (at w5).
	sa[fa+4], ea[fa+5] = 6, 1
	// Window B sees the whole answer.
	sb[fb+1], eb[fb+4] = 5, 4
	for _, v2 := range []bool{false, true} {
		p, err := PostProcessExample(&ex, []*features.Window{&wa, &wb}, [][]float32{sa, sb}, [][]float32{ea, eb},
			Options{Version2WithNegative: v2})
		require.NoError(t, err)
		assert.Equal(t, "w4 w5 w6 w7", p.Text)
		assert.Equal(t, 9.0, p.Score)
		assert.Equal(t, 1, p.NBest[0].Window)
		assert.Equal(t, [2]int{fb + 1, fb + 4}, [2]int{p.NBest[0].StartToken, p.NBest[0].EndToken})
		assert.Equal(t, "w4 w5", p.NBest[1].Text) // window A's best, score 7
		assert.Equal(t, 0, p.NBest[1].Window)
		assert.Equal(t, ctx[p.ByteStart:p.ByteEnd], p.Text)
		assert.Equal(t, v2, p.HasNullScoreDiff)
	}
}

func TestPostProcessAnswerAtContextEdges(t *testing.T) {
	ctx := "Zürich liegt am Zürichsee und ist schön"
	ex := squad.Example{ID: "edges", Context: ctx}
	words := wordOffsets(ctx)
	w, f := testWindow(&ex, 0, 3, words)
	n := len(words)
	for _, c := range []struct {
		name       string
		start, end int
		want       string
	}{
		{"first word", 0, 0, "Zürich"},
		{"last word", n - 1, n - 1, "schön"},
		{"whole context", 0, n - 1, ctx},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, e := lowLogits(len(w.IDs)), lowLogits(len(w.IDs))
			s[f+c.start], e[f+c.end] = 8, 8
			// A null score well below the answer.
			s[0], e[0] = -5, -5
			p, err := PostProcessExample(&ex, []*features.Window{&w}, [][]float32{s}, [][]float32{e},
				Options{Version2WithNegative: true})
			require.NoError(t, err)
			assert.Equal(t, c.want, p.Text)
			assert.Equal(t, ctx[p.ByteStart:p.ByteEnd], p.Text)
			assert.Equal(t, words[c.start][0], p.Start)
			assert.Equal(t, words[c.end][1], p.End)
			// The answer at offset 0 is not taken for the null entry: the null entry is still there,
			// exactly once, with its own score.
			nulls := 0
			for _, cand := range p.NBest {
				if cand.Null {
					nulls++
					assert.Equal(t, -10.0, cand.Score)
					assert.Equal(t, "", cand.Text)
				}
			}
			assert.Equal(t, 1, nulls)
			assert.Equal(t, float64(float32(-10)-8-8), p.NullScoreDiff)
		})
	}
	// The last word ends at the context's last rune, not at its byte length.
	assert.Equal(t, utf8.RuneCountInString(ctx), words[n-1][1])
	assert.NotEqual(t, len(ctx), words[n-1][1])
}

func TestPostProcessNonASCIIOffsets(t *testing.T) {
	// Runes of 1 to 4 bytes before and inside the answer.
	ctx := "😀 — Straße naïve 東京タワー end"
	ex := squad.Example{ID: "utf8", Context: ctx}
	words := wordOffsets(ctx)
	w, f := testWindow(&ex, 0, 1, words)
	s, e := lowLogits(len(w.IDs)), lowLogits(len(w.IDs))
	s[f+2], e[f+4] = 3, 3 // "Straße naïve 東京タワー"
	p, err := PostProcessExample(&ex, []*features.Window{&w}, [][]float32{s}, [][]float32{e}, Options{})
	require.NoError(t, err)
	assert.Equal(t, "Straße naïve 東京タワー", p.Text)
	assert.Equal(t, 4, p.Start) // characters
	assert.Equal(t, 22, p.End)
	assert.Equal(t, 9, p.ByteStart) // bytes: 4 (emoji) + 1 + 3 (dash) + 1
	assert.Equal(t, p.Text, ctx[p.ByteStart:p.ByteEnd])
	for _, c := range p.NBest {
		assert.Equal(t, c.Text, ctx[c.ByteStart:c.ByteEnd])
		assert.Equal(t, c.Text, string([]rune(ctx)[c.Start:c.End]))
	}
}

func TestPostProcessEmptyContext(t *testing.T) {
	ex := squad.Example{ID: "empty", Context: ""}
	w, _ := testWindow(&ex, 0, 4, nil)
	s, e := lowLogits(len(w.IDs)), lowLogits(len(w.IDs))

	// v1: nothing to choose from: HF's placeholder, probability 1.
	p, err := PostProcessExample(&ex, []*features.Window{&w}, [][]float32{s}, [][]float32{e}, Options{})
	require.NoError(t, err)
	require.Len(t, p.NBest, 1)
	assert.Equal(t, "empty", p.Text)
	assert.True(t, p.NBest[0].Placeholder)
	assert.Equal(t, 1.0, p.NBest[0].Probability)
	assert.Equal(t, -1, p.Start)

	// v2: the placeholder then the null entry; softmax in float64 over {0, null score}; the answer
	// is "" when the null score beats the placeholder's 0, else the placeholder's text (as in HF).
	for _, c := range []struct {
		null float32
		want string
	}{{1.5, ""}, {-1.5, "empty"}} {
		s[0], e[0] = c.null/2, c.null/2
		p, err := PostProcessExample(&ex, []*features.Window{&w}, [][]float32{s}, [][]float32{e},
			Options{Version2WithNegative: true})
		require.NoError(t, err)
		require.Len(t, p.NBest, 2)
		assert.True(t, p.NBest[0].Placeholder)
		assert.True(t, p.NBest[1].Null)
		assert.Equal(t, c.want, p.Text)
		assert.Equal(t, float64(c.null), p.NullScoreDiff)
		e0, e1 := math.Exp(-math.Max(0, float64(c.null))), math.Exp(float64(c.null)-math.Max(0, float64(c.null)))
		assert.InDelta(t, e0/(e0+e1), p.NBest[0].Probability, 1e-15)
		assert.InDelta(t, 1, p.NBest[0].Probability+p.NBest[1].Probability, 1e-15)
	}
}

func TestPostProcessAllNullWindows(t *testing.T) {
	// A real context, but every window's top logits sit on question and special tokens.
	ctx := "alpha beta gamma delta"
	ex := squad.Example{ID: "allnull", Context: ctx}
	words := wordOffsets(ctx)
	wa, _ := testWindow(&ex, 0, 25, words[:3])
	wb, _ := testWindow(&ex, 0, 25, words[1:])
	rows := func(w features.Window, cls float32) ([]float32, []float32) {
		s, e := lowLogits(len(w.IDs)), lowLogits(len(w.IDs))
		for i := 0; i < 27; i++ { // CLS, 25 question tokens, SEP: more than n_best_size
			s[i], e[i] = 5-float32(i)/32, 5-float32(i)/32
		}
		s[0], e[0] = cls, cls
		return s, e
	}
	sa, ea := rows(wa, 2)
	sb, eb := rows(wb, 1) // the smaller null score wins
	p, err := PostProcessExample(&ex, []*features.Window{&wa, &wb}, [][]float32{sa, sb}, [][]float32{ea, eb},
		Options{Version2WithNegative: true})
	require.NoError(t, err)
	require.Len(t, p.NBest, 2)
	assert.True(t, p.NBest[0].Placeholder)
	assert.Equal(t, 2.0, p.NBest[1].Score)
	assert.Equal(t, 1, p.NBest[1].Window)
	assert.Equal(t, "", p.Text) // null score 2 > 0
	assert.Equal(t, 2.0, p.NullScoreDiff)

	p, err = PostProcessExample(&ex, []*features.Window{&wa, &wb}, [][]float32{sa, sb}, [][]float32{ea, eb}, Options{})
	require.NoError(t, err)
	require.Len(t, p.NBest, 1)
	assert.Equal(t, "empty", p.Text)
	assert.False(t, p.HasNullScoreDiff)
}

func TestPostProcessFiltersAndNullThreshold(t *testing.T) {
	ctx := strings.TrimSpace(strings.Repeat("tok ", 40))
	ex := squad.Example{ID: "filters", Context: ctx}
	words := wordOffsets(ctx)
	w, f := testWindow(&ex, 0, 2, words)
	run := func(s, e []float32, opts Options) Prediction {
		t.Helper()
		p, err := PostProcessExample(&ex, []*features.Window{&w}, [][]float32{s}, [][]float32{e}, opts)
		require.NoError(t, err)
		for _, c := range p.NBest {
			if !c.Null && !c.Placeholder {
				assert.LessOrEqual(t, c.EndToken-c.StartToken+1, opts.withDefaults().MaxAnswerLength)
				assert.GreaterOrEqual(t, c.EndToken, c.StartToken)
			}
		}
		return p
	}

	// An end before the start is never paired.
	s, e := lowLogits(len(w.IDs)), lowLogits(len(w.IDs))
	s[f+20], e[f+10] = 10, 10
	p := run(s, e, Options{})
	assert.Less(t, p.Score, 0.0)

	// Length: 31 tokens are rejected, 30 kept.
	s, e = lowLogits(len(w.IDs)), lowLogits(len(w.IDs))
	s[f+0], e[f+30] = 9, 9 // 31 tokens
	s[f+1] = 8             // 30 tokens with e[f+30]: score 17
	s[0], e[0] = 7, 7      // null 14
	p = run(s, e, Options{Version2WithNegative: true})
	assert.Equal(t, 17.0, p.NBest[0].Score)
	assert.Equal(t, [2]int{f + 1, f + 30}, [2]int{p.NBest[0].StartToken, p.NBest[0].EndToken})
	assert.Equal(t, words[1][0], p.Start)
	assert.Equal(t, words[30][1], p.End)
	assert.Equal(t, -3.0, p.NullScoreDiff) // 14 - 8 - 9
	assert.Equal(t, strings.TrimSpace(strings.Repeat("tok ", 30)), p.Text)

	// score_diff -3 > threshold -4: the null answer.
	p = run(s, e, Options{Version2WithNegative: true, NullScoreDiffThreshold: -4})
	assert.Equal(t, "", p.Text)
	assert.Equal(t, 14.0, p.Score)
	assert.Equal(t, -1, p.Start)

	// With max_answer_length 40 the 31-token span wins; with n_best_size 3 and a low null score,
	// the null entry falls out of the n-best and is appended after it.
	s[0], e[0] = -30, -30
	s[f+2] = 7 // 29 tokens: score 16
	p = run(s, e, Options{Version2WithNegative: true, NBestSize: 3, MaxAnswerLength: 40})
	require.Len(t, p.NBest, 4)
	assert.Equal(t, []float64{18, 17, 16}, []float64{p.NBest[0].Score, p.NBest[1].Score, p.NBest[2].Score})
	assert.True(t, p.NBest[3].Null)
	assert.Equal(t, -60.0, p.NBest[3].Score)
	sum := 0.0
	for _, c := range p.NBest {
		sum += c.Probability
	}
	assert.InDelta(t, 1, sum, 1e-6)
}

func TestPostProcessErrors(t *testing.T) {
	exs := []squad.Example{{ID: "a", Context: "x y"}, {ID: "b", Context: "z"}}
	w, _ := testWindow(&exs[0], 0, 1, wordOffsets(exs[0].Context))
	row := lowLogits(len(w.IDs))

	_, err := PostProcess(exs, []features.Window{w}, [][]float32{row}, nil, Options{})
	assert.ErrorContains(t, err, "1 windows but 1 start and 0 end")

	_, err = PostProcess(exs, []features.Window{w}, [][]float32{row[:2]}, [][]float32{row[:2]}, Options{})
	assert.ErrorContains(t, err, "2 logits for a window of 6 tokens")

	bad := w
	bad.ExampleIndex = 1
	_, err = PostProcess(exs, []features.Window{bad}, [][]float32{row}, [][]float32{row}, Options{})
	assert.ErrorContains(t, err, "example index 1 is example b, but the window names a")

	// v2 needs a window per example for its null score; v1 falls back to the placeholder.
	_, err = PostProcess(exs, []features.Window{w}, [][]float32{row}, [][]float32{row}, Options{Version2WithNegative: true})
	assert.ErrorContains(t, err, "example b has no window")
	preds, err := PostProcess(exs, []features.Window{w}, [][]float32{row}, [][]float32{row}, Options{})
	require.NoError(t, err)
	assert.Equal(t, "empty", preds[1].Text)
}

func TestTopIndexes(t *testing.T) {
	nan := float32(math.NaN())
	// numpy: np.argsort([3, 1, 3, nan, 2])[::-1] == [3, 2, 0, 4, 1]
	assert.Equal(t, []int{3, 2, 0}, topIndexes([]float32{3, 1, 3, nan, 2}, 3))
	assert.Equal(t, []int{0}, topIndexes([]float32{1}, 20))
}

func TestNumpyKernels(t *testing.T) {
	// Values np.exp gives on float32 arrays on x86-64 (AVX2/AVX-512 kernel) where the correctly
	// rounded exp differs.
	for _, c := range []struct{ x, want uint32 }{
		{0xc0bdd609, 0x3b2dd004}, // exp(-5.9323773); the correctly rounded value is 0x3b2dd005
		{0xc2992f7f, 0x083504d7}, // exp(-76.592766): k comes from the fused x*log2(e) + 1.5*2^23
	} {
		assert.Equal(t, c.want, math.Float32bits(npExp32(math.Float32frombits(c.x))), "%#x", c.x)
	}
	assert.Equal(t, float32(1), npExp32(0))
	assert.Equal(t, float32(0), npExp32(-104))
	assert.True(t, math.IsInf(float64(npExp32(89)), 1))
	// numpy's pairwise summation (eight accumulators from 8 elements on) differs from a
	// left-to-right sum here: np.float32 array .sum() gives 332791800, a loop 332791840.
	a := []float32{-3072, -0.00048828125, 3072, 67108864, -0.00244140625, -268435456, 32, 536870912, -655360,
		7.450580596923828e-09, -0.0048828125, -2097152}
	assert.Equal(t, float32(332791800), pairwiseSum(a))
	assert.Equal(t, 0.5691267908986031, exp64(-0.5636520385742188))
}

func TestWritePredictionsFormat(t *testing.T) {
	dir := t.TempDir()
	preds := []Prediction{
		{ID: "q1", Text: "Zürich \"x\"", HasNullScoreDiff: true, NullScoreDiff: float64(float32(-1.25)), NBest: []Candidate{
			{Text: "Zürich \"x\"", StartLogit: float64(float32(0.1)), EndLogit: 2, Probability: float64(float32(0.75))},
			{Text: "", StartLogit: -1, EndLogit: -1, Probability: float64(float32(0.25)), Null: true},
		}},
		{ID: "q2", Text: "", HasNullScoreDiff: true, NullScoreDiff: 3, NBest: []Candidate{
			{Text: "empty", Placeholder: true, Probability: 1},
		}},
	}
	require.NoError(t, WritePredictions(dir, "", preds, true))
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		return string(b)
	}
	assert.Equal(t, "{\n    \"q1\": \"Z\\u00fcrich \\\"x\\\"\",\n    \"q2\": \"\"\n}\n", read("predictions.json"))
	assert.Equal(t, `{
    "q1": [
        {
            "start_logit": 0.10000000149011612,
            "end_logit": 2.0,
            "text": "Z\u00fcrich \"x\"",
            "probability": 0.75
        },
        {
            "start_logit": -1.0,
            "end_logit": -1.0,
            "text": "",
            "probability": 0.25
        }
    ],
    "q2": [
        {
            "text": "empty",
            "start_logit": 0.0,
            "end_logit": 0.0,
            "probability": 1.0
        }
    ]
}
`, read("nbest_predictions.json"))
	assert.Equal(t, "{\n    \"q1\": -1.25,\n    \"q2\": 3.0\n}\n", read("null_odds.json"))
	// Valid JSON that Go reads back.
	var m map[string][]map[string]any
	require.NoError(t, json.Unmarshal([]byte(read("nbest_predictions.json")), &m))

	// No null_odds.json in v1 mode; an empty object as Python writes it.
	dir2 := t.TempDir()
	require.NoError(t, WritePredictions(dir2, "eval", nil, false))
	b, err := os.ReadFile(filepath.Join(dir2, "eval_predictions.json"))
	require.NoError(t, err)
	assert.Equal(t, "{}\n", string(b))
	_, err = os.Stat(filepath.Join(dir2, "eval_null_odds.json"))
	assert.True(t, os.IsNotExist(err))
}

func TestPyFloat(t *testing.T) {
	for _, c := range []struct {
		f    float64
		want string
	}{
		{100, "100.0"}, {0, "0.0"}, {math.Copysign(0, -1), "-0.0"}, {0.1, "0.1"},
		{float64(float32(0.1)), "0.10000000149011612"}, {1e16, "1e+16"}, {1234567890123456, "1234567890123456.0"},
		{0.0001, "0.0001"}, {0.00001, "1e-05"}, {1.5e-7, "1.5e-07"}, {-2.5e22, "-2.5e+22"},
		{62.352069098450976, "62.352069098450976"}, {math.NaN(), "NaN"}, {math.Inf(-1), "-Infinity"},
		{5e-324, "5e-324"}, {1.7976931348623157e308, "1.7976931348623157e+308"},
	} {
		assert.Equal(t, c.want, pyFloat(c.f))
	}
	assert.Equal(t, `"a\"\\\n\t\u007f\u00e9\u2028\ud83d\ude00"`, pyString("a\"\\\n\t\x7fé\u2028😀"))
}
