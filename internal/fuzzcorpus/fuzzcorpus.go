// Package fuzzcorpus reads the seed corpora of Go fuzz targets (testdata/fuzz/<FuzzName>/*), so
// that ordinary tests can replay them too (the memory tests feed every seed to a reader or the
// server and check that nothing grows).
package fuzzcorpus

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Read returns the []byte inputs of every file in dir, each in the "go test fuzz v1" format
// with one []byte value.
func Read(t testing.TB, dir string) [][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no seeds in %s", dir)
	var out [][]byte
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		lines := strings.SplitN(string(data), "\n", 3)
		require.Equal(t, "go test fuzz v1", lines[0], f)
		q, ok := strings.CutPrefix(strings.TrimSuffix(lines[1], ")"), "[]byte(")
		require.True(t, ok, f)
		v, err := strconv.Unquote(q)
		require.NoError(t, err, f)
		out = append(out, []byte(v))
	}
	return out
}

// Mutate returns a copy of b damaged one to four times at random places (a byte replaced, a
// byte deleted, or the rest cut off): the random corruption the memory tests feed to readers
// and the server beside the seeds themselves.
func Mutate(rng *rand.Rand, b []byte) []byte {
	b = bytes.Clone(b)
	for range 1 + rng.IntN(4) {
		if len(b) == 0 {
			break
		}
		switch i := rng.IntN(len(b)); rng.IntN(3) {
		case 0:
			b[i] = byte(rng.IntN(256))
		case 1:
			b = append(b[:i], b[i+1:]...)
		default:
			b = b[:i]
		}
	}
	return b
}
