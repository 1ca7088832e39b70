package tokenize

import (
	"hash/maphash"
	"sync"
)

// wordCache memoises the subword model's result for a pre-token (a normalised word for
// WordPiece, a raw pre-token for byte-level BPE). Natural text repeats a small set of words,
// so most lookups hit and the subword model runs once per distinct word. It is safe for
// concurrent use and bounded: a shard that reaches its limit is emptied, which keeps memory flat
// on endless streams of new words while recent words repopulate it quickly.
type wordCache[V any] struct {
	seed     maphash.Seed
	perShard int
	shards   [cacheShards]cacheShard[V]
}

// cacheShards splits the cache so that parallel encoders rarely contend on one lock.
const cacheShards = 32

// defaultCacheEntries bounds the total number of cached words (HF keeps about 10k per model;
// QA contexts have a long tail of rare words, so we keep more).
const defaultCacheEntries = 1 << 17

// maxCachedWordBytes keeps pathological words (hashes, base64, long chemical names) out of the
// cache: they are rarely repeated and would only evict useful entries.
const maxCachedWordBytes = 256

type cacheShard[V any] struct {
	mu sync.RWMutex
	m  map[string]V
}

func newWordCache[V any](entries int) *wordCache[V] {
	per := entries / cacheShards
	if per < 1 {
		per = 1
	}
	c := &wordCache[V]{seed: maphash.MakeSeed(), perShard: per}
	for i := range c.shards {
		c.shards[i].m = make(map[string]V)
	}
	return c
}

func (c *wordCache[V]) shard(key []byte) *cacheShard[V] {
	return &c.shards[maphash.Bytes(c.seed, key)%cacheShards]
}

// get returns the cached value for key. The []byte to string conversion in the map index does
// not allocate.
func (c *wordCache[V]) get(key []byte) (V, bool) {
	s := c.shard(key)
	s.mu.RLock()
	v, ok := s.m[string(key)]
	s.mu.RUnlock()
	return v, ok
}

// getString is get for a string key.
func (c *wordCache[V]) getString(key string) (V, bool) {
	s := &c.shards[maphash.String(c.seed, key)%cacheShards]
	s.mu.RLock()
	v, ok := s.m[key]
	s.mu.RUnlock()
	return v, ok
}

// put stores v for key unless the key is too long to be worth caching. v must not be modified
// afterwards: readers share it.
func (c *wordCache[V]) put(key []byte, v V) {
	if len(key) > maxCachedWordBytes {
		return
	}
	s := c.shard(key)
	s.mu.Lock()
	if len(s.m) >= c.perShard {
		s.m = make(map[string]V, c.perShard/4)
	}
	s.m[string(key)] = v
	s.mu.Unlock()
}
