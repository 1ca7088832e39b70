package weights

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/spanqa/spanqa/internal/fixtures"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var archs = []string{"bert", "roberta", "deberta-v3", "longformer"}

// allDTypes is one small tensor of every dtype, with awkward shapes (scalar, empty) included.
func allDTypes(t testing.TB) []Tensor {
	m := must(t)
	f16 := must(t)(must(t)(FromFloat32("f16", []int64{3}, []float32{1, -0.5, 65504})).Cast(F16))
	bf16 := must(t)(must(t)(FromFloat32("bf16", []int64{1, 2}, []float32{3.140625, -1e30})).Cast(BF16))
	return []Tensor{
		m(FromFloat32("f32", []int64{2, 3}, []float32{1, 2, 3, -4, float32(math.Inf(1)), 0.1})),
		f16, bf16,
		m(FromFloat64("f64", []int64{2}, []float64{math.Pi, -1e300})),
		m(FromInt64("i64", []int64{}, []int64{-1 << 60})),
		m(FromInt32("i32", []int64{2, 0}, nil)),
		m(FromInt8("i8", []int64{3}, []int8{-128, 0, 127})),
		m(FromUint8("u8", []int64{1}, []uint8{255})),
		m(FromBool("bool", []int64{2}, []bool{true, false})),
	}
}

func TestRoundTripEveryDType(t *testing.T) {
	path := filepath.Join(t.TempDir(), "all.safetensors")
	in := allDTypes(t)
	require.NoError(t, WriteSafetensors(path, in, map[string]string{"format": "pt", "note": `<&">`}))
	f, err := OpenSafetensors(path)
	require.NoError(t, err)
	defer f.Close()
	assert.Equal(t, map[string]string{"format": "pt", "note": `<&">`}, f.Metadata())
	assert.Equal(t, []string{"bf16", "bool", "f16", "f32", "f64", "i32", "i64", "i8", "u8"}, f.Names())
	for _, want := range in {
		got, err := f.Get(want.Name)
		require.NoError(t, err)
		assert.Equal(t, want.DType, got.DType, want.Name)
		assert.Equal(t, want.Shape, got.Shape, want.Name)
		assert.True(t, bytes.Equal(want.Data, got.Data), want.Name)
	}
	_, err = f.Get("nope")
	assert.ErrorIs(t, err, ErrNotFound)
	assert.ErrorContains(t, err, path)

	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	n := binary.LittleEndian.Uint64(raw)
	assert.Zero(t, n%8, "header padded to a multiple of 8")
	assert.True(t, strings.HasPrefix(string(raw[8:]), `{"__metadata__":{"format":"pt","note":"<&\">"},"bf16":`), string(raw[8:80]))
	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), st.Mode().Perm())

	require.NoError(t, f.Close())
	_, err = f.Get("f32")
	assert.ErrorContains(t, err, "closed")
	assert.NoError(t, f.Close(), "double close is harmless")
}

func TestWriteRejectsBadTensors(t *testing.T) {
	dir := t.TempDir()
	ok := must(t)(FromFloat32("a", []int64{1}, []float32{1}))
	for name, ts := range map[string][]Tensor{
		"duplicate":  {ok, ok},
		"short data": {{Name: "b", DType: F32, Shape: []int64{2}, Data: make([]byte, 4)}},
		"no dtype":   {{Name: "c", Shape: []int64{1}, Data: make([]byte, 4)}},
		"empty name": {{DType: U8, Shape: []int64{1}, Data: []byte{1}}},
		"reserved":   {{Name: "__metadata__", DType: U8, Shape: []int64{1}, Data: []byte{1}}},
	} {
		path := filepath.Join(dir, "x.safetensors")
		assert.Error(t, WriteSafetensors(path, ts, nil), name)
		assert.NoFileExists(t, path, name)
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries, "no temp files left behind")
}

