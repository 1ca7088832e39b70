package squad

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/spanqa/spanqa/internal/fuzzcorpus"
)

func heapAndGoroutines() (uint64, int) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse, runtime.NumGoroutine()
}

// TestReadersMemoryFlat reads thousands of corrupted JSON, JSON Lines and parquet files (the
// fuzz corpora, randomly damaged): every failure is a *FormatError or *ExampleError, and
// goroutines and the heap stay where they were, also for readers dropped after their error
// without Close.
func TestReadersMemoryFlat(t *testing.T) {
	jsonIn := fuzzcorpus.Read(t, "testdata/fuzz/FuzzJSONReader")
	pq := append(fuzzcorpus.Read(t, "testdata/fuzz/FuzzParquetReader"), seedParquetFiles(t)...)
	rng := rand.New(rand.NewPCG(3, 4))
	mutate := func(b []byte) []byte { return fuzzcorpus.Mutate(rng, b) }
	// readAll reads r to its end or first error; closing is skipped for every other reader.
	readAll := func(r *Reader, close bool) {
		for {
			_, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				requireNamedError(t, err)
				break
			}
		}
		if close {
			require.NoError(t, r.Close())
		}
	}
	round := func(n int) {
		for i := range n {
			j := mutate(jsonIn[i%len(jsonIn)])
			readAll(NewJSONReader(bytes.NewReader(j), "fuzz.json", Options{SkipInvalid: i%3 == 0}), i%2 == 0)
			readAll(NewJSONLReader(bytes.NewReader(j), "fuzz.jsonl", Options{SkipInvalid: i%3 == 0}), i%2 == 0)
			p := mutate(pq[i%len(pq)])
			r, err := NewParquetReader(bytes.NewReader(p), int64(len(p)), "fuzz.parquet", Options{SkipInvalid: i%3 == 0})
			if err != nil {
				requireNamedError(t, err)
				continue
			}
			readAll(r, i%2 == 0)
		}
	}
	round(200)
	heap0, g0 := heapAndGoroutines()
	round(1000)
	heap1, g1 := heapAndGoroutines()
	t.Logf("1000 corrupted inputs per reader: goroutines %d -> %d, heap in use %d -> %d KiB", g0, g1, heap0>>10, heap1>>10)
	require.LessOrEqual(t, g1, g0, "goroutines")
	require.LessOrEqual(t, heap1, heap0+4<<20, "heap in use")
}
