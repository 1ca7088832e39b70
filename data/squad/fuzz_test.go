package squad

import (
	"bytes"
	"errors"
	"io"
	"os"
	"runtime"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/require"
)

// drain reads every example, checks the Example invariants and the error types, and closes the
// reader: a JSON reader stopped by an error holds a parked iterator goroutine until Close.
func drain(t *testing.T, r *Reader) {
	t.Helper()
	defer func() { require.NoError(t, r.Close()) }()
	var exs []Example
	for {
		ex, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			requireNamedError(t, err)
			break
		}
		exs = append(exs, ex)
	}
	checkInvariants(t, exs)
	rep := r.Report()
	require.Equal(t, rep.Examples, rep.Kept+rep.Skipped)
	require.Equal(t, len(exs), rep.Kept)
}

// requireNamedError: every failure a reader reports is one of the package's two error types,
// with a message that names the file.
func requireNamedError(t *testing.T, err error) {
	t.Helper()
	var fe *FormatError
	var ee *ExampleError
	if !errors.As(err, &fe) && !errors.As(err, &ee) {
		t.Fatalf("unexpected error type %T: %v", err, err)
	}
	require.Contains(t, err.Error(), "fuzz.")
}

// requireAllocBelow runs fn and fails when it allocated more than limit bytes: a reader that
// believes a size some input declares would allocate far beyond what the input holds.
func requireAllocBelow(t *testing.T, limit uint64, fn func()) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > limit {
		t.Fatalf("reading allocated %d MiB, more than the %d MiB allowed", got>>20, limit>>20)
	}
}

// FuzzJSONReader feeds arbitrary bytes to the SQuAD JSON and JSON Lines readers. Seeds: the
// files below, and testdata/fuzz/FuzzJSONReader (deep nesting, huge numbers, invalid UTF-8 in
// keys and values, lone surrogates, NULs, BOMs, duplicate keys, truncations).
func FuzzJSONReader(f *testing.F) {
	for _, p := range []string{"testdata/nonascii.json", "testdata/nonascii.jsonl"} {
		b, err := os.ReadFile(p)
		require.NoError(f, err)
		f.Add(b)
	}
	f.Add([]byte(squadDoc(ctx, `{"id":"x","question":"q","answers":[{"text":"Paris","answer_start":0}]}`)))
	f.Add([]byte(`{"data":[{"id":"a","context":"c","question":"q","answers":{"text":["c"],"answer_start":[0]}}]}`))
	f.Add([]byte(`[{"id":"a","context":"é","question":"q","answers":{"text":["é"],"answer_start":[0]}}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		requireAllocBelow(t, 64<<20+64*uint64(len(data)), func() {
			for _, skip := range []bool{false, true} {
				drain(t, NewJSONReader(bytes.NewReader(data), "fuzz.json", Options{SkipInvalid: skip}))
				drain(t, NewJSONLReader(bytes.NewReader(data), "fuzz.jsonl", Options{SkipInvalid: skip}))
			}
		})
	})
}

// seedParquetFiles are small valid files in every layout the reader accepts; the fuzzer
// corrupts them from there.
func seedParquetFiles(tb testing.TB) [][]byte {
	tb.Helper()
	var out [][]byte
	write := func(rows any, opts ...parquet.WriterOption) {
		var buf bytes.Buffer
		var err error
		switch rs := rows.(type) {
		case []hfRow:
			err = parquet.Write(&buf, rs, opts...)
		case []legacyRow:
			err = parquet.Write(&buf, rs, opts...)
		case []nullableRow:
			err = parquet.Write(&buf, rs, opts...)
		}
		require.NoError(tb, err)
		out = append(out, buf.Bytes())
	}
	rows, _ := hfRows(6)
	write(rows)
	write(rows, parquet.MaxRowsPerRowGroup(2), parquet.PageBufferSize(64))
	write(rows, parquet.DataPageVersion(1), parquet.PageBufferSize(128), parquet.Compression(&parquet.Snappy))
	write([]legacyRow{{ID: "a", Context: "x y", Question: "q", Answers: legacyAnswers{Text: []string{"y"}, AnswerStart: []int64{2}}}, {ID: "b", Context: "z", Question: "q"}})
	s := func(v string) *string { return &v }
	write([]nullableRow{
		{ID: s("ok"), Context: "c", Question: "q", Answers: &nullableAnswers{Text: []*string{s("c")}, AnswerStart: []int32{0}}},
		{ID: s("nullanswers"), Context: "c", Question: "q"},
		{Context: "c", Question: "q", Answers: &nullableAnswers{Text: []*string{nil}, AnswerStart: []int32{0}}},
	})
	return out
}

type legacyAnswers struct {
	Text        []string `parquet:"text"`
	AnswerStart []int64  `parquet:"answer_start"`
}

type legacyRow struct {
	ID       string        `parquet:"id"`
	Context  string        `parquet:"context"`
	Question string        `parquet:"question"`
	Answers  legacyAnswers `parquet:"answers"`
}

type nullableAnswers struct {
	Text        []*string `parquet:"text,optional,list" parquet-element:",optional"`
	AnswerStart []int32   `parquet:"answer_start,list"`
}

type nullableRow struct {
	ID       *string          `parquet:"id,optional"`
	Context  string           `parquet:"context"`
	Question string           `parquet:"question"`
	Answers  *nullableAnswers `parquet:"answers,optional"`
}

// FuzzParquetReader feeds corrupted parquet files to the parquet reader: it must answer each
// with examples or a *FormatError / *ExampleError, never a panic, a hang or an allocation
// beyond a few of the largest pages it accepts (maxPageBytes). Seeds: valid files of every
// layout, and testdata/fuzz/FuzzParquetReader (truncations, a footer length beyond the file, a
// footer that declares 2^31 schema elements, flipped magic, page headers with huge sizes).
func FuzzParquetReader(f *testing.F) {
	for _, b := range seedParquetFiles(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		requireAllocBelow(t, 8*maxPageBytes, func() {
			for _, skip := range []bool{false, true} {
				r, err := NewParquetReader(bytes.NewReader(data), int64(len(data)), "fuzz.parquet", Options{SkipInvalid: skip})
				if err != nil {
					requireNamedError(t, err)
					continue
				}
				drain(t, r)
			}
		})
	})
}
