package squad

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// squadDoc wraps one context and raw question objects into a SQuAD file, with a valid question
// "ok-1" before them and "ok-2" after.
func squadDoc(context string, qas ...string) string {
	all := append([]string{`{"id":"ok-1","question":"Where?","answers":[{"text":"Paris","answer_start":0}]}`}, qas...)
	all = append(all, `{"id":"ok-2","question":"What?","answers":[{"text":"capital","answer_start":13}]}`)
	return `{"version":"1.1","data":[{"title":"T","paragraphs":[{"context":` + context + `,"qas":[` + strings.Join(all, ",") + `]}]}]}`
}

const ctx = `"Paris is the capital of France. ` + "Ünïcödé 🍵 text" + `"`

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
	return path
}

// Each invalid example stops loading with a message naming it, or is skipped and counted.
func TestInvalidExamplesJSON(t *testing.T) {
	cases := []struct {
		name, qa, want string
		context        string
	}{
		{"negative start", `{"id":"e1","question":"q","answers":[{"text":"Paris","answer_start":-1}]}`, "example e1: answer 0: negative answer_start -1", ""},
		{"start beyond context", `{"id":"5733be28","question":"q","answers":[{"text":"x","answer_start":512}]}`, "example 5733be28: answer_start 512 beyond context of 46 runes", ""},
		{"runs past end", `{"id":"e3","question":"q","answers":[{"text":"text and more","answer_start":42}]}`, `example e3: answer 0 "text and more" at answer_start 42 runs past the end of the context (46 runes)`, ""},
		{"text mismatch", `{"id":"e4","question":"q","answers":[{"text":"Paris","answer_start":1}]}`, `example e4: answer 0 text "Paris" does not match the context at answer_start 1 (context has "aris ")`, ""},
		{"byte offset instead of runes", `{"id":"e5","question":"q","answers":[{"text":"🍵","answer_start":44}]}`, `example e5: answer 0 text "🍵" does not match the context at answer_start 44 (context has "x")`, ""},
		{"byte offset beyond", `{"id":"e5b","question":"q","answers":[{"text":"text","answer_start":49}]}`, `example e5b: answer_start 49 beyond context of 46 runes`, ""},
		{"second answer bad", `{"id":"e6","question":"q","answers":[{"text":"Paris","answer_start":0},{"text":"France","answer_start":2}]}`, `example e6: answer 1 text "France" does not match`, ""},
		{"empty answer text", `{"id":"e7","question":"q","answers":[{"text":"","answer_start":0}]}`, "example e7: answer 0 text is empty", ""},
		{"missing answer_start", `{"id":"e8","question":"q","answers":[{"text":"Paris"}]}`, "example e8: answer 0: missing answer_start", ""},
		{"answer_start string", `{"id":"e9","question":"q","answers":[{"text":"Paris","answer_start":"0"}]}`, "example e9: answer 0 answer_start: expected an integer, got a string", ""},
		{"answer_start fraction", `{"id":"e10","question":"q","answers":[{"text":"Paris","answer_start":0.5}]}`, "example e10: answer 0 answer_start: expected an integer, got the non-integer 0.5", ""},
		{"missing text", `{"id":"e11","question":"q","answers":[{"answer_start":0}]}`, "example e11: answer 0: missing text", ""},
		{"missing answers", `{"id":"e12","question":"q"}`, "example e12: missing answers", ""},
		{"answers not a list", `{"id":"e13","question":"q","answers":"Paris"}`, "example e13: answers: expected an array or an object, got a string", ""},
		{"missing id", `{"question":"q","answers":[]}`, "example #1 (no id): missing id", ""},
		{"empty id", `{"id":"","question":"q","answers":[]}`, "example #1 (no id): empty id", ""},
		{"numeric id", `{"id":17,"question":"q","answers":[]}`, "example #1 (no id): id: expected a string, got a number", ""},
		{"missing question", `{"id":"e17","answers":[]}`, "example e17: missing question", ""},
		{"empty question", `{"id":"e18","question":"","answers":[]}`, "example e18: empty question", ""},
		{"blank question", `{"id":"e19","question":" \t\n","answers":[]}`, "example e19: empty question", ""},
		{"question not valid UTF-8", "{\"id\":\"e20\",\"question\":\"caf\xe9?\",\"answers\":[]}", "example e20: question is not valid UTF-8", ""},
		{"lone surrogate", `{"id":"e21","question":"bad \udc00 q","answers":[]}`, "example e21: question is not valid UTF-8", ""},
		{"answer text not UTF-8", "{\"id\":\"e22\",\"question\":\"q\",\"answers\":[{\"text\":\"Par\xffs\",\"answer_start\":0}]}", "example e22: answer 0 text is not valid UTF-8", ""},
		{"is_impossible with answers", `{"id":"e23","question":"q","is_impossible":true,"answers":[{"text":"Paris","answer_start":0}]}`, "example e23: is_impossible is true but there are 1 answers", ""},
		{"duplicate id", `{"id":"ok-1","question":"q","answers":[]}`, "example ok-1: duplicate id (first seen at example #0)", ""},
		{"question entry not an object", `"just a string"`, "example #1 (no id): question entry: expected an object, got a string", ""},
		{"id not UTF-8", "{\"id\":\"e\xff\",\"question\":\"q\",\"answers\":[]}", "example #1 (no id): id is not valid UTF-8", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeTemp(t, "bad.json", squadDoc(ctx, c.qa))
			exs, _, err := ReadJSON(path, Options{})
			require.Error(t, err)
			assert.Nil(t, exs)
			assert.ErrorIs(t, err, ErrInvalid)
			assert.Contains(t, err.Error(), c.want)
			assert.True(t, strings.HasPrefix(err.Error(), "squad: "+path+": example "), err.Error())

			exs, rep, err := ReadJSON(path, Options{SkipInvalid: true})
			require.NoError(t, err)
			require.Len(t, exs, 2)
			assert.Equal(t, "ok-1", exs[0].ID)
			assert.Equal(t, "ok-2", exs[1].ID)
			assert.Equal(t, 1, rep.Skipped)
			assert.Equal(t, 3, rep.Examples)
			require.Len(t, rep.Problems, 1)
			assert.Contains(t, rep.Problems[0].Error(), c.want)
		})
	}
}