func TestWriteOverMappedFile(t *testing.T) {
	// Atomic rename: rewriting a file that is currently mapped leaves the old views intact.
	path := filepath.Join(t.TempDir(), "m.safetensors")
	require.NoError(t, WriteSafetensors(path, []Tensor{must(t)(FromInt64("x", []int64{1}, []int64{7}))}, nil))
	f, err := OpenSafetensors(path)
	require.NoError(t, err)
	defer f.Close()
	old, err := f.Get("x")
	require.NoError(t, err)
	require.NoError(t, WriteSafetensors(path, []Tensor{must(t)(FromInt64("x", []int64{1}, []int64{8}))}, nil))
	v, err := old.Int64s()
	require.NoError(t, err)
	assert.Equal(t, []int64{7}, v)
}

func TestFixtureSafetensorsRewriteIsByteIdentical(t *testing.T) {
	for _, arch := range archs {
		dir := fixtures.Models(t, arch)
		for _, file := range []string{"model.safetensors", "golden.safetensors", "trajectory_final.safetensors"} {
			src := filepath.Join(dir, file)
			f, err := OpenSafetensors(src)
			require.NoError(t, err, src)
			var ts []Tensor
			for _, name := range f.Names() {
				ts = append(ts, must(t)(f.Get(name)))
			}
			out := filepath.Join(t.TempDir(), file)
			// Streams straight from the source mapping.
			require.NoError(t, WriteSafetensors(out, ts, f.Metadata()), src)
			want, err := os.ReadFile(src)
			require.NoError(t, err)
			got, err := os.ReadFile(out)
			require.NoError(t, err)
			assert.True(t, bytes.Equal(want, got), "%s rewritten differs", src)
			require.NoError(t, f.Close())
		}
	}
}

func TestFixtureBertMetadata(t *testing.T) {
	f, err := OpenSafetensors(filepath.Join(fixtures.Models(t, "bert"), "model.safetensors"))
	require.NoError(t, err)
	defer f.Close()
	assert.Equal(t, map[string]string{"format": "pt"}, f.Metadata())
	q, err := f.Get("qa_outputs.weight")
	require.NoError(t, err)
	assert.Equal(t, []int64{2, 32}, q.Shape)
	assert.Equal(t, F32, q.DType)
}

func TestFixtureGoldenSafetensors(t *testing.T) {
	for _, arch := range archs {
		f, err := OpenSafetensors(filepath.Join(fixtures.Models(t, arch), "golden.safetensors"))
		require.NoError(t, err)
		assert.Nil(t, f.Metadata(), "golden has no __metadata__")
		ids := must(t)(f.Get("input_ids"))
		assert.Equal(t, I64, ids.DType)
		assert.Equal(t, []int64{3, 45}, ids.Shape)
		v, err := ids.Int64s()
		require.NoError(t, err)
		for _, id := range v {
			assert.True(t, id >= 0 && id < 1000, "token id %d", id)
		}
		mask, err := must(t)(f.Get("attention_mask")).Int64s()
		require.NoError(t, err)
		real := 0
		for _, m := range mask {
			real += int(m)
		}
		assert.Equal(t, 45+30+19, real, "real_lengths from the README")

		s64 := must(t)(f.Get("start_logits_f64"))
		assert.Equal(t, F64, s64.DType)
		f64, err := s64.Float64s()
		require.NoError(t, err)
		f32, err := must(t)(f.Get("start_logits")).Float32s()
		require.NoError(t, err)
		require.Len(t, f32, 3*45)
		for i := range f32 {
			assert.InDelta(t, f64[i], float64(f32[i]), 1e-5, "%s start logit %d", arch, i)
		}
		hs := must(t)(f.Get("last_hidden_state"))
		assert.Equal(t, []int64{3, 45, 32}, hs.Shape)
		require.NoError(t, f.Close())
	}
}

