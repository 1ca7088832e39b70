package squad

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writeParquet writes rows with parquet-go into a temporary file.
func writeParquet[T any](t *testing.T, rows []T, opts ...parquet.WriterOption) string {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, parquet.Write(&buf, rows, opts...))
	return writeTemp(t, "data.parquet", buf.String())
}

// HF layout: answers is a struct of two LIST columns.
type hfAnswers struct {
	Text        []string `parquet:"text,list"`
	AnswerStart []int32  `parquet:"answer_start,list"`
}

type hfRow struct {
	ID       string    `parquet:"id"`
	Title    string    `parquet:"title"`
	Context  string    `parquet:"context,dict"`
	Question string    `parquet:"question"`
	Answers  hfAnswers `parquet:"answers"`
}

func hfRows(n int) ([]hfRow, []Example) {
	var rows []hfRow
	var want []Example
	for i := range n {
		c := fmt.Sprintf("Paragraph %d: Zoë met 🍵 at %d o'clock.", i/3, i)
		q := fmt.Sprintf("When %d?", i)
		bs := strings.Index(c, "🍵")
		rs := utf8.RuneCountInString(c[:bs])
		rows = append(rows, hfRow{ID: fmt.Sprintf("id%03d", i), Title: "T", Context: c, Question: q,
			Answers: hfAnswers{Text: []string{"🍵", fmt.Sprint(i)}, AnswerStart: []int32{int32(rs), int32(rs + 5)}}})
		want = append(want, Example{ID: fmt.Sprintf("id%03d", i), Title: "T", Context: c, Question: q,
			Answers: []Answer{{Text: "🍵", Start: rs, ByteStart: bs}, {Text: fmt.Sprint(i), Start: rs + 5, ByteStart: bs + 8}}})
		if i%4 == 3 { // unanswerable, as squad_v2
			rows[i].Answers = hfAnswers{Text: []string{}, AnswerStart: []int32{}}
			want[i].Answers = nil
		}
	}
	return rows, want
}

// Many small pages and row groups, dictionary and plain pages, empty lists.
func TestParquetPagesAndRowGroups(t *testing.T) {
	rows, want := hfRows(200)
	for _, opts := range [][]parquet.WriterOption{
		nil,
		{parquet.MaxRowsPerRowGroup(7), parquet.PageBufferSize(64)},
		{parquet.DataPageVersion(1), parquet.PageBufferSize(128), parquet.MaxRowsPerRowGroup(50)},
	} {
		got, rep, err := ReadParquet(writeParquet(t, rows, opts...), Options{})
		require.NoError(t, err)
		assert.Equal(t, 200, rep.Kept)
		assert.Equal(t, want, got)
	}
}

// Legacy 2-level lists (repeated primitive fields) and int64 answer_start.
func TestParquetLegacyLists(t *testing.T) {
	type row struct {
		ID       string `parquet:"id"`
		Context  string `parquet:"context"`
		Question string `parquet:"question"`
		Answers  struct {
			Text        []string `parquet:"text"`
			AnswerStart []int64  `parquet:"answer_start"`
		} `parquet:"answers"`
	}
	r := row{ID: "a", Context: "x y", Question: "q"}
	r.Answers.Text, r.Answers.AnswerStart = []string{"y"}, []int64{2}
	got, _, err := ReadParquet(writeParquet(t, []row{r, {ID: "b", Context: "z", Question: "q"}}), Options{})
	require.NoError(t, err)
	assert.Equal(t, []Example{{ID: "a", Context: "x y", Question: "q", Answers: []Answer{{Text: "y", Start: 2, ByteStart: 2}}},
		{ID: "b", Context: "z", Question: "q"}}, got)
}

// answers as a list of {text, answer_start} structs, with configurable column names.
func TestParquetListOfStructsAndColumns(t *testing.T) {
	type ans struct {
		Text        string `parquet:"text"`
		AnswerStart int32  `parquet:"answer_start"`
	}
	type row struct {
		Gold    []ans  `parquet:"gold,list"`
		Query   string `parquet:"query"`
		Passage string `parquet:"passage"`
		Qid     string `parquet:"qid"`
		Index   int64  `parquet:"__index_level_0__"`
	}
	path := writeParquet(t, []row{{Qid: "a", Passage: "où est-il", Query: "q", Gold: []ans{{"est", 3}, {"il", 7}}}})
	got, _, err := ReadParquet(path, Options{Columns: Columns{ID: "qid", Context: "passage", Question: "query", Answers: "gold"}})
	require.NoError(t, err)
	assert.Equal(t, []Example{{ID: "a", Context: "où est-il", Question: "q", Answers: []Answer{{"est", 3, 4}, {"il", 7, 8}}}}, got)

	_, _, err = ReadParquet(path, Options{})
	var fe *FormatError
	require.ErrorAs(t, err, &fe)
	assert.Contains(t, err.Error(), `no column "id" (columns: gold, query, passage, qid, __index_level_0__)`)
}

