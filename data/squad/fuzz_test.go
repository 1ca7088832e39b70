package squad

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// drain reads every example, checks the Example invariants and the error types.
func drain(t *testing.T, r *Reader) {
	var exs []Example
	for {
		ex, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var fe *FormatError
			var ee *ExampleError
			if !errors.As(err, &fe) && !errors.As(err, &ee) {
				t.Fatalf("unexpected error type %T: %v", err, err)
			}
			break
		}
		exs = append(exs, ex)
	}
	checkInvariants(t, exs)
	rep := r.Report()
	require.Equal(t, rep.Examples, rep.Kept+rep.Skipped)
	require.Equal(t, len(exs), rep.Kept)
}

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
		for _, skip := range []bool{false, true} {
			drain(t, NewJSONReader(bytes.NewReader(data), "fuzz.json", Options{SkipInvalid: skip}))
			drain(t, NewJSONLReader(bytes.NewReader(data), "fuzz.jsonl", Options{SkipInvalid: skip}))
		}
	})
}
