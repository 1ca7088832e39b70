package weights

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spanqa/spanqa/internal/fixtures"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readAll loads every tensor of a set (as copies, so they outlive Close).
func readAll(t *testing.T, s Set) map[string]Tensor {
	t.Helper()
	out := map[string]Tensor{}
	for _, name := range s.Names() {
		out[name] = must(t)(s.Get(name)).Clone()
	}
	return out
}

func fixtureTensors(t *testing.T, arch string) map[string]Tensor {
	f, err := OpenSafetensors(filepath.Join(fixtures.Models(t, arch), "model.safetensors"))
	require.NoError(t, err)
	defer f.Close()
	return readAll(t, f)
}

func values(m map[string]Tensor) []Tensor { return slices.Collect(maps.Values(m)) }

func TestShardedSafetensorsRoundTrip(t *testing.T) {
	want := fixtureTensors(t, "bert")
	dir := t.TempDir()
	require.NoError(t, WriteShardedSafetensors(dir, values(want), map[string]string{"format": "pt"}, 64<<10))

	raw, err := os.ReadFile(filepath.Join(dir, SafetensorsIndexName))
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(raw), "{\n  \"metadata\": {\n    \"total_size\": 199472\n  },\n  \"weight_map\": {\n    \"bert.embeddings.LayerNorm.bias\": \"model-00001-of-0000"), string(raw[:200]))
	assert.True(t, strings.HasSuffix(string(raw), "}\n}\n"))
	var idx indexJSON
	require.NoError(t, json.Unmarshal(raw, &idx))
	shards := map[string]int{}
	for _, f := range idx.WeightMap {
		shards[f]++
	}
	require.Greater(t, len(shards), 1)
	for file, count := range shards {
		shard, err := OpenSafetensors(filepath.Join(dir, file))
		require.NoError(t, err)
		assert.Equal(t, map[string]string{"format": "pt"}, shard.Metadata())
		size := 0
		for _, name := range shard.Names() {
			size += len(must(t)(shard.Get(name)).Data)
		}
		// Only a tensor larger than the limit (the 128000-byte word embedding) may overflow it,
		// alone in its shard.
		assert.True(t, size <= 64<<10 || count == 1, "%s: %d bytes in %d tensors", file, size, count)
		shard.Close()
	}

	s, err := Open(dir)
	require.NoError(t, err)
	defer s.Close()
	got := readAll(t, s)
	require.Equal(t, len(want), len(got))
	for name, w := range want {
		assert.Equal(t, w.Shape, got[name].Shape, name)
		assert.True(t, bytes.Equal(w.Data, got[name].Data), name)
	}
	_, err = s.Get("nope")
	assert.ErrorIs(t, err, ErrNotFound)
}

func TestShardedSingleShardWritesPlainFile(t *testing.T) {
	dir := t.TempDir()
	x := must(t)(FromFloat32("x", []int64{1}, []float32{1}))
	require.NoError(t, WriteShardedSafetensors(dir, []Tensor{x}, nil, 1<<30))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1)
	assert.Equal(t, SafetensorsName, entries[0].Name())
}

