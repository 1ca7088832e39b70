package features

import (
	"errors"
	"testing"

	"github.com/spanqa/spanqa/data/squad"
	"github.com/spanqa/spanqa/data/tokenize"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeEncoder returns hand-built encodings, keyed by the first text of the pair.
type fakeEncoder struct {
	encs     map[string][]tokenize.Encoding
	padLeft  bool
	typeIDs  bool
	maxLen   int
	gotPairs []tokenize.Pair
	gotOpt   tokenize.PairOptions
}

func (f *fakeEncoder) EncodePairs(pairs []tokenize.Pair, opt tokenize.PairOptions) ([]tokenize.Encoding, error) {
	f.gotPairs, f.gotOpt = append(f.gotPairs, pairs...), opt
	var out []tokenize.Encoding
	for i, p := range pairs {
		encs, ok := f.encs[p.Question]
		if !ok {
			return nil, &tokenize.PairError{Index: i, Err: errors.New("no canned encoding")}
		}
		for _, e := range encs {
			e.SampleIndex = i
			e.Offsets = append([][2]int(nil), e.Offsets...)
			out = append(out, e)
		}
	}
	return out, nil
}
func (f *fakeEncoder) CLSID() int64         { return 101 }
func (f *fakeEncoder) ReturnsTypeIDs() bool { return f.typeIDs }
func (f *fakeEncoder) PaddingSide() string {
	if f.padLeft {
		return "left"
	}
	return "right"
}
func (f *fakeEncoder) ModelMaxLength() int { return f.maxLen }

// [CLS] q1 q2 [SEP] c1 c2 c3 [SEP]: context "....." with words at 10-15, 16-20, 21-25.
var handWindow = tokenize.Encoding{
	IDs:         []int64{101, 1, 2, 102, 3, 4, 5, 102},
	TypeIDs:     []int64{0, 0, 0, 0, 1, 1, 1, 1},
	Mask:        []int64{1, 1, 1, 1, 1, 1, 1, 1},
	Offsets:     [][2]int{{0, 0}, {0, 4}, {5, 8}, {0, 0}, {10, 15}, {16, 20}, {21, 25}, {0, 0}},
	SequenceIDs: []int{-1, 0, 0, -1, 1, 1, 1, -1},
}

func TestAnswerPositionsHandBuilt(t *testing.T) {
	cases := []struct {
		name               string
		startChar, endChar int
		wantStart, wantEnd int
	}{
		{"one token", 16, 20, 5, 5},
		{"whole context", 10, 25, 4, 6},
		{"inside a token", 17, 19, 5, 5},
		{"crossing tokens mid-word", 12, 18, 4, 5},
		{"starts before the window", 5, 12, 0, 0},
		{"ends after the window", 21, 26, 0, 0},
		{"beyond the window", 30, 35, 0, 0},
		{"in the last context token: HF's edge case lands on [SEP]", 21, 25, 7, 6},
		{"in the space before a token", 15, 20, 4, 5},
	}
	o, s := handWindow.Offsets, handWindow.SequenceIDs
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, en := answerPositions(o, s, 1, 0, c.startChar, c.endChar)
			assert.Equal(t, [2]int{c.wantStart, c.wantEnd}, [2]int{st, en})
			hs, he, ok := hfLabels(handWindow.IDs, seqPtrs(s), o, 101, 101, []int{c.startChar}, []string{string(make([]rune, c.endChar-c.startChar))}, true)
			require.True(t, ok)
			assert.Equal(t, [2]int{hs, he}, [2]int{st, en}, "HF rule")
		})
	}
	// no context token: HF raises; spanqa labels CLS
	st, en := answerPositions(o[:4], s[:4], 1, 0, 0, 1)
	assert.Equal(t, [2]int{0, 0}, [2]int{st, en})
	_, _, ok := hfLabels(handWindow.IDs[:4], seqPtrs(s[:4]), o[:4], 101, 101, []int{0}, []string{"x"}, true)
	assert.False(t, ok)
	// the CLS index is where the CLS token is
	assert.Equal(t, 2, clsIndex([]int64{7, 8, 101, 9}, 101))
	assert.Equal(t, 0, clsIndex([]int64{7, 8}, 101))
}

