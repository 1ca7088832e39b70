package weights

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/spanqa/spanqa/internal/fixtures"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFixtureBinEqualsSafetensors(t *testing.T) {
	for _, arch := range archs {
		t.Run(arch, func(t *testing.T) {
			dir := fixtures.Models(t, arch)
			st, err := OpenSafetensors(filepath.Join(dir, "model.safetensors"))
			require.NoError(t, err)
			defer st.Close()
			bin, err := OpenTorchBin(filepath.Join(dir, "pytorch_model.bin"))
			require.NoError(t, err)
			defer bin.Close()
			require.Equal(t, st.Names(), bin.Names())
			require.NotEmpty(t, st.Names())
			for _, name := range st.Names() {
				a := must(t)(st.Get(name))
				b := must(t)(bin.Get(name))
				assert.Equal(t, a.DType, b.DType, name)
				assert.Equal(t, a.Shape, b.Shape, name)
				assert.True(t, bytes.Equal(a.Data, b.Data), "%s differs", name)
				assert.Equal(t, name, b.Name)
			}
		})
	}
}

// mixedArchive writes an archive whose tensors exercise offsets, shared storages, strides,
// scalars, every storage type and a non-default stem.
func mixedArchive(t *testing.T) (string, map[string]Tensor) {
	f32 := make([]byte, 0, 24)
	for i := range 6 {
		f32 = binary.LittleEndian.AppendUint32(f32, uint32(i+1)<<20)
	}
	pkl := stateDictPickle([]torchTensor{
		{name: "whole", key: "0", storageType: "FloatStorage", numel: 6, size: []int64{2, 3}, stride: []int64{3, 1}},
		{name: "tail", key: "0", storageType: "FloatStorage", numel: 6, offset: 4, size: []int64{2}, stride: []int64{1}},
		{name: "transposed", key: "0", storageType: "FloatStorage", numel: 6, size: []int64{3, 2}, stride: []int64{1, 3}},
		{name: "column", key: "0", storageType: "FloatStorage", numel: 6, offset: 1, size: []int64{2, 1}, stride: []int64{3, 1}},
		{name: "broadcast", key: "0", storageType: "FloatStorage", numel: 6, offset: 2, size: []int64{2, 2}, stride: []int64{0, 1}},
		{name: "scalar", key: "0", storageType: "FloatStorage", numel: 6, offset: 5, size: nil, stride: nil},
		{name: "empty", key: "0", storageType: "FloatStorage", numel: 6, size: []int64{0, 3}, stride: []int64{3, 1}},
		{name: "long", key: "1", storageType: "LongStorage", numel: 2, size: []int64{2}, stride: []int64{1}},
		{name: "half", key: "2", storageType: "HalfStorage", numel: 1, size: []int64{1}, stride: []int64{1}},
		{name: "bf16", key: "3", storageType: "BFloat16Storage", numel: 1, size: []int64{1}, stride: []int64{1}},
		{name: "f64", key: "4", storageType: "DoubleStorage", numel: 1, size: []int64{1}, stride: []int64{1}},
		{name: "i32", key: "5", storageType: "IntStorage", numel: 1, size: []int64{1}, stride: []int64{1}},
		{name: "i8", key: "6", storageType: "CharStorage", numel: 1, size: []int64{1}, stride: []int64{1}},
		{name: "u8", key: "7", storageType: "ByteStorage", numel: 1, size: []int64{1}, stride: []int64{1}},
		{name: "bool", key: "8", storageType: "BoolStorage", numel: 1, size: []int64{1}, stride: []int64{1}},
	})
	el := func(i ...int) []byte {
		var b []byte
		for _, j := range i {
			b = append(b, f32[4*j:4*j+4]...)
		}
		return b
	}
	storages := map[string][]byte{
		"0": f32, "1": binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(nil, 1<<40), ^uint64(0)),
		"2": {0x00, 0x3c}, "3": {0x80, 0x3f}, "4": binary.LittleEndian.AppendUint64(nil, 0x400921fb54442d18),
		"5": {1, 0, 0, 0x80}, "6": {0xff}, "7": {0xfe}, "8": {1},
	}
	path := filepath.Join(t.TempDir(), "weird name.pt")
	writeTorchZip(t, path, "some_stem", pkl, storages)
	want := map[string]Tensor{
		"whole":      {DType: F32, Shape: []int64{2, 3}, Data: f32},
		"tail":       {DType: F32, Shape: []int64{2}, Data: el(4, 5)},
		"transposed": {DType: F32, Shape: []int64{3, 2}, Data: el(0, 3, 1, 4, 2, 5)},
		"column":     {DType: F32, Shape: []int64{2, 1}, Data: el(1, 4)},
		"broadcast":  {DType: F32, Shape: []int64{2, 2}, Data: el(2, 3, 2, 3)},
		"scalar":     {DType: F32, Shape: []int64{}, Data: el(5)},
		"empty":      {DType: F32, Shape: []int64{0, 3}, Data: []byte{}},
		"long":       {DType: I64, Shape: []int64{2}, Data: storages["1"]},
		"half":       {DType: F16, Shape: []int64{1}, Data: storages["2"]},
		"bf16":       {DType: BF16, Shape: []int64{1}, Data: storages["3"]},
		"f64":        {DType: F64, Shape: []int64{1}, Data: storages["4"]},
		"i32":        {DType: I32, Shape: []int64{1}, Data: storages["5"]},
		"i8":         {DType: I8, Shape: []int64{1}, Data: storages["6"]},
		"u8":         {DType: U8, Shape: []int64{1}, Data: storages["7"]},
		"bool":       {DType: BOOL, Shape: []int64{1}, Data: storages["8"]},
	}
	return path, want
}