func TestShardedTorchBinIndex(t *testing.T) {
	want := fixtureTensors(t, "roberta")
	dir := t.TempDir()
	// Split the fixture into two .bin shards, each a torch.save archive with its own stem.
	names := slices.Sorted(maps.Keys(want))
	idx := indexJSON{Metadata: map[string]any{"total_size": 0}, WeightMap: map[string]string{}}
	for shard, part := range [][]string{names[:len(names)/2], names[len(names)/2:]} {
		file := fmt.Sprintf("pytorch_model-%05d-of-00002.bin", shard+1)
		var tts []torchTensor
		storages := map[string][]byte{}
		for i, n := range part {
			w := want[n]
			key := fmt.Sprint(i)
			stride := make([]int64, len(w.Shape))
			acc := int64(1)
			for d := len(w.Shape) - 1; d >= 0; d-- {
				stride[d] = acc
				acc *= w.Shape[d]
			}
			tts = append(tts, torchTensor{name: n, key: key, storageType: "FloatStorage", numel: w.Numel(), size: w.Shape, stride: stride})
			storages[key] = w.Data
			idx.WeightMap[n] = file
		}
		writeTorchZip(t, filepath.Join(dir, file), strings.TrimSuffix(file, ".bin"), stateDictPickle(tts), storages)
	}
	require.NoError(t, writeIndex(filepath.Join(dir, TorchBinIndexName), idx))

	s, err := Open(dir)
	require.NoError(t, err)
	defer s.Close()
	got := readAll(t, s)
	require.Equal(t, len(want), len(got))
	for name, w := range want {
		assert.Equal(t, w.Shape, got[name].Shape, name)
		assert.True(t, bytes.Equal(w.Data, got[name].Data), name)
	}
}

func TestBadIndex(t *testing.T) {
	dir := t.TempDir()
	x := must(t)(FromFloat32("x", []int64{1}, []float32{1}))
	require.NoError(t, WriteSafetensors(filepath.Join(dir, "a.safetensors"), []Tensor{x}, nil))
	for name, c := range map[string]struct{ index, want string }{
		"traversal":     {`{"weight_map":{"x":"../a.safetensors"}}`, "must be a file inside"},
		"absolute":      {`{"weight_map":{"x":"/etc/passwd"}}`, "must be a file inside"},
		"missing shard": {`{"weight_map":{"x":"b.safetensors"}}`, "b.safetensors"},
		"missing name":  {`{"weight_map":{"y":"a.safetensors"}}`, `tensor "y" is mapped to a.safetensors, which does not contain it`},
		"empty":         {`{"metadata":{}}`, "empty or missing weight_map"},
		"bad json":      {`{"weight_map":`, "invalid weight file"},
	} {
		path := filepath.Join(dir, SafetensorsIndexName)
		require.NoError(t, os.WriteFile(path, []byte(c.index), 0o644))
		_, err := OpenIndex(path)
		assert.ErrorContains(t, err, c.want, name)
		assert.ErrorContains(t, err, path, name)
	}
}

func TestOpenPreference(t *testing.T) {
	src := fixtures.Models(t, "bert")
	dir := t.TempDir()
	link := func(name string) {
		require.NoError(t, os.Symlink(filepath.Join(src, name), filepath.Join(dir, name)))
	}
	_, err := Open(dir)
	assert.ErrorIs(t, err, fs.ErrNotExist)

	link(TorchBinName)
	s, err := Open(dir)
	require.NoError(t, err)
	assert.IsType(t, &TorchFile{}, s)
	s.Close()

	x := must(t)(FromFloat32("x", []int64{1}, []float32{1}))
	require.NoError(t, WriteShardedSafetensors(dir, []Tensor{x, must(t)(FromFloat32("y", []int64{1}, []float32{2}))}, nil, 1))
	s, err = Open(dir)
	require.NoError(t, err)
	assert.IsType(t, &shardedSet{}, s, "a safetensors index beats pytorch_model.bin")
	assert.Equal(t, []string{"x", "y"}, s.Names())
	s.Close()

	link(SafetensorsName)
	s, err = Open(dir)
	require.NoError(t, err)
	assert.IsType(t, &File{}, s, "model.safetensors beats everything")
	assert.Contains(t, s.Names(), "qa_outputs.weight")
	s.Close()
}

func TestOpenFixtureFolders(t *testing.T) {
	for _, arch := range archs {
		s, err := Open(fixtures.Models(t, arch))
		require.NoError(t, err, arch)
		for _, name := range s.Names() {
			tn := must(t)(s.Get(name))
			require.NoError(t, tn.Validate())
			assert.Equal(t, F32, tn.DType)
		}
		require.NoError(t, s.Close())
	}
}