func TestBuilderHandBuilt(t *testing.T) {
	enc := &fakeEncoder{encs: map[string][]tokenize.Encoding{"q": {handWindow}}, typeIDs: true}
	ctx := "0123456789abcde abcd efgh"
	exs := []squad.Example{
		{ID: "a", Question: "  q", Context: ctx, Answers: []squad.Answer{{Text: "abcd", Start: 16, ByteStart: 16}, {Text: "efgh", Start: 21, ByteStart: 21}}},
		{ID: "b", Question: "q", Context: ctx},
	}
	ws, err := Train(exs, enc, DefaultOptions)
	require.NoError(t, err)
	require.Len(t, ws, 2)
	assert.Equal(t, tokenize.Pair{Question: "q", Context: ctx}, enc.gotPairs[0], "question left-stripped, (question, context) order")
	assert.Equal(t, tokenize.PairOptions{MaxLength: 384, Stride: 128}, enc.gotOpt)
	assert.Equal(t, [2]int{5, 5}, [2]int{ws[0].StartPos, ws[0].EndPos}, "first answer only")
	assert.Equal(t, [2]int{0, 0}, [2]int{ws[1].StartPos, ws[1].EndPos}, "unanswerable: CLS")
	assert.Equal(t, handWindow.Offsets, ws[0].Offsets, "training windows keep HF's raw offsets")
	assert.Equal(t, []int{0, 1}, []int{ws[0].ExampleIndex, ws[1].ExampleIndex})

	ev, err := Eval(exs, enc, DefaultOptions)
	require.NoError(t, err)
	assert.Equal(t, [][2]int{NoOffset, NoOffset, NoOffset, NoOffset, {10, 15}, {16, 20}, {21, 25}, NoOffset}, ev[0].Offsets)
	assert.Equal(t, -1, ev[0].StartPos)

	enc.typeIDs = false
	ws, err = Train(exs[:1], enc, DefaultOptions)
	require.NoError(t, err)
	assert.Nil(t, ws[0].TypeIDs, "no token types for models that take none")

	_, err = Train([]squad.Example{{ID: "zz", Question: "unknown", Context: "c"}}, enc, DefaultOptions)
	assert.ErrorContains(t, err, "features: example zz: no canned encoding")
}

// A left-padding tokenizer gets (context, question) with only_first truncation, and the context
// is sequence 0.
func TestBuilderPadLeft(t *testing.T) {
	// [CLS] c1 c2 [SEP] q1 [SEP]
	w := tokenize.Encoding{
		IDs:         []int64{101, 3, 4, 102, 1, 102},
		Mask:        []int64{1, 1, 1, 1, 1, 1},
		Offsets:     [][2]int{{0, 0}, {0, 5}, {6, 11}, {0, 0}, {0, 1}, {0, 0}},
		SequenceIDs: []int{-1, 0, 0, -1, 1, -1},
	}
	ctx := "hello world"
	enc := &fakeEncoder{encs: map[string][]tokenize.Encoding{ctx: {w}}, padLeft: true, maxLen: 256}
	exs := []squad.Example{{ID: "a", Question: " q", Context: ctx, Answers: []squad.Answer{{Text: "world", Start: 6, ByteStart: 6}}}}
	ws, err := Train(exs, enc, DefaultOptions)
	require.NoError(t, err)
	assert.Equal(t, tokenize.Pair{Question: ctx, Context: "q"}, enc.gotPairs[0])
	assert.Equal(t, tokenize.PairOptions{MaxLength: 256, Stride: 128, TruncateFirst: true}, enc.gotOpt, "model_max_length caps max_length")
	hs, he, ok := hfLabels(w.IDs, seqPtrs(w.SequenceIDs), w.Offsets, 101, 101, []int{6}, []string{"world"}, false)
	require.True(t, ok)
	assert.Equal(t, [2]int{hs, he}, [2]int{ws[0].StartPos, ws[0].EndPos})
	// "world" is the last context token: HF's start scan runs on over [SEP] and the question
	assert.Equal(t, [2]int{5, 2}, [2]int{ws[0].StartPos, ws[0].EndPos})

	ev, err := Eval(exs, enc, DefaultOptions)
	require.NoError(t, err)
	assert.Equal(t, [][2]int{NoOffset, {0, 5}, {6, 11}, NoOffset, NoOffset, NoOffset}, ev[0].Offsets)
}

func TestOptions(t *testing.T) {
	enc := &fakeEncoder{maxLen: 512}
	for _, c := range []struct {
		opts Options
		want int
		err  string
	}{
		{Options{MaxLength: 384, Stride: 128}, 384, ""},
		{Options{MaxLength: 1024, Stride: 128}, 512, ""},
		{Options{MaxLength: 1024, Stride: 128, ModelLimit: 4096}, 512, ""},
		{Options{MaxLength: 384, Stride: 128, ModelLimit: 256}, 256, ""},
		{Options{MaxLength: 0, Stride: 0}, 0, "max_length must be positive"},
		{Options{MaxLength: 128, Stride: 128}, 0, "doc_stride 128 must be in [0, max_length 128)"},
		{Options{MaxLength: 128, Stride: -1}, 0, "doc_stride -1"},
	} {
		b, err := NewBuilder(enc, ModeEval, c.opts)
		if c.err != "" {
			assert.ErrorContains(t, err, c.err)
			continue
		}
		require.NoError(t, err)
		assert.Equal(t, c.want, b.MaxLength())
	}
	_, err := NewBuilder(enc, Mode(0), DefaultOptions)
	assert.Error(t, err)
	m, err := ParseMode("train")
	assert.Equal(t, ModeTrain, m)
	assert.NoError(t, err)
	_, err = ParseMode("predict")
	assert.Error(t, err)
}

func TestMalformedEncoding(t *testing.T) {
	bad := handWindow
	bad.SequenceIDs = bad.SequenceIDs[:3]
	enc := &fakeEncoder{encs: map[string][]tokenize.Encoding{"q": {bad}}}
	_, err := Eval([]squad.Example{{ID: "m", Question: "q", Context: "c"}}, enc, DefaultOptions)
	assert.ErrorContains(t, err, "features: example m: tokenizer returned a malformed window (8 ids, 8 offsets, 3 sequence ids)")
}