// Defects of a whole paragraph make each of its questions invalid.
func TestInvalidContextJSON(t *testing.T) {
	for name, c := range map[string]struct{ context, want string }{
		"empty context":     {`""`, "example ok-1: empty context"},
		"blank context":     {`"  \n "`, "example ok-1: empty context"},
		"null context":      {`null`, "example ok-1: missing context"},
		"context not text":  {`42`, "example ok-1: context: expected a string, got a number"},
		"context not UTF-8": {"\"Paris \xc3\x28 capital\"", "example ok-1: context is not valid UTF-8"},
	} {
		t.Run(name, func(t *testing.T) {
			path := writeTemp(t, "bad.json", squadDoc(c.context))
			_, _, err := ReadJSON(path, Options{})
			require.ErrorIs(t, err, ErrInvalid)
			assert.Contains(t, err.Error(), c.want)
			exs, rep, err := ReadJSON(path, Options{SkipInvalid: true})
			require.NoError(t, err)
			assert.Empty(t, exs)
			assert.Equal(t, 2, rep.Skipped)
		})
	}
}

// Malformed JSON stops loading (SkipInvalid or not) with the file and the exact byte offset.
func TestMalformedJSON(t *testing.T) {
	good := squadDoc(ctx)
	cases := []struct {
		name, doc string
		offset    int
		want      string
	}{
		{"missing comma", strings.Replace(good, `,"question":"What?"`, ` "question":"What?"`, 1), strings.Index(good, `,"question":"What?"`) + 1, "invalid character"},
		{"truncated", good[:len(good)/2], len(good) / 2, "unexpected end of JSON input"},
		{"trailing garbage", good + "}", len(good), "invalid character"},
		{"bad literal", strings.Replace(good, `"version":"1.1"`, `"version":tru`, 1), strings.Index(good, `"1.1"`) + 3, "invalid character"},
		{"empty file", "", 0, "unexpected end of JSON input"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeTemp(t, "bad.json", c.doc)
			for _, skip := range []bool{false, true} {
				_, _, err := ReadJSON(path, Options{SkipInvalid: skip})
				var fe *FormatError
				require.ErrorAs(t, err, &fe)
				assert.Equal(t, int64(c.offset), fe.Offset, err.Error())
				assert.Contains(t, err.Error(), fmt.Sprintf("squad: %s: byte %d: malformed JSON", path, c.offset))
				assert.Contains(t, err.Error(), c.want)
			}
		})
	}
}

// Structural defects above the question level stop loading with the byte offset of the article.
func TestBadStructureJSON(t *testing.T) {
	cases := []struct{ name, doc, want string }{
		{"no data", `{"version":"1.1"}`, `no "data" array`},
		{"data not an array", `{"data":{"title":"x"}}`, `"data": expected an array`},
		{"top level string", `"squad"`, "expected a JSON object or array at the top level"},
		{"paragraphs not an array", `{"data":[{"title":"T","paragraphs":{}}]}`, `byte 9: data[0] ("T"): paragraphs: expected an array, got an object`},
		{"paragraph not an object", `{"data":[{"title":"T","paragraphs":[7]}]}`, `data[0] ("T"): paragraph 0: expected an object, got a number`},
		{"missing qas", `{"data":[{"title":"T","paragraphs":[{"context":"c"}]}]}`, `data[0] ("T"): paragraph 0: missing qas`},
		{"article not an object", `{"data":[[]]}`, "data[0]: expected an object, got an array"},
		{"qas not an array", `{"data":[{"title":"T","paragraphs":[{"context":"c","qas":{}}]}]}`, `data[0] ("T"): paragraph 0: qas: expected an array, got an object`},
		{"null paragraphs", `{"data":[{"title":"T","paragraphs":null}]}`, `data[0] ("T"): paragraphs: expected an array, got null`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := ReadJSON(writeTemp(t, "bad.json", c.doc), Options{SkipInvalid: true})
			var fe *FormatError
			require.ErrorAs(t, err, &fe)
			assert.Contains(t, err.Error(), c.want)
		})
	}
}