func TestTorchBinViewsAndStrides(t *testing.T) {
	path, want := mixedArchive(t)
	f, err := OpenTorchBin(path)
	require.NoError(t, err)
	defer f.Close()
	assert.Len(t, f.Names(), len(want))
	for name, w := range want {
		got, err := f.Get(name)
		require.NoError(t, err, name)
		assert.Equal(t, w.DType, got.DType, name)
		assert.Equal(t, w.Shape, got.Shape, name)
		assert.Equal(t, w.Data, append([]byte{}, got.Data...), name)
		require.NoError(t, got.Validate(), name)
	}
	v, err := must(t)(f.Get("half")).Float32s()
	require.NoError(t, err)
	assert.Equal(t, []float32{1}, v)
	_, err = f.Get("missing")
	assert.ErrorIs(t, err, ErrNotFound)
}

func TestTorchBinParameterAndOrderedDict(t *testing.T) {
	// torch.save(model.state_dict()) pickles an OrderedDict carrying a _metadata attribute
	// (BUILD), and keep_vars=True state dicts hold Parameters.
	p := &pickleBuilder{}
	p.global("collections", "OrderedDict").op(')', 'R', '(')
	p.str("w").global("torch._utils", "_rebuild_parameter").op('(')
	p.tensor(torchTensor{key: "0", storageType: "FloatStorage", numel: 1, size: []int64{1}, stride: []int64{1}})
	p.op(0x88).global("collections", "OrderedDict").op(')', 'R', 't', 'R')
	p.op('u')
	p.op('}').str("_metadata").global("collections", "OrderedDict").op(')', 'R', '(').str("").op('}').str("version").int(1).op('s', 'u', 's', 'b')
	pkl := append([]byte{0x80, 2}, p.Bytes()...)
	pkl = append(pkl, '.')
	path := filepath.Join(t.TempDir(), "sd.bin")
	writeTorchZip(t, path, "sd", pkl, map[string][]byte{"0": {0, 0, 0x80, 0x3f}})
	f, err := OpenTorchBin(path)
	require.NoError(t, err)
	defer f.Close()
	assert.Equal(t, []string{"w"}, f.Names())
	v, err := must(t)(f.Get("w")).Float32s()
	require.NoError(t, err)
	assert.Equal(t, []float32{1}, v)
}

func TestTorchBinCompressedEntry(t *testing.T) {
	// Not what torch writes, but a re-zipped archive must still load (inflated on first Get).
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.CreateHeader(&zip.FileHeader{Name: "a/data.pkl", Method: zip.Deflate})
	w.Write(stateDictPickle([]torchTensor{{name: "x", key: "0", storageType: "IntStorage", numel: 2, size: []int64{2}, stride: []int64{1}}}))
	w, _ = zw.CreateHeader(&zip.FileHeader{Name: "a/data/0", Method: zip.Deflate})
	w.Write([]byte{7, 0, 0, 0, 8, 0, 0, 0})
	require.NoError(t, zw.Close())
	f, err := OpenTorchBin(writeRaw(t, "c.bin", buf.Bytes()))
	require.NoError(t, err)
	defer f.Close()
	v, err := must(t)(f.Get("x")).Int32s()
	require.NoError(t, err)
	assert.Equal(t, []int32{7, 8}, v)
}