// corrupt runs OpenSafetensors on data and returns the error, which must exist.
func corrupt(t *testing.T, data []byte) error {
	t.Helper()
	path := writeRaw(t, "bad.safetensors", data)
	f, err := OpenSafetensors(path)
	if err == nil {
		f.Close()
		t.Fatalf("corrupt file opened without error")
	}
	assert.ErrorIs(t, err, ErrFormat)
	assert.ErrorContains(t, err, path, "error names the file")
	return err
}

func TestCorruptSafetensors(t *testing.T) {
	good := `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[1],"data_offsets":[8,9]}}`
	data := make([]byte, 9)
	f, err := OpenSafetensors(writeRaw(t, "good.safetensors", safetensorsBytes(good, data)))
	require.NoError(t, err, "control case")
	f.Close()

	cases := []struct {
		name, want string
		data       []byte
	}{
		{"empty file", "shorter than the 8-byte", nil},
		{"truncated length", "shorter than the 8-byte", []byte{1, 2, 3}},
		{"truncated header", "exceeds the", safetensorsBytes(good, data)[:50]},
		{"huge header length", "header length 4611686018427387904 exceeds", binary.LittleEndian.AppendUint64(nil, 1<<62)},
		{"bad json", "malformed header JSON", safetensorsBytes(`{"a":{"dtype":"F32",`+strings.Repeat(" ", 8), data)},
		{"not an object", "want an object", safetensorsBytes(`[1,2,3]`, nil)},
		{"trailing garbage", "trailing data", safetensorsBytes(`{}      x`, nil)},
		{"not utf8", "UTF-8", safetensorsBytes("{\"\xff\":1}", nil)},
		{"unknown dtype", `tensor "a": ` + ErrFormat.Error() + `: unsupported dtype "F8_E4M3"`,
			safetensorsBytes(`{"a":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}}`, data[:2])},
		{"wrong size", `tensor "a": F32 shape [3] needs 12 bytes but data_offsets [0 8] span 8`,
			safetensorsBytes(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, data[:8])},
		{"overlap", `tensor "b": data_offsets [4,5] overlap tensor "a"`,
			safetensorsBytes(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[1],"data_offsets":[4,5]}}`, data[:8])},
		{"gap", `tensor "b": data_offsets [8,9] leave a gap after byte 4`,
			safetensorsBytes(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[1],"data_offsets":[8,9]}}`, data)},
		{"past the end", `tensor "b": data_offsets [8,9] run past the 8-byte data section`,
			safetensorsBytes(good, data[:8])},
		{"extra data", "tensors cover 9 bytes but the data section has 10", safetensorsBytes(good, make([]byte, 10))},
		{"missing field", `tensor "a"`, safetensorsBytes(`{"a":{"dtype":"F32","shape":[2]}}`, data[:8])},
		{"negative dim", "negative dimension", safetensorsBytes(`{"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,0]}}`, nil)},
		{"reversed offsets", "bad data_offsets", safetensorsBytes(`{"a":{"dtype":"U8","shape":[0],"data_offsets":[1,0]}}`, nil)},
		{"duplicate name", `tensor "a" appears twice`, safetensorsBytes(`{"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0]},"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}`, nil)},
		{"bad metadata", "__metadata__ must map strings to strings", safetensorsBytes(`{"__metadata__":{"x":1}}`, nil)},
		{"shape overflow", "too many elements", safetensorsBytes(`{"a":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,0]}}`, nil)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			assert.ErrorContains(t, corrupt(t, c.data), c.want)
		})
	}
}

func TestEmptyAndZeroSizeTensors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "z.safetensors")
	require.NoError(t, WriteSafetensors(path, nil, nil))
	f, err := OpenSafetensors(path)
	require.NoError(t, err)
	assert.Empty(t, f.Names())
	f.Close()
	raw, _ := os.ReadFile(path)
	assert.Equal(t, "{}      ", string(raw[8:]))

	z := []Tensor{
		{Name: "e1", DType: F32, Shape: []int64{0, 4}, Data: nil},
		{Name: "e2", DType: I64, Shape: []int64{0}, Data: []byte{}},
		must(t)(FromUint8("x", []int64{1}, []uint8{5})),
	}
	require.NoError(t, WriteSafetensors(path, z, nil))
	f, err = OpenSafetensors(path)
	require.NoError(t, err)
	defer f.Close()
	e1 := must(t)(f.Get("e1"))
	assert.Empty(t, e1.Data)
	assert.Equal(t, []int64{0, 4}, e1.Shape)
}

