package policy

import (
	"crypto/sha256"
	"hash/maphash"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// DefaultTokenCacheSize is TokenOptions.CacheSize when it is 0.
const DefaultTokenCacheSize = 1 << 14

const cacheShards = 16

// verifiedCache remembers tokens that passed full verification, so that
// the next verification of the same token costs two short hashes and a map
// lookup instead of base64, JSON and HMAC. Agents send the same keychain
// token on every call and packages the same invocation token on every
// egress call, so nearly every verification is a repeat; Envoy's jwt_authn
// caches verified tokens for the same reason.
//
// An entry is found by the SHA-256 of the token's signature (its last
// segment, 43 bytes) and holds a seeded hash of the rest and the token's
// length; a hit needs all three to match. The signature is the token's one
// secret part (the claims are the holder's to read), so a hit means the
// caller holds the very MAC this Tokens verified over a signing input that
// hashes alike under a seed it cannot know; and what a hit returns is the
// claims that were verified, never read from the bytes presented. Hashing
// the 43-byte signature instead of the whole token (700 bytes for an
// invocation token) is most of what a hit costs saved.
//
// It is safe because a hit means "this MAC verified under this Tokens": the
// keys, issuer and audiences cannot have changed, since a Tokens never
// changes (a new signing key set means a new Tokens, and a new, empty
// cache). The one check that depends on time, exp, is made again on every
// hit. Tokens themselves are not kept, only hashes. Failures are not
// cached. Memory is bounded: a full shard drops an arbitrary entry.
type verifiedCache[T any] struct {
	perShard int
	seed     maphash.Seed
	shards   [cacheShards]cacheShard[T]
}

type cacheShard[T any] struct {
	mu sync.Mutex
	m  map[[sha256.Size]byte]cached[T]
}

type cached[T any] struct {
	claims T
	until  int64  // unix ns after which the token is expired; 0 = never
	input  uint64 // the seeded hash of the token before its signature
	size   int    // the token's length
}

// cacheKey is what a token is looked up by: the SHA-256 of its signature,
// the seeded hash of the rest. ok is false for a token with no signature
// segment, which is never cached (it cannot verify).
type cacheKey struct {
	sig   [sha256.Size]byte
	input uint64
	size  int
	ok    bool
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
	c := &verifiedCache[T]{perShard: max(size/cacheShards, 1), seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].m = make(map[[sha256.Size]byte]cached[T])
	}
	return c
}

// key is tok's cache key.
func (c *verifiedCache[T]) key(tok string) cacheKey {
	dot := strings.LastIndexByte(tok, '.')
	if dot < 0 || dot == len(tok)-1 {
		return cacheKey{}
	}
	return cacheKey{sig: tokenSum(tok[dot+1:]), input: maphash.String(c.seed, tok[:dot]), size: len(tok), ok: true}
}

func tokenSum(tok string) [sha256.Size]byte {
	// []byte(tok) would copy the token to the heap on every request (the
	// hash's input escapes); the hash only reads it.
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(tok), len(tok)))
}

// get returns the claims of a token that verified before and has not
// expired at now.
func (c *verifiedCache[T]) get(k cacheKey, now time.Time) (T, bool) {
	if !k.ok {
		var zero T
		return zero, false
	}
	s := &c.shards[k.sig[0]%cacheShards]
	s.mu.Lock()
	e, ok := s.m[k.sig]
	switch {
	case ok && (e.input != k.input || e.size != k.size):
		// The same MAC over other bytes: verified in full (and refused).
		ok = false
	case ok && e.until != 0 && now.UnixNano() >= e.until:
		delete(s.m, k.sig)
		ok = false
	}
	s.mu.Unlock()
	if !ok {
		var zero T
		return zero, false
	}
	return e.claims, true
}

// put remembers a verified token's claims until the given time (zero: no
// expiry).
func (c *verifiedCache[T]) put(k cacheKey, claims T, until time.Time) {
	if !k.ok {
		return
	}
	sum := k.sig
	e := cached[T]{claims: claims, input: k.input, size: k.size}
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