// binErr opens data as a torch archive and returns the error, which must exist.
func binErr(t *testing.T, data []byte) error {
	t.Helper()
	path := writeRaw(t, "bad.bin", data)
	f, err := OpenTorchBin(path)
	if err == nil {
		f.Close()
		t.Fatal("corrupt archive opened without error")
	}
	assert.ErrorIs(t, err, ErrFormat)
	assert.ErrorContains(t, err, path, "error names the file")
	return err
}

func archiveBytes(t *testing.T, pkl []byte, storages map[string][]byte) []byte {
	return torchZip(t, "archive", pkl, storages)
}

func TestCorruptTorchBin(t *testing.T) {
	one := []torchTensor{{name: "x", key: "0", storageType: "FloatStorage", numel: 2, size: []int64{2}, stride: []int64{1}}}
	good := archiveBytes(t, stateDictPickle(one), map[string][]byte{"0": make([]byte, 8)})
	_, err := OpenTorchBin(writeRaw(t, "good.bin", good))
	require.NoError(t, err, "control case")

	evil := (&pickleBuilder{}).op(0x80, 2).global("os", "system").str("echo pwned").op(0x85, 'R', '.').Bytes()
	evilStack := (&pickleBuilder{}).op(0x80, 4).op(0x8c, 8).Bytes()
	evilStack = append(evilStack, "builtins"...)
	evilStack = append(append(append(evilStack, 0x8c, 4), "eval"...), 0x93, '.')
	bad := func(mut func(*torchTensor)) []byte {
		tt := one[0]
		mut(&tt)
		return archiveBytes(t, stateDictPickle([]torchTensor{tt}), map[string][]byte{"0": make([]byte, 8)})
	}
	cases := []struct {
		name, want string
		data       []byte
	}{
		{"empty", "not a zip", nil},
		{"legacy format", "legacy", []byte{0x80, 2, 0x8a, 0x0a}},
		{"truncated zip", "truncated", good[:len(good)/2]},
		{"truncated end", "truncated", good[:len(good)-1]},
		{"unknown global", "refusing unsupported global os.system", archiveBytes(t, evil, nil)},
		{"stack global", "refusing unsupported global builtins.eval", archiveBytes(t, evilStack, nil)},
		{"no data.pkl", "exactly one <stem>/data.pkl", archiveBytes(t, nil, nil)[0:0]},
		{"missing storage", "archive has no entry archive/data/0", archiveBytes(t, stateDictPickle(one), nil)},
		{"storage size", "holds 4 bytes, want 8", archiveBytes(t, stateDictPickle(one), map[string][]byte{"0": make([]byte, 4)})},
		{"view out of range", "exceeds storage", bad(func(x *torchTensor) { x.offset = 1 })},
		{"stride out of range", "exceeds storage", bad(func(x *torchTensor) { x.stride = []int64{2} })},
		{"rank mismatch", "do not match", bad(func(x *torchTensor) { x.stride = []int64{1, 1} })},
		{"broadcast bomb", "larger than its storage", bad(func(x *torchTensor) { x.size, x.stride = []int64{1 << 30, 1 << 30}, []int64{0, 0} })},
		{"negative stride", "negative stride", bad(func(x *torchTensor) { x.stride = []int64{-1} })},
		{"unsupported storage", "unsupported storage type torch.ShortStorage", bad(func(x *torchTensor) { x.storageType = "ShortStorage" })},
		{"truncated pickle", "unexpected end of pickle data", archiveBytes(t, stateDictPickle(one)[:len(stateDictPickle(one))-1], map[string][]byte{"0": make([]byte, 8)})},
		{"not a dict", "want a dict of tensors", archiveBytes(t, []byte{0x80, 2, 'K', 1, '.'}, nil)},
		{"non-tensor value", `entry "a" is a int64, not a tensor`, archiveBytes(t, []byte{0x80, 2, '}', 'X', 1, 0, 0, 0, 'a', 'K', 1, 's', '.'}, nil)},
		{"bad opcode", "unsupported opcode", archiveBytes(t, []byte{0x80, 2, 'i', '.'}, nil)},
		{"stack underflow", "stack underflow", archiveBytes(t, []byte{0x80, 2, 0x86, '.'}, nil)},
		{"no mark", "no MARK", archiveBytes(t, []byte{0x80, 2, 't', '.'}, nil)},
		{"unterminated global", "GLOBAL name is unterminated", archiveBytes(t, []byte{0x80, 2, 'c', 'o', 's'}, nil)},
		{"bad memo", "never stored", archiveBytes(t, []byte{0x80, 2, 'h', 9, '.'}, nil)},
	}
	cases[6].data = func() []byte { // an archive without data.pkl
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		zw.Create("archive/version")
		zw.Close()
		return buf.Bytes()
	}()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			assert.ErrorContains(t, binErr(t, c.data), c.want)
		})
	}
}