// heapGrowth reports how many bytes the Go heap allocated while fn ran.
func heapGrowth(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestLargeFileIsMappedNotCopied(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 400 MB")
	}
	const size = 200 << 20
	dir := t.TempDir()
	path := filepath.Join(dir, "big.safetensors")
	hdr := `{"big":{"dtype":"F32","shape":[52428800],"data_offsets":[0,209715200]}}`
	hdr += strings.Repeat(" ", (8-len(hdr)%8)%8)
	fh, err := os.Create(path)
	require.NoError(t, err)
	_, err = fh.Write(safetensorsBytes(hdr, nil))
	require.NoError(t, err)
	// A sparse tail of zeros: cheap to create, but mapping it still covers 200 MB.
	require.NoError(t, fh.Truncate(int64(8+len(hdr)+size)))
	_, err = fh.WriteAt([]byte{1, 2, 3, 4}, int64(8+len(hdr)+size-4))
	require.NoError(t, err)
	require.NoError(t, fh.Close())

	var f *File
	var big Tensor
	var sum byte
	grew := heapGrowth(func() {
		f, err = OpenSafetensors(path)
		require.NoError(t, err)
		big, err = f.Get("big")
		require.NoError(t, err)
		for i := 0; i < len(big.Data); i += 4096 { // touch every page
			sum += big.Data[i]
		}
	})
	require.Len(t, big.Data, size)
	assert.Equal(t, []byte{1, 2, 3, 4}, big.Data[size-4:])
	assert.Less(t, grew, uint64(1<<20), "open+get of a 200 MB file allocated %d heap bytes", grew)

	out := filepath.Join(dir, "copy.safetensors")
	grew = heapGrowth(func() {
		require.NoError(t, WriteSafetensors(out, []Tensor{big}, nil))
	})
	assert.Less(t, grew, uint64(4<<20), "writing 200 MB allocated %d heap bytes; data must be streamed", grew)
	require.NoError(t, f.Close())
	st, err := os.Stat(out)
	require.NoError(t, err)
	assert.Equal(t, int64(8+len(hdr)+size), st.Size())
}

func TestErrorsAreDistinguishable(t *testing.T) {
	_, err := OpenSafetensors(filepath.Join(t.TempDir(), "missing.safetensors"))
	assert.True(t, errors.Is(err, os.ErrNotExist))
	assert.False(t, errors.Is(err, ErrFormat))
}

func FuzzSafetensorsHeader(f *testing.F) {
	f.Add(safetensorsBytes(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, make([]byte, 8)))
	f.Add(safetensorsBytes(`{"__metadata__":{"format":"pt"},"a":{"dtype":"BF16","shape":[],"data_offsets":[0,2]}}`, make([]byte, 2)))
	f.Add(safetensorsBytes(`{"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0]},"b":{"dtype":"I8","shape":[1,1],"data_offsets":[0,1]}}`, make([]byte, 1)))
	if b, err := os.ReadFile(filepath.Join(fixtures.FixturesDir(), "models", "bert", "golden.safetensors")); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		hdr, err := parseSafetensors(data)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error does not wrap ErrFormat: %v", err)
			}
			return
		}
		file := &File{path: "fuzz", hdr: hdr, data: data}
		for _, name := range file.Names() {
			tn, err := file.Get(name)
			if err != nil {
				t.Fatal(err)
			}
			if err := tn.Validate(); err != nil {
				t.Fatalf("accepted an invalid tensor: %v", err)
			}
		}
	})
}
