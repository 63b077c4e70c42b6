package proxy

import (
	"bytes"
	"hash/maphash"
	"sync"

	"github.com/keygate/keygate/scrub"
)

// scrubberCache keeps the scrubbers of recent needle sets (a call's values
// and the placeholders they turn back into): building one, every encoding
// of every needle, cost a fifth of a kept-alive request's CPU. It is keyed
// by a seeded hash of the needles, checked against them on a hit, and
// emptied when full rather than tracking use.
type scrubberCache struct {
	mu   sync.Mutex
	seed maphash.Seed
	m    map[uint64]*scrubberEntry
}

// scrubberEntry holds its needles only to tell a hash collision from a
// hit; the scrubber holds them anyway.
type scrubberEntry struct {
	needles []scrub.Needle
	sc      *scrub.Scrubber
}

const scrubberCacheMax = 1024

// get returns the scrubber for needles, built once per set.
func (c *scrubberCache) get(needles []scrub.Needle) *scrub.Scrubber {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.seed = maphash.MakeSeed()
	}
	var hs maphash.Hash
	hs.SetSeed(c.seed)
	for _, n := range needles {
		hs.Write(n.Find)
		hs.WriteByte(0)
		hs.WriteString(n.Replace)
		hs.WriteByte(0)
	}
	key := hs.Sum64()
	if e, ok := c.m[key]; ok && sameNeedles(e.needles, needles) {
		return e.sc
	}
	if c.m == nil || len(c.m) >= scrubberCacheMax {
		c.m = make(map[uint64]*scrubberEntry)
	}
	kept := make([]scrub.Needle, len(needles))
	for i, n := range needles {
		kept[i] = scrub.Needle{Find: bytes.Clone(n.Find), Replace: n.Replace}
	}
	sc := scrub.New(kept...)
	c.m[key] = &scrubberEntry{needles: kept, sc: sc}
	return sc
}

func sameNeedles(a, b []scrub.Needle) bool {
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