func TestParquetInvalidExamples(t *testing.T) {
	rows, _ := hfRows(6)
	rows[1].Answers.AnswerStart[0] = -4
	rows[2].Answers.AnswerStart[1] = 999
	rows[3].Question = "   "
	rows[4].Answers.Text[0] = "tea"
	rows[5].Context = "bad \xff bytes"
	path := writeParquet(t, rows)
	_, _, err := ReadParquet(path, Options{})
	require.ErrorIs(t, err, ErrInvalid)
	assert.Contains(t, err.Error(), "example id001: answer 0: negative answer_start -4")
	got, rep, err := ReadParquet(path, Options{SkipInvalid: true})
	require.NoError(t, err)
	assert.Len(t, got, 1)
	assert.Equal(t, 5, rep.Skipped)
	var msgs []string
	for _, p := range rep.Problems {
		msgs = append(msgs, p.Error())
	}
	assert.Equal(t, []string{
		"squad: " + path + ": example id001: answer 0: negative answer_start -4",
		"squad: " + path + ": example id002: answer_start 999 beyond context of 36 runes",
		"squad: " + path + ": example id003: empty question",
		"squad: " + path + `: example id004: answer 0 text "tea" does not match the context at answer_start 21 (context has "🍵 a")`,
		"squad: " + path + ": example id005: context is not valid UTF-8",
	}, msgs)
}

// Nulls: a null answers struct, a null list, a null element, a null id.
func TestParquetNulls(t *testing.T) {
	type ans struct {
		Text        []*string `parquet:"text,optional,list" parquet-element:",optional"`
		AnswerStart []int32   `parquet:"answer_start,list"`
	}
	type row struct {
		ID       *string `parquet:"id,optional"`
		Context  string  `parquet:"context"`
		Question string  `parquet:"question"`
		Answers  *ans    `parquet:"answers,optional"`
	}
	s := func(v string) *string { return &v }
	rows := []row{
		{ID: s("ok"), Context: "c", Question: "q", Answers: &ans{Text: []*string{s("c")}, AnswerStart: []int32{0}}},
		{ID: s("nullanswers"), Context: "c", Question: "q"},
		{ID: s("nulltext"), Context: "c", Question: "q", Answers: &ans{AnswerStart: []int32{0}}},
		{ID: s("nullelem"), Context: "c", Question: "q", Answers: &ans{Text: []*string{nil}, AnswerStart: []int32{0}}},
		{Context: "c", Question: "q", Answers: &ans{Text: []*string{}, AnswerStart: []int32{}}},
	}
	got, rep, err := ReadParquet(writeParquet(t, rows), Options{SkipInvalid: true})
	require.NoError(t, err)
	assert.Equal(t, []Example{{ID: "ok", Context: "c", Question: "q", Answers: []Answer{{Text: "c"}}}}, got)
	var msgs []string
	for _, p := range rep.Problems {
		msgs = append(msgs, p.Msg)
	}
	assert.Equal(t, []string{"missing answers", "missing answers.text", "answers.text holds a null", "missing id"}, msgs)
}

// Damaged bytes anywhere never panic: each gives a FormatError (or, rarely, still valid data).
func TestParquetCorruptBytes(t *testing.T) {
	rows, _ := hfRows(50)
	var buf bytes.Buffer
	require.NoError(t, parquet.Write(&buf, rows, parquet.PageBufferSize(256)))
	good := buf.Bytes()
	for _, cut := range []int{0, 3, 4, 100, len(good) / 2, len(good) - 9, len(good) - 1} {
		_, _, err := ReadParquet(writeTemp(t, "cut.parquet", string(good[:cut])), Options{})
		var fe *FormatError
		require.ErrorAs(t, err, &fe, "cut at %d", cut)
	}
	for i := 4; i < len(good)-8; i += 97 {
		bad := bytes.Clone(good)
		bad[i] ^= 0x5a
		_, _, err := ReadParquet(writeTemp(t, "flip.parquet", string(bad)), Options{SkipInvalid: true})
		if err != nil {
			var fe *FormatError
			require.ErrorAs(t, err, &fe, "flip at %d: %v", i, err)
		}
	}
}

func TestParquetWrongColumnTypes(t *testing.T) {
	type row struct {
		ID       int64  `parquet:"id"`
		Context  string `parquet:"context"`
		Question string `parquet:"question"`
		Answers  hfAnswers
	}
	_, _, err := ReadParquet(writeParquet(t, []row{{ID: 1}}), Options{})
	assert.ErrorContains(t, err, `column "id": expected a string column, found INT64`)
	type row2 struct {
		ID       string `parquet:"id"`
		Context  string `parquet:"context"`
		Question string `parquet:"question"`
		Answers  struct {
			Text        []string  `parquet:"text,list"`
			AnswerStart []float64 `parquet:"answer_start,list"`
		} `parquet:"answers"`
	}
	_, _, err = ReadParquet(writeParquet(t, []row2{{ID: "x"}}), Options{})
	assert.ErrorContains(t, err, `column "answers.answer_start": unexpected element type DOUBLE`)
}