func TestLargeTorchBinIsMapped(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 200 MB")
	}
	const size = 200 << 20
	path := filepath.Join(t.TempDir(), "big.bin")
	fh, err := os.Create(path)
	require.NoError(t, err)
	zw := zip.NewWriter(fh)
	pkl := stateDictPickle([]torchTensor{{name: "big", key: "0", storageType: "ByteStorage", numel: size, size: []int64{size}, stride: []int64{1}}})
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "big/data.pkl", Method: zip.Store})
	require.NoError(t, err)
	w.Write(pkl)
	zeros := io.LimitReader(zeroReader{}, size)
	crc := crc32.NewIEEE()
	io.Copy(crc, io.LimitReader(zeroReader{}, size))
	w, err = zw.CreateRaw(&zip.FileHeader{Name: "big/data/0", Method: zip.Store, CRC32: crc.Sum32(),
		CompressedSize64: size, UncompressedSize64: size})
	require.NoError(t, err)
	_, err = io.Copy(w, zeros)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	require.NoError(t, fh.Close())

	var f *TorchFile
	var big Tensor
	grew := heapGrowth(func() {
		f, err = OpenTorchBin(path)
		require.NoError(t, err)
		big, err = f.Get("big")
		require.NoError(t, err)
	})
	defer f.Close()
	assert.Len(t, big.Data, size)
	assert.Less(t, grew, uint64(1<<20), "open+get of a 200 MB archive allocated %d heap bytes", grew)
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// fuzzArchive is a small fixed archive that fuzzed pickles resolve storages against, so they
// reach the tensor-building code and not just the opcode decoder.
func fuzzArchive(t testing.TB) ([]byte, map[string]*zip.File) {
	b := torchZip(t, "archive", nil, map[string][]byte{"0": make([]byte, 24), "1": make([]byte, 16)})
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	require.NoError(t, err)
	files := map[string]*zip.File{}
	for _, f := range zr.File {
		files[f.Name] = f
	}
	return b, files
}

func FuzzPickle(f *testing.F) {
	f.Add(stateDictPickle([]torchTensor{
		{name: "a", key: "0", storageType: "FloatStorage", numel: 6, size: []int64{3, 2}, stride: []int64{1, 3}},
		{name: "b", key: "1", storageType: "LongStorage", numel: 2, offset: 1, size: []int64{1}, stride: []int64{1}},
	}))
	f.Add([]byte{0x80, 2, '}', 'q', 0, '(', 'X', 1, 0, 0, 0, 'a', 'h', 0, 's', 0x8a, 2, 0xff, 0x7f, 'G', 0, 0, 0, 0, 0, 0, 0, 0, '.'})
	if zr, err := zip.OpenReader(filepath.Join(fixtures.FixturesDir(), "models", "bert", "pytorch_model.bin")); err == nil {
		if rc, err := zr.Open("pytorch_model/data.pkl"); err == nil {
			b, _ := io.ReadAll(rc)
			f.Add(b)
		}
		zr.Close()
	}
	b, files := fuzzArchive(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		l := &torchLoader{b: b, files: files, stem: "archive/", storages: map[string]*storageRef{}}
		obj, err := unpickle(data, unpickleHooks{allowGlobal: allowTorchGlobal, reduce: l.reduce, persistentLoad: l.persistentLoad})
		if err != nil {
			return
		}
		tensors, err := stateDict(obj)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error does not wrap ErrFormat: %v", err)
			}
			return
		}
		for name, ref := range tensors {
			tn, err := ref.materialize(name)
			if err != nil {
				t.Fatal(err)
			}
			if err := tn.Validate(); err != nil {
				t.Fatalf("built an invalid tensor: %v", err)
			}
		}
	})
}

func FuzzTorchZip(f *testing.F) {
	f.Add(torchZip(f, "archive", stateDictPickle([]torchTensor{
		{name: "a", key: "0", storageType: "FloatStorage", numel: 2, size: []int64{2}, stride: []int64{1}},
	}), map[string][]byte{"0": make([]byte, 8)}))
	f.Fuzz(func(t *testing.T, data []byte) {
		tensors, err := parseTorchZip(data)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error does not wrap ErrFormat: %v", err)
			}
			return
		}
		for name, ref := range tensors {
			if tn, err := ref.materialize(name); err == nil {
				if err := tn.Validate(); err != nil {
					t.Fatalf("built an invalid tensor: %v", err)
				}
			}
		}
	})
}
