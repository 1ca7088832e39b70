package weights

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// pickleBuilder emits pickle opcodes the way torch.save (protocol 2) does, so tests can build
// archives with strided views, shared storages and hostile content.
type pickleBuilder struct{ bytes.Buffer }

func (p *pickleBuilder) op(b ...byte) *pickleBuilder { p.Write(b); return p }

func (p *pickleBuilder) str(s string) *pickleBuilder {
	p.WriteByte('X')
	binary.Write(p, binary.LittleEndian, uint32(len(s)))
	p.WriteString(s)
	return p
}

func (p *pickleBuilder) global(module, name string) *pickleBuilder {
	p.WriteByte('c')
	p.WriteString(module + "\n" + name + "\n")
	return p
}

func (p *pickleBuilder) int(v int64) *pickleBuilder {
	switch {
	case v >= 0 && v < 256:
		p.op('K', byte(v))
	case v >= 0 && v < 65536:
		p.op('M', byte(v), byte(v>>8))
	case v >= -1<<31 && v < 1<<31:
		p.WriteByte('J')
		binary.Write(p, binary.LittleEndian, int32(v))
	default:
		p.op(0x8a, 8)
		binary.Write(p, binary.LittleEndian, v)
	}
	return p
}

func (p *pickleBuilder) ints(vs []int64) *pickleBuilder {
	p.op('(')
	for _, v := range vs {
		p.int(v)
	}
	return p.op('t')
}

// torchTensor describes one state_dict entry: a view of a storage.
type torchTensor struct {
	name, key, storageType string
	numel, offset          int64
	size, stride           []int64
}

// tensor emits _rebuild_tensor_v2(persistent storage, offset, size, stride, False, OrderedDict()).
func (p *pickleBuilder) tensor(t torchTensor) *pickleBuilder {
	p.global("torch._utils", "_rebuild_tensor_v2").op('(')
	p.op('(').str("storage").global("torch", t.storageType).str(t.key).str("cpu").int(t.numel).op('t', 'Q')
	p.int(t.offset).ints(t.size).ints(t.stride).op(0x89)
	p.global("collections", "OrderedDict").op(')', 'R')
	return p.op('t', 'R')
}

// stateDict emits a protocol-2 pickle of {name: tensor, ...}.
func stateDictPickle(ts []torchTensor) []byte {
	p := &pickleBuilder{}
	p.op(0x80, 2, '}', '(')
	for _, t := range ts {
		p.str(t.name).tensor(t)
	}
	p.op('u', '.')
	return p.Bytes()
}

// torchZip builds a torch.save-style archive: <stem>/data.pkl, <stem>/data/<key> stored
// uncompressed, <stem>/version.
func torchZip(t testing.TB, stem string, pkl []byte, storages map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	add := func(name string, data []byte) {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: stem + "/" + name, Method: zip.Store})
		require.NoError(t, err)
		_, err = w.Write(data)
		require.NoError(t, err)
	}
	add("data.pkl", pkl)
	for _, key := range slices.Sorted(maps.Keys(storages)) {
		add("data/"+key, storages[key])
	}
	add("version", []byte("3\n"))
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

// writeTorchZip writes torchZip's archive to path.
func writeTorchZip(t testing.TB, path, stem string, pkl []byte, storages map[string][]byte) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, torchZip(t, stem, pkl, storages), 0o644))
}

// writeRaw writes bytes to a fresh file in a temp dir and returns its path.
func writeRaw(t testing.TB, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, data, 0o644))
	return path
}

// safetensorsBytes assembles a file from a header string and a data section.
func safetensorsBytes(hdr string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(hdr)))
	return append(append(b, hdr...), data...)
}

// must is a test shorthand for constructors returning (Tensor, error): must(t)(FromX(...)).
func must(t testing.TB) func(Tensor, error) Tensor {
	return func(tn Tensor, err error) Tensor {
		t.Helper()
		require.NoError(t, err)
		return tn
	}
}
