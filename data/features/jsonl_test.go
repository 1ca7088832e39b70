package features

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func sampleWindows() []Window {
	return []Window{
		{ExampleID: "a", ExampleIndex: 0, IDs: []int64{101, 7, 102, 8, 9, 102}, TypeIDs: []int64{0, 0, 0, 1, 1, 1}, Mask: []int64{1, 1, 1, 1, 1, 1},
			Offsets: [][2]int{NoOffset, NoOffset, NoOffset, {0, 3}, {4, 9}, NoOffset}, StartPos: 3, EndPos: 4},
		{ExampleID: "a", ExampleIndex: 0, IDs: []int64{101, 7, 102, 9, 102}, TypeIDs: []int64{0, 0, 0, 1, 1}, Mask: []int64{1, 1, 1, 1, 1},
			Offsets: [][2]int{NoOffset, NoOffset, NoOffset, {4, 9}, NoOffset}, StartPos: 0, EndPos: 0},
		{ExampleID: "é\"b", ExampleIndex: 1, IDs: []int64{0, 5, 2, 2, 6, 2}, Mask: []int64{1, 1, 1, 1, 1, 1},
			Offsets: [][2]int{NoOffset, NoOffset, NoOffset, NoOffset, {0, 2}, NoOffset}, StartPos: 4, EndPos: 4},
	}
}

func TestJSONLRoundTrip(t *testing.T) {
	for _, mode := range []Mode{ModeTrain, ModeEval} {
		ws := sampleWindows()
		var buf bytes.Buffer
		require.NoError(t, WriteJSONL(&buf, ws, mode))
		lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
		require.Len(t, lines, 3)
		// HF's field names, in HF's order
		want0 := `{"input_ids":[101,7,102,8,9,102],"token_type_ids":[0,0,0,1,1,1],"attention_mask":[1,1,1,1,1,1],"offset_mapping":[null,null,null,[0,3],[4,9],null],"example_id":"a"`
		if mode == ModeTrain {
			want0 += `,"start_positions":3,"end_positions":4}`
		} else {
			want0 += `}`
		}
		assert.Equal(t, want0, lines[0])
		assert.NotContains(t, lines[2], "token_type_ids", "models without token types")
		for _, l := range lines {
			assert.True(t, json.Valid([]byte(l)))
		}
		got, err := ReadJSONL(&buf, "w.jsonl")
		require.NoError(t, err)
		if mode == ModeEval {
			for i := range ws {
				ws[i].StartPos, ws[i].EndPos = -1, -1
			}
		}
		assert.Equal(t, ws, got)
	}
}

func TestJSONLReaderErrors(t *testing.T) {
	for _, c := range []struct{ line, want string }{
		{`{"input_ids":[1,2],"attention_mask":[1]}`, "line 2: 2 input_ids but 1 attention_mask values"},
		{`{"input_ids":[1,2],"token_type_ids":[0]}`, "line 2: 2 input_ids but 1 token_type_ids"},
		{`{"input_ids":[1,2],"offset_mapping":[null]}`, "line 2: 2 input_ids but 1 offset_mapping entries"},
		{`{"input_ids":[1,2],"start_positions":2,"end_positions":1}`, "line 2: start_positions 2 / end_positions 1 outside the window of 2 tokens"},
		{`{"input_ids":[1,2],"start_positions":1}`, "line 2: start_positions without end_positions"},
		{`{"input_ids":[]}`, "line 2: no input_ids"},
		{`{"input_ids":[1,2],}`, "line 2: invalid character"},
		{`{"input_ids":"x"}`, "line 2: json: cannot unmarshal"},
	} {
		_, err := ReadJSONL(strings.NewReader(`{"input_ids":[1]}`+"\n"+c.line+"\n"), "w.jsonl")
		require.Error(t, err, c.line)
		assert.Contains(t, err.Error(), "features: w.jsonl: "+c.want)
	}
	// HF train features carry no example_id: each window is its own example
	ws, err := ReadJSONL(strings.NewReader("{\"input_ids\":[1],\"start_positions\":0,\"end_positions\":0}\n\n{\"input_ids\":[2]}"), "w.jsonl")
	require.NoError(t, err)
	require.Len(t, ws, 2)
	assert.Equal(t, []int{0, 1}, []int{ws[0].ExampleIndex, ws[1].ExampleIndex})
	assert.Equal(t, []int64{1}, ws[1].Mask)
	assert.Equal(t, -1, ws[1].StartPos)
}
