package scrub

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
	"strings"
	"sync"
)

// Cache keeps the Scrubbers of recent needle sets, so that a set seen before is not built again:
// building one, every form of every needle, costs more than the request it serves (egress
// routes see the same injected value on every call, the proxy site the same values and
// placeholders on every request of a tunnel). It is keyed by a seeded hash of the needles,
// checked against them on a hit, and emptied when full rather than tracking use. The zero value
// is ready; it is safe for concurrent use.
type Cache struct {
	mu   sync.Mutex
	seed maphash.Seed
	m    map[uint64]*cacheEntry
}

// cacheEntry holds its needles only to tell a hash collision from a hit; the scrubber holds
// their forms anyway.
type cacheEntry struct {
	needles []Needle
	sc      *Scrubber
}

// cacheMax bounds a Cache: a full one starts over.
const cacheMax = 1024

// Get returns the Scrubber for needles, built once per set: the same needles, in the same
// order, with the same replacements. Get only reads needles, and copies them before it keeps
// them, so a caller may pass a view of a buffer it reuses (or of a string) without a copy of its
// own; a hit does not allocate.
func (c *Cache) Get(needles ...Needle) *Scrubber {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.seed = maphash.MakeSeed()
	}
	key := c.key(needles)
	if e, ok := c.m[key]; ok && sameNeedles(e.needles, needles) {
		return e.sc
	}
	if c.m == nil || len(c.m) >= cacheMax {
		c.m = make(map[uint64]*cacheEntry)
	}
	kept := make([]Needle, len(needles))
	for i, n := range needles {
		// Replace too: kept, it would make the compiler move every caller's needles to the
		// heap, hit or miss.
		kept[i] = Needle{Find: bytes.Clone(n.Find), Replace: strings.Clone(n.Replace)}
	}
	sc := New(kept...)
	c.m[key] = &cacheEntry{needles: kept, sc: sc}
	return sc
}

// key hashes needles with their lengths, so that a byte moved from one needle to the next (or
// from a value to its replacement) makes another key. A collision costs only a rebuild: Get
// checks the needles.
func (c *Cache) key(needles []Needle) uint64 {
	var h maphash.Hash
	h.SetSeed(c.seed)
	var n [8]byte
	for _, nd := range needles {
		h.Write(binary.LittleEndian.AppendUint64(n[:0], uint64(len(nd.Find))))
		h.Write(nd.Find)
		h.Write(binary.LittleEndian.AppendUint64(n[:0], uint64(len(nd.Replace))))
		h.WriteString(nd.Replace)
	}
	return h.Sum64()
}

func sameNeedles(a, b []Needle) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Replace != b[i].Replace || !bytes.Equal(a[i].Find, b[i].Find) {
			return false
		}
	}
	return true
}
