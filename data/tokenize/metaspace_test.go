package tokenize

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tinyUnigramJSON is a Unigram model section over a few pieces (unk id 0).
const tinyUnigramJSON = `{"type":"Unigram","unk_id":0,"vocab":[["<unk>",0],["▁",-2],["▁a",-1],["b",-1],["▁b",-1.5],["a",-3],["\u00e9",-1]],"byte_fallback":false}`

func tinyEncoder(t *testing.T, normalizer, preTokenizer string) *unigramEncoder {
	t.Helper()
	enc, err := newUnigramFromJSON(json.RawMessage(tinyUnigramJSON), json.RawMessage(normalizer), json.RawMessage(preTokenizer))
	require.NoError(t, err)
	return enc.(*unigramEncoder)
}

func render(ps []piece) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = fmt.Sprintf("%s %d %d %d", p.Text, p.ID, p.Start, p.End)
	}
	return out
}

func TestMetaspaceSchemes(t *testing.T) {
	cases := []struct {
		name, pre, in string
		want          []string
	}{
		{"always", `{"type":"Metaspace","replacement":"▁","prepend_scheme":"always","split":true}`, "a b",
			[]string{"▁a 2 0 1", "▁b 4 1 3"}},
		{"legacy add_prefix_space", `{"type":"Metaspace","replacement":"▁","add_prefix_space":true}`, "a b",
			[]string{"▁a 2 0 1", "▁b 4 1 3"}},
		{"never", `{"type":"Metaspace","replacement":"▁","prepend_scheme":"never","split":true}`, "a b",
			[]string{"a 5 0 1", "▁b 4 1 3"}},
		{"legacy no prefix", `{"type":"Metaspace","replacement":"▁","add_prefix_space":false}`, "a b",
			[]string{"a 5 0 1", "▁b 4 1 3"}},
		{"first", `{"type":"Metaspace","replacement":"▁","prepend_scheme":"first"}`, "b a",
			[]string{"▁b 4 0 1", "▁a 2 1 3"}},
		{"no split", `{"type":"Metaspace","replacement":"▁","prepend_scheme":"always","split":false}`, "a b",
			[]string{"▁a 2 0 1", "▁b 4 1 3"}},
		{"literal replacement", `{"type":"Sequence","pretokenizers":[{"type":"Metaspace","replacement":"▁"}]}`, "▁a",
			[]string{"▁a 2 0 4"}},
		{"trailing space", `{"type":"Metaspace","replacement":"▁"}`, "a ", []string{"▁a 2 0 1", "▁ 1 1 2"}},
		{"no pre-tokenizer", `null`, "ab", []string{"a 5 0 1", "b 3 1 2"}},
		{"empty sequence", `{"type":"Sequence","pretokenizers":[]}`, "a b", []string{"a 5 0 1", "  0 1 2", "b 3 2 3"}},
	}
	for _, c := range cases {
		enc := tinyEncoder(t, `null`, c.pre)
		ps, err := enc.encode(c.in)
		require.NoError(t, err, c.name)
		assert.Equal(t, c.want, render(ps), c.name)
	}
}

func TestMetaspaceConfigErrors(t *testing.T) {
	for _, pre := range []string{
		`{"type":"Metaspace","replacement":"ab"}`,
		`{"type":"Metaspace","replacement":"▁","prepend_scheme":"sometimes"}`,
		`{"type":"Metaspace","replacement":"▁","prepend_scheme":"always","add_prefix_space":false}`,
		`{"type":"Sequence","pretokenizers":[{"type":"Metaspace","replacement":"▁"},{"type":"Digits"}]}`,
		`{"type":"ByteLevel"}`,
		`[1]`,
	} {
		_, err := newUnigramFromJSON(json.RawMessage(tinyUnigramJSON), nil, json.RawMessage(pre))
		assert.Error(t, err, pre)
	}
}
