// Package fuzzcorpus reads the seed corpora of Go fuzz targets (testdata/fuzz/<FuzzName>/*), so
// that ordinary tests can replay them too (the memory tests feed every seed to a reader or the
// server and check that nothing grows).
package fuzzcorpus

import (
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