// HF's flat JSON layout ({"data": [records]} or a top-level array) is read with configurable
// column names.
func TestFlatJSON(t *testing.T) {
	rec := `{"qid":"f1","passage":"Paris is big.","query":"What is big?","gold":{"text":["Paris"],"answer_start":[0]}}`
	cols := Columns{ID: "qid", Context: "passage", Question: "query", Answers: "gold"}
	for _, doc := range []string{`{"data":[` + rec + `]}`, `[` + rec + `]`} {
		exs, _, err := ReadJSON(writeTemp(t, "flat.json", doc), Options{Columns: cols})
		require.NoError(t, err)
		assert.Equal(t, []Example{{ID: "f1", Context: "Paris is big.", Question: "What is big?", Answers: []Answer{{Text: "Paris"}}}}, exs)
		_, _, err = ReadJSON(writeTemp(t, "flat.json", doc), Options{})
		assert.Contains(t, err.Error(), "example #0 (no id): missing id")
	}
}

func TestJSONL(t *testing.T) {
	lines := []string{
		`{"id":"j1","title":"T","context":"Ça va très bien.","question":"How?","answers":{"text":["très bien"],"answer_start":[6]}}`,
		``,
		`{"id":"j2","context":"Ça va très bien.","question":"How?","answers":[{"text":"bien","answer_start":11}]}`,
		`{"id":"j3","context":"Ça va.","question":"Impossible?","answers":{"text":[],"answer_start":[]}}`,
	}
	path := writeTemp(t, "ok.jsonl", strings.Join(lines, "\n"))
	exs, rep, err := Read(path, Options{})
	require.NoError(t, err)
	assert.Equal(t, 3, rep.Kept)
	assert.Equal(t, []Example{
		{ID: "j1", Title: "T", Context: "Ça va très bien.", Question: "How?", Answers: []Answer{{Text: "très bien", Start: 6, ByteStart: 7}}},
		{ID: "j2", Context: "Ça va très bien.", Question: "How?", Answers: []Answer{{Text: "bien", Start: 11, ByteStart: 13}}},
		{ID: "j3", Context: "Ça va.", Question: "Impossible?"},
	}, exs)
}

func TestInvalidJSONL(t *testing.T) {
	good := `{"id":"g","context":"abc","question":"q","answers":{"text":["b"],"answer_start":[1]}}`
	cases := []struct{ name, line, want string }{
		{"length mismatch", `{"id":"b1","context":"abc","question":"q","answers":{"text":["b"],"answer_start":[1,2]}}`, "example b1: answers: 1 texts but 2 answer_start values"},
		{"null start", `{"id":"b2","context":"abc","question":"q","answers":{"text":["b"],"answer_start":[null]}}`, "example b2: answer 0: answer_start is null"},
		{"texts not list", `{"id":"b3","context":"abc","question":"q","answers":{"text":"b","answer_start":[1]}}`, "example b3: answers.text: expected an array, got a string"},
		{"missing starts", `{"id":"b4","context":"abc","question":"q","answers":{"text":["b"]}}`, "example b4: answers: missing answer_start"},
		{"not an object", `[1,2]`, "example #1 (no id): expected a JSON object, got an array"},
		{"beyond", `{"id":"b6","context":"abc","question":"q","answers":{"text":["b"],"answer_start":[9]}}`, "example b6: answer_start 9 beyond context of 3 runes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeTemp(t, "bad.jsonl", good+"\n"+c.line+"\n"+strings.Replace(good, `"g"`, `"g2"`, 1)+"\n")
			_, _, err := Read(path, Options{})
			require.ErrorIs(t, err, ErrInvalid)
			assert.Contains(t, err.Error(), c.want)
			exs, rep, err := Read(path, Options{SkipInvalid: true})
			require.NoError(t, err)
			assert.Len(t, exs, 2)
			assert.Equal(t, 1, rep.Skipped)
		})
	}
	t.Run("malformed line", func(t *testing.T) {
		doc := good + "\n" + `{"id":"x",,}` + "\n"
		_, _, err := Read(writeTemp(t, "bad.jsonl", doc), Options{SkipInvalid: true})
		var fe *FormatError
		require.ErrorAs(t, err, &fe)
		assert.Equal(t, 2, fe.Line)
		assert.Equal(t, int64(len(good)+1+10), fe.Offset)
		assert.Contains(t, err.Error(), "line 2: byte 96: malformed JSON: invalid character ','")
	})
}
