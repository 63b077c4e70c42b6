package policy

import (
	"crypto/sha256"
	"sync"
	"time"
	"unsafe"
)

// DefaultTokenCacheSize is TokenOptions.CacheSize when it is 0.
const DefaultTokenCacheSize = 1 << 14

const cacheShards = 16

// verifiedCache remembers tokens that passed full verification, by the
// SHA-256 of their bytes, so that the next verification of the same token
// costs a hash and a map lookup instead of base64, JSON and HMAC. Agents
// send the same keychain token on every call and packages the same
// invocation token on every egress call, so nearly every verification is a
// repeat; Envoy's jwt_authn caches verified tokens for the same reason.
//
// It is safe because a hit means "these exact bytes verified under this
// Tokens": the keys, issuer and audiences cannot have changed, since a
// Tokens never changes (a new signing key set means a new Tokens, and a new,
// empty cache). The one check that depends on time, exp, is made again on
// every hit. Tokens themselves are not kept, only their hashes. Failures are
// not cached. Memory is bounded: a full shard drops an arbitrary entry.
type verifiedCache[T any] struct {
	perShard int
	shards   [cacheShards]cacheShard[T]
}

type cacheShard[T any] struct {
	mu sync.Mutex
	m  map[[sha256.Size]byte]cached[T]
}

type cached[T any] struct {
	claims T
	until  int64 // unix ns after which the token is expired; 0 = never
}

// newVerifiedCache returns a cache for up to size tokens, or nil (no cache)
// when size < 0.
func newVerifiedCache[T any](size int) *verifiedCache[T] {
	if size < 0 {
		return nil
	}
	if size == 0 {
		size = DefaultTokenCacheSize
	}
	c := &verifiedCache[T]{perShard: max(size/cacheShards, 1)}
	for i := range c.shards {
		c.shards[i].m = make(map[[sha256.Size]byte]cached[T])
	}
	return c
}

func tokenSum(tok string) [sha256.Size]byte {
	// []byte(tok) would copy the token to the heap on every request (the
	// hash's input escapes); the hash only reads it.
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(tok), len(tok)))
}

// get returns the claims of a token that verified before and has not
// expired at now.
func (c *verifiedCache[T]) get(sum [sha256.Size]byte, now time.Time) (T, bool) {
	s := &c.shards[sum[0]%cacheShards]
	s.mu.Lock()
	e, ok := s.m[sum]
	if ok && e.until != 0 && now.UnixNano() >= e.until {
		delete(s.m, sum)
		ok = false
	}
	s.mu.Unlock()
	return e.claims, ok
}

// put remembers a verified token's claims until the given time (zero: no
// expiry).
func (c *verifiedCache[T]) put(sum [sha256.Size]byte, claims T, until time.Time) {
	e := cached[T]{claims: claims}
	if !until.IsZero() {
		e.until = until.UnixNano()
	}
	s := &c.shards[sum[0]%cacheShards]
	s.mu.Lock()
	if _, ok := s.m[sum]; !ok && len(s.m) >= c.perShard {
		for k := range s.m {
			delete(s.m, k)
			break
		}
	}
	s.m[sum] = e
	s.mu.Unlock()
}
