package store

import (
	"strings"
	"sync"
)

// DefaultCacheBytes bounds the metadata cache when Options.CacheBytes is 0.
const DefaultCacheBytes = 32 << 20

// cacheEntryOverhead approximates map entry, header and decoded-struct
// cost on top of the key and raw sizes.
const cacheEntryOverhead = 160

// metaCache holds decoded records by backend key: keychains, packages,
// grants and sealed secret records (ciphertext only; plaintext is never
// cached). Absent records are cached too (v == nil), since the hot path
// asks "does this key have a value" more often than it changes.
//
// Correctness rests on two rules: the store invalidates every key it
// writes after the write commits, and a fill that read the backend before
// such an invalidation is dropped (gen changed). With a shared database
// other processes write too: their changes arrive as notifications
// (invalidate, flush), and while that channel is down the cache is
// distrusted: every read goes to the database and nothing is filled.
type metaCache struct {
	mu       sync.RWMutex
	gen      uint64
	distrust bool
	m        map[string]cacheEntry
	fifo     []string // insertion order for eviction; may name keys since dropped
	head     int      // fifo[:head] are evicted
	bytes    int64
	max      int64
}

type cacheEntry struct {
	v    any // nil = known absent
	size int64
}

func newMetaCache(max int64) *metaCache {
	if max <= 0 {
		return nil
	}
	return &metaCache{m: make(map[string]cacheEntry), max: max}
}

// get returns the cached value (found reports whether the key is cached at
// all) and the generation to pass to put after a miss.
func (c *metaCache) get(k []byte) (v any, found bool, gen uint64) {
	if c == nil {
		return nil, false, 0
	}
	c.mu.RLock()
	e, ok := c.m[string(k)]
	gen = c.gen
	if c.distrust {
		ok = false
	}
	c.mu.RUnlock()
	return e.v, ok, gen
}

// put stores v unless a write invalidated anything since gen was read.
func (c *metaCache) put(k []byte, v any, size int, gen uint64) {
	if c == nil {
		return
	}
	sz := int64(len(k)+size) + cacheEntryOverhead
	if sz > c.max/8 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen || c.distrust {
		return
	}
	ks := string(k)
	if old, ok := c.m[ks]; ok {
		delete(c.m, ks)
		c.bytes -= old.size
	}
	// A key may sit in the queue twice; every cached key sits in it at
	// least once, so nothing escapes eviction.
	c.fifo = append(c.fifo, ks)
	// Evict oldest first: cheap, and fair enough for records that are
	// either hot (and soon back) or cold.
	for c.bytes+sz > c.max && c.head < len(c.fifo) {
		ek := c.fifo[c.head]
		c.fifo[c.head] = ""
		c.head++
		if e, ok := c.m[ek]; ok {
			delete(c.m, ek)
			c.bytes -= e.size
		}
	}
	c.m[ks] = cacheEntry{v: v, size: sz}
	c.bytes += sz
	c.compactFIFO()
}

// compactFIFO drops evicted slots and names of keys no longer cached, so
// the queue stays proportional to the map.
func (c *metaCache) compactFIFO() {
	live := len(c.fifo) - c.head
	if live <= 2*len(c.m)+1024 && c.head <= len(c.fifo)/2+1024 {
		return
	}
	fifo := make([]string, 0, len(c.m)+1024)
	seen := make(map[string]bool, len(c.m))
	for _, k := range c.fifo[c.head:] {
		if _, ok := c.m[k]; ok && !seen[k] {
			seen[k] = true
			fifo = append(fifo, k)
		}
	}
	c.fifo, c.head = fifo, 0
}

// invalidate drops the given keys; called after a write commits (or fails).
func (c *metaCache) invalidate(keys []string) {
	if c == nil || len(keys) == 0 {
		return
	}
	c.mu.Lock()
	for _, k := range keys {
		if e, ok := c.m[k]; ok {
			delete(c.m, k)
			c.bytes -= e.size
		}
	}
	c.gen++
	c.mu.Unlock()
}

// flush drops everything and sets whether the cache may be trusted from
// now on; fills that started before are dropped too.
func (c *metaCache) flush(trusted bool) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.m = make(map[string]cacheEntry)
	c.fifo, c.head, c.bytes = nil, 0, 0
	c.distrust = !trusted
	c.gen++
	c.mu.Unlock()
}

func cacheable(k []byte) bool {
	for _, p := range cacheablePrefixes {
		if strings.HasPrefix(string(k), p) {
			return true
		}
	}
	return false
}
