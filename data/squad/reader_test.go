package squad

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/spanqa/spanqa/internal/fixtures"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// checkInvariants asserts what every Example a reader returns must satisfy.
func checkInvariants(t testing.TB, exs []Example) {
	t.Helper()
	for _, ex := range exs {
		for _, a := range ex.Answers {
			require.True(t, utf8.ValidString(ex.Context))
			require.LessOrEqual(t, a.ByteStart+len(a.Text), len(ex.Context), ex.ID)
			require.Equal(t, a.Text, ex.Context[a.ByteStart:a.ByteStart+len(a.Text)], ex.ID)
			require.Equal(t, a.Start, utf8.RuneCountInString(ex.Context[:a.ByteStart]), ex.ID)
		}
	}
}

func TestReadDevV11JSON(t *testing.T) {
	path := fixtures.Data(t, "squad", "v1.1", "dev-v1.1.json")
	exs, rep, err := ReadJSON(path, Options{})
	require.NoError(t, err)
	require.Len(t, exs, 10570)
	assert.Equal(t, Report{Path: path, Examples: 10570, Kept: 10570}, rep)
	assert.Equal(t, "56be4db0acb8001400a502ec", exs[0].ID)
	assert.Equal(t, "5737aafd1c456719005744ff", exs[len(exs)-1].ID)
	answers, contexts, nonASCII := 0, map[string]bool{}, 0
	for _, ex := range exs {
		answers += len(ex.Answers)
		if !contexts[ex.Context] {
			contexts[ex.Context] = true
			if utf8.RuneCountInString(ex.Context) != len(ex.Context) {
				nonASCII++
			}
		}
	}
	assert.Equal(t, 34726, answers)
	assert.Equal(t, 2067, len(contexts))
	assert.Equal(t, 674, nonASCII)
	checkInvariants(t, exs)
}

func TestReadDevV20JSON(t *testing.T) {
	path := fixtures.Data(t, "squad", "v2.0", "dev-v2.0.reconstructed.json")
	exs, _, err := Read(path, Options{})
	require.NoError(t, err)
	require.Len(t, exs, 11873)
	impossible, answers := 0, 0
	for _, ex := range exs {
		if ex.IsImpossible() {
			impossible++
		}
		answers += len(ex.Answers)
	}
	assert.Equal(t, 5945, impossible)
	assert.Equal(t, 20302, answers)
	checkInvariants(t, exs)
}

// Every parquet variant written by DuckDB and arrow-rs reads to exactly the JSON's examples.
func TestParquetEqualsJSON(t *testing.T) {
	v1, _, err := ReadJSON(fixtures.Data(t, "squad", "v1.1", "dev-v1.1.json"), Options{})
	require.NoError(t, err)
	v2, _, err := ReadJSON(fixtures.Data(t, "squad", "v2.0", "dev-v2.0.reconstructed.json"), Options{})
	require.NoError(t, err)
	dir := fixtures.Data(t, "squad", "parquet")
	for file, want := range map[string][]Example{
		"squad/validation-00000-of-00001.parquet":                  v1,
		"squad_v2/validation-00000-of-00001.parquet":               v2,
		"variants/squad-validation-zstd-rg1000.parquet":            v1,
		"variants/squad-validation-uncompressed.parquet":           v1,
		"variants/squad-validation-reordered-extra-column.parquet": v1,
		"variants/squad-validation-answer-start-int64.parquet":     v1,
		"variants/squad-validation-arrowrs-list-item.parquet":      v1,
	} {
		t.Run(file, func(t *testing.T) {
			got, rep, err := Read(filepath.Join(dir, file), Options{})
			require.NoError(t, err)
			assert.Equal(t, len(want), rep.Kept)
			require.Equal(t, len(want), len(got))
			for i := range want {
				if !assert.Equal(t, want[i], got[i], "row %d", i) {
					return
				}
			}
		})
	}
}

func TestParquetTruncatedFooter(t *testing.T) {
	path := fixtures.Data(t, "squad", "parquet", "variants", "squad-validation-truncated-60pct.parquet")
	for _, skip := range []bool{false, true} {
		_, _, err := Read(path, Options{SkipInvalid: skip})
		var fe *FormatError
		require.ErrorAs(t, err, &fe)
		assert.Contains(t, err.Error(), "squad-validation-truncated-60pct.parquet")
		assert.Contains(t, err.Error(), "corrupt parquet file")
	}
}

// The readers convert answer_start (code points) to bytes on contexts with accents, CJK and
// characters outside the BMP, and the three formats agree.
func TestNonASCIIOffsets(t *testing.T) {
	exs, rep, err := Read("testdata/nonascii.json", Options{})
	require.NoError(t, err)
	require.Len(t, exs, 8)
	assert.Equal(t, 8, rep.Kept)
	checkInvariants(t, exs)
	byID := map[string]Example{}
	for _, ex := range exs {
		byID[ex.ID] = ex
	}
	assert.Equal(t, Answer{Text: "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", Start: 86, ByteStart: strings.Index(byID["na-3"].Context, "𝔘")}, byID["na-3"].Answers[0])
	assert.Equal(t, Answer{Text: "約1400万人", Start: 14, ByteStart: 42}, byID["na-6"].Answers[0])
	assert.Equal(t, "  When did it open?", byID["na-1"].Question, "questions are kept as they are (lstrip is windowing's job)")
	assert.Equal(t, "Café_society", byID["na-1"].Title)
	na8 := byID["na-8"]
	assert.True(t, na8.IsImpossible())

	jl, _, err := ReadJSONL("testdata/nonascii.jsonl", Options{})
	require.NoError(t, err)
	assert.Equal(t, exs, jl)
}

func TestReadUnknownExtension(t *testing.T) {
	_, _, err := Read("train.csv", Options{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "unknown extension")
	_, _, err = Read("testdata/does-not-exist.json", Options{})
	require.ErrorIs(t, err, os.ErrNotExist)
}

// The JSON reader hands out the first article's examples before it has read the rest of the
// input: it streams.
func TestJSONStreams(t *testing.T) {
	first := `{"version":"1.1","data":[{"title":"t","paragraphs":[{"context":"abc def","qas":[{"id":"a","question":"q?","answers":[{"text":"def","answer_start":4}]}]}]},`
	r := NewJSONReader(io.MultiReader(strings.NewReader(first), errReader{}), "stream.json", Options{})
	ex, err := r.Next()
	require.NoError(t, err)
	assert.Equal(t, "a", ex.ID)
	_, err = r.Next()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "boom")
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("boom") }

func TestAllIterator(t *testing.T) {
	r, err := Open("testdata/nonascii.jsonl", Options{})
	require.NoError(t, err)
	defer r.Close()
	var ids []string
	for ex, err := range r.All() {
		require.NoError(t, err)
		ids = append(ids, ex.ID)
		if len(ids) == 3 {
			break
		}
	}
	assert.Equal(t, []string{"na-1", "na-2", "na-3"}, ids)
	ex, err := r.Next()
	require.NoError(t, err)
	assert.Equal(t, "na-4", ex.ID)
}
