package oauth

import (
	"context"
	"sync"
	"time"

	"github.com/keygate/keygate/store"
)

// tokenCache keeps, per stored token record, the access token decoded
// from one version of it, so that between refreshes a request reads the
// record's metadata (which the store caches, and egress reads anyway for
// the allowed hosts) instead of opening and decoding the sealed record:
// it is decoded once per version, that is once per refresh. The access
// token is what every request sends upstream anyway; the refresh token
// is never kept here.
type tokenCache struct {
	mu sync.RWMutex
	m  map[keyRef]cachedToken
}

type cachedToken struct {
	stamp  recordStamp
	access string
	expiry time.Time
}

// recordStamp names one stored version of a record: a rewrite (refresh,
// reconnect, a value set by hand) bumps the version and the update time;
// a delete and re-create starts again at version 1 with new times.
type recordStamp struct {
	version          uint64
	created, updated time.Time
}

func stampOf(m store.SecretMeta) recordStamp {
	return recordStamp{version: m.Version, created: m.CreatedAt, updated: m.UpdatedAt}
}

func (s recordStamp) is(o recordStamp) bool {
	return s.version == o.version && s.created.Equal(o.created) && s.updated.Equal(o.updated)
}

// record is the stored record a key reads: a user key's token belongs to
// the keychain whatever package asks for it.
func (r keyRef) record() keyRef {
	if r.app() {
		return keyRef{pkg: r.pkg, key: r.key}
	}
	return keyRef{kc: r.kc, key: r.key}
}

func (c *tokenCache) get(ref keyRef, meta store.SecretMeta) (cachedToken, bool) {
	c.mu.RLock()
	t, ok := c.m[ref.record()]
	c.mu.RUnlock()
	return t, ok && t.stamp.is(stampOf(meta))
}

func (c *tokenCache) put(ref keyRef, meta store.SecretMeta, t store.OAuthToken) {
	c.mu.Lock()
	if c.m == nil {
		c.m = make(map[keyRef]cachedToken)
	}
	c.m[ref.record()] = cachedToken{stamp: stampOf(meta), access: t.AccessToken, expiry: t.Expiry}
	c.mu.Unlock()
}

func (c *tokenCache) drop(ref keyRef) {
	c.mu.Lock()
	delete(c.m, ref.record())
	c.mu.Unlock()
}

// AccessTokenFor is AccessToken for a caller that has just read the key's
// stored metadata (egress does, for its allowed hosts): while that record
// is the one last decoded here and its token is fresh, the token comes
// without opening the record again.
func (m *Manager) AccessTokenFor(ctx context.Context, kc, pkg, key string, meta store.SecretMeta) (string, error) {
	ref := userRef(kc, pkg, key)
	if meta.Kind == store.SecretKindOAuth {
		if t, ok := m.tokens.get(ref, meta); ok && m.freshUntil(t.expiry, m.now()) {
			return t.access, nil
		}
	}
	return m.accessToken(ctx, ref)
}
