package policy

import (
	"hash/maphash"
	"math"
	"strings"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/time/rate"
)

// LimiterOptions tunes a Limiter. The zero value is ready to use.
type LimiterOptions struct {
	// IdleTTL is how long a key's bucket is kept after its last use. A
	// bucket idle for burst/rate seconds is full again, so dropping it then
	// changes nothing; shorter values are raised to that. Default: that.
	IdleTTL time.Duration
	// MaxKeys caps the number of buckets kept (default 131072, about 20 MiB).
	// When a new key finds its shard full, an idle bucket is dropped, or
	// failing that the least recently used of a few sampled. A dropped
	// bucket starts full again: the cap trades exactness for bounded memory
	// only when more than MaxKeys keys are active at once.
	MaxKeys int
	Now     func() time.Time
	// Share, when set, is how many nodes split the limit: each node allows
	// rate/Share and a burst of burst/Share (rounded up, at least 1). It is
	// read on every call and applied to a bucket when it changes.
	Share func() int
}

// DefaultMaxKeys is LimiterOptions.MaxKeys when it is 0.
const DefaultMaxKeys = 1 << 17

const (
	limiterShards = 64 // power of two
	evictSample   = 8  // buckets looked at to pick a victim when a shard is full
)

// Limiter is a set of token buckets keyed by string (callers use the
// keychain id, and keychain + "|" + package). It is safe for concurrent use.
// Memory stays bounded however many distinct keys it sees: buckets idle for
// IdleTTL are swept out, and there are never more than MaxKeys of them.
type Limiter struct {
	limit     rate.Limit
	burst     int
	unlimited bool
	idle      int64 // IdleTTL in ns
	perShard  int
	now       func() time.Time
	share     func() int
	seed      maphash.Seed
	shards    [limiterShards]shard
}

type shard struct {
	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep int64    // unix ns
	_         [40]byte // keep shards on separate cache lines
}

type bucket struct {
	lim   *rate.Limiter
	seen  int64 // unix ns of last use, guarded by the shard's mutex
	share int   // the share lim was set for, guarded by the shard's mutex
}

// NewLimiter returns a Limiter allowing r events per second per key with
// bursts of up to burst (at least 1). r <= 0, or rate.Inf, means unlimited:
// Allow always says yes and keeps no state.
func NewLimiter(r rate.Limit, burst int, o LimiterOptions) *Limiter {
	l := &Limiter{limit: r, burst: max(burst, 1), now: o.Now, share: o.Share}
	if r <= 0 || r == rate.Inf {
		l.unlimited = true
		return l
	}
	if l.now == nil {
		l.now = time.Now
	}
	refill := time.Duration(math.Ceil(float64(l.burst) / float64(r) * float64(time.Second)))
	l.idle = int64(max(o.IdleTTL, refill, time.Millisecond))
	maxKeys := o.MaxKeys
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	l.perShard = max(maxKeys/limiterShards, 1)
	l.seed = maphash.MakeSeed()
	for i := range l.shards {
		l.shards[i].buckets = make(map[string]*bucket)
	}
	return l
}

// Allow takes one token from key's bucket. When there is none it returns
// false and how long until one is available (rounding that up to whole
// seconds for Retry-After is the caller's job).
func (l *Limiter) Allow(key string) (ok bool, retryAfter time.Duration) {
	return l.allow(key)
}

// AllowPair is Allow(a + "|" + b), without building that key on the heap
// for a bucket that exists: the package site limits every call by
// keychain and package.
func (l *Limiter) AllowPair(a, b string) (ok bool, retryAfter time.Duration) {
	var buf [128]byte
	if len(a)+1+len(b) > len(buf) {
		return l.allow(a + "|" + b)
	}
	k := append(append(append(buf[:0], a...), '|'), b...)
	return l.allow(unsafe.String(&k[0], len(k)))
}

// allow is Allow. key may point into its caller's stack: a new bucket
// keeps a copy of it, so key never escapes.
func (l *Limiter) allow(key string) (ok bool, retryAfter time.Duration) {
	if l.unlimited {
		return true, 0
	}
	now := l.now()
	ns := now.UnixNano()
	s := &l.shards[maphash.String(l.seed, key)&(limiterShards-1)]

	s.mu.Lock()
	if ns-s.lastSweep >= l.idle {
		s.sweep(ns, l.idle)
	}
	share := 1
	if l.share != nil {
		share = max(l.share(), 1)
	}
	limit, burst := l.limit/rate.Limit(share), (l.burst+share-1)/share
	b := s.buckets[key]
	if b == nil {
		if len(s.buckets) >= l.perShard {
			s.evictOne()
		}
		b = &bucket{lim: rate.NewLimiter(limit, burst), share: share}
		s.buckets[strings.Clone(key)] = b
	} else if b.share != share {
		b.lim.SetLimitAt(now, limit)
		b.lim.SetBurstAt(now, burst)
		b.share = share
	}
	b.seen = ns
	lim := b.lim
	s.mu.Unlock()

	if lim.AllowN(now, 1) {
		return true, 0
	}
	// Time for the missing fraction of a token to refill, rounded up so
	// that a caller retrying after it finds the token there.
	missing := 1 - lim.TokensAt(now)
	wait := time.Duration(math.Ceil(missing / float64(limit) * float64(time.Second)))
	return false, max(wait, 1)
}

// Len returns the number of buckets held, for metrics and tests.
func (l *Limiter) Len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.buckets)
		s.mu.Unlock()
	}
	return n
}

// sweep drops the buckets idle for longer than idle ns. It runs at most
// once per idle period per shard, so its cost is spread over the calls.
func (s *shard) sweep(now, idle int64) {
	s.lastSweep = now
	for k, b := range s.buckets {
		if now-b.seen > idle {
			delete(s.buckets, k)
		}
	}
}

// evictOne drops the least recently used of a few buckets. Map iteration
// starts at a random place, so this is a sample, not always the same keys.
func (s *shard) evictOne() {
	var victim string
	oldest, n := int64(math.MaxInt64), 0
	for k, b := range s.buckets {
		if b.seen < oldest {
			victim, oldest = k, b.seen
		}
		if n++; n == evictSample {
			break
		}
	}
	delete(s.buckets, victim)
}
