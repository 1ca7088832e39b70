package weights

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// indexJSON is the layout of model.safetensors.index.json and pytorch_model.bin.index.json.
type indexJSON struct {
	Metadata  map[string]any    `json:"metadata"`
	WeightMap map[string]string `json:"weight_map"`
}

// shardedSet presents the shards named by an index as one Set.
type shardedSet struct {
	path   string
	owner  map[string]Set // tensor name -> the shard holding it
	shards []Set
}

// OpenIndex opens a sharded checkpoint through its index file (model.safetensors.index.json or
// pytorch_model.bin.index.json). Every shard is opened (mapped) up front and every name of the
// weight_map must exist in its shard. Tensors a shard holds beyond the weight_map are not
// exposed: the index is the authority on what the checkpoint contains.
func OpenIndex(path string) (Set, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var idx indexJSON
	if err := json.Unmarshal(raw, &idx); err != nil {
		return nil, fmt.Errorf("index %s: %w: %v", path, ErrFormat, err)
	}
	if len(idx.WeightMap) == 0 {
		return nil, fmt.Errorf("index %s: %w: empty or missing weight_map", path, ErrFormat)
	}
	s := &shardedSet{path: path, owner: map[string]Set{}}
	type opened struct {
		set   Set
		names map[string]bool
	}
	shards := map[string]opened{}
	dir := filepath.Dir(path)
	for _, name := range slices.Sorted(maps.Keys(idx.WeightMap)) {
		file := idx.WeightMap[name]
		shard, ok := shards[file]
		if !ok {
			set, err := openShard(dir, file)
			if err != nil {
				s.Close()
				return nil, fmt.Errorf("index %s: tensor %q: %w", path, name, err)
			}
			shard = opened{set: set, names: map[string]bool{}}
			for _, n := range set.Names() {
				shard.names[n] = true
			}
			shards[file] = shard
			s.shards = append(s.shards, set)
		}
		if !shard.names[name] {
			s.Close()
			return nil, fmt.Errorf("index %s: %w: tensor %q is mapped to %s, which does not contain it", path, ErrFormat, name, file)
		}
		s.owner[name] = shard.set
	}
	return s, nil
}

// openShard opens one shard named by the index. Names are confined to the index's folder so a
// crafted index cannot point at arbitrary files, and a shard cannot be another index.
func openShard(dir, file string) (Set, error) {
	if !filepath.IsLocal(file) || strings.HasSuffix(file, ".index.json") {
		return nil, fmt.Errorf("%w: shard name %q must be a file inside %s", ErrFormat, file, dir)
	}
	path := filepath.Join(dir, file)
	if strings.HasSuffix(file, ".safetensors") {
		return asSet(OpenSafetensors(path))
	}
	return asSet(OpenTorchBin(path))
}

// Names lists the weight_map names, sorted.
func (s *shardedSet) Names() []string { return slices.Sorted(maps.Keys(s.owner)) }

// Get reads the tensor from the shard the index names.
func (s *shardedSet) Get(name string) (Tensor, error) {
	shard, ok := s.owner[name]
	if !ok {
		return Tensor{}, fmt.Errorf("index %s: %q: %w", s.path, name, ErrNotFound)
	}
	return shard.Get(name)
}

// Close closes every shard.
func (s *shardedSet) Close() error {
	var errs []error
	for _, shard := range s.shards {
		errs = append(errs, shard.Close())
	}
	s.shards = nil
	return errors.Join(errs...)
}

// WriteShardedSafetensors saves tensors into dir the way HF save_pretrained does with
// max_shard_size: tensors (in name order) fill a shard until the next one would push it past
// maxShardBytes (a tensor larger than the limit gets a shard of its own), shards are named
// model-00001-of-0000N.safetensors and model.safetensors.index.json maps every name to its
// shard, with metadata.total_size the sum of tensor bytes. When everything fits in one shard
// only model.safetensors is written, as HF does. Each shard carries metadata.
//
// Shards are written before the index, each atomically, so the index never names a missing
// shard. Shard files of an earlier, differently sized save are not removed.
func WriteShardedSafetensors(dir string, tensors []Tensor, metadata map[string]string, maxShardBytes int64) error {
	sorted, err := sortedForWrite(tensors)
	if err != nil {
		return fmt.Errorf("write sharded safetensors in %s: %w", dir, err)
	}
	var shards [][]Tensor
	var cur, total int64
	for _, t := range sorted {
		size := int64(len(t.Data))
		if len(shards) == 0 || (len(shards[len(shards)-1]) > 0 && cur+size > maxShardBytes) {
			shards = append(shards, nil)
			cur = 0
		}
		shards[len(shards)-1] = append(shards[len(shards)-1], t)
		cur += size
		total += size
	}
	if len(shards) <= 1 {
		return WriteSafetensors(filepath.Join(dir, SafetensorsName), tensors, metadata)
	}
	idx := indexJSON{Metadata: map[string]any{"total_size": total}, WeightMap: map[string]string{}}
	for i, shard := range shards {
		file := fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, len(shards))
		if err := WriteSafetensors(filepath.Join(dir, file), shard, metadata); err != nil {
			return err
		}
		for _, t := range shard {
			idx.WeightMap[t.Name] = file
		}
	}
	return writeIndex(filepath.Join(dir, SafetensorsIndexName), idx)
}

// writeIndex writes the index as HF does: json.dumps(index, indent=2, sort_keys=True) + "\n".
func writeIndex(path string, idx indexJSON) error {
	err := writeAtomic(path, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(idx) // map keys come out sorted; Encode adds the final newline
	})
	if err != nil {
		return fmt.Errorf("write index %s: %w", path, err)
	}
	return nil
}
