package ownerpage

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// Owner sign-in state: outstanding login links and open sessions.
//
// Both live in memory only, in a map keyed by the SHA-256 of the token or
// session id, so neither a heap dump nor a debug print holds a usable
// credential. The store has no place for them, and a link or session
// that dies with the process costs an owner one more sign-in, nothing
// more. The state is shared across config reloads through a UsagePool
// keyed like the store, so a reload signs nobody out.
//
// Both maps are bounded: when one is full, expired entries go first, then
// the entry closest to expiry. A flood of links minted by the operator can
// so end a pending link early, never grow memory without bound.

// ownerMapMax bounds each of the link and session maps.
const ownerMapMax = 10000

// ownerNow is the clock of links and sessions; tests move it.
var ownerNow = time.Now

var ownerPool = caddy.NewUsagePool()

type ownerState struct {
	mu       sync.Mutex
	links    map[[sha256.Size]byte]loginLink
	sessions map[[sha256.Size]byte]ownerSession
	// csrfKey derives the CSRF token of requests that carry a platform
	// JWT instead of a session: they have no server-side state to hold one.
	csrfKey []byte
}

// loginLink is a pending one-time sign-in for the owner of keychain.
type loginLink struct {
	owner    string
	keychain string
	expires  time.Time
}

// ownerSession is a signed-in browser.
type ownerSession struct {
	owner   string
	csrf    string
	expires time.Time
}

// Destruct satisfies caddy.Destructor; there is nothing to close.
func (*ownerState) Destruct() error { return nil }

func loadOwnerState(key string) (*ownerState, error) {
	v, _, err := ownerPool.LoadOrNew(key, func() (caddy.Destructor, error) {
		k := make([]byte, 32)
		if _, err := rand.Read(k); err != nil {
			return nil, err
		}
		return &ownerState{
			links:    make(map[[sha256.Size]byte]loginLink),
			sessions: make(map[[sha256.Size]byte]ownerSession),
			csrfKey:  k,
		}, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*ownerState), nil
}

// randomToken returns 32 random bytes, base64url without padding.
func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// newLink records a login link and returns its token, which is shown
// once and kept only as a hash.
func (s *ownerState) newLink(owner, keychain string, ttl time.Duration) (string, time.Time, error) {
	tok, err := randomToken()
	if err != nil {
		return "", time.Time{}, err
	}
	now := ownerNow()
	l := loginLink{owner: owner, keychain: keychain, expires: now.Add(ttl)}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.links) >= ownerMapMax {
		evict(s.links, now, func(l loginLink) time.Time { return l.expires })
	}
	s.links[sha256.Sum256([]byte(tok))] = l
	return tok, l.expires, nil
}

// consumeLink takes a link out for good, whether or not it is still valid,
// so a token works once at most.
func (s *ownerState) consumeLink(tok string) (loginLink, bool) {
	sum := sha256.Sum256([]byte(tok))
	s.mu.Lock()
	l, ok := s.links[sum]
	delete(s.links, sum)
	s.mu.Unlock()
	if !ok || !ownerNow().Before(l.expires) {
		return loginLink{}, false
	}
	return l, true
}

// newSession opens a session for owner and returns its id, for the cookie.
func (s *ownerState) newSession(owner string, ttl time.Duration) (string, ownerSession, error) {
	id, err := randomToken()
	if err != nil {
		return "", ownerSession{}, err
	}
	csrf, err := randomToken()
	if err != nil {
		return "", ownerSession{}, err
	}
	now := ownerNow()
	sess := ownerSession{owner: owner, csrf: csrf, expires: now.Add(ttl)}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.sessions) >= ownerMapMax {
		evict(s.sessions, now, func(s ownerSession) time.Time { return s.expires })
	}
	s.sessions[sha256.Sum256([]byte(id))] = sess
	return id, sess, nil
}

// session returns the live session with that id.
func (s *ownerState) session(id string) (ownerSession, bool) {
	sum := sha256.Sum256([]byte(id))
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.sessions[sum]
	if !ok {
		return ownerSession{}, false
	}
	if !ownerNow().Before(sess.expires) {
		delete(s.sessions, sum)
		return ownerSession{}, false
	}
	return sess, true
}

func (s *ownerState) endSession(id string) {
	sum := sha256.Sum256([]byte(id))
	s.mu.Lock()
	delete(s.sessions, sum)
	s.mu.Unlock()
}

// bearerCSRF is the CSRF token of an owner signed in by a platform JWT on
// each request: an HMAC under a key that never leaves this process, so a
// page on another site cannot know it.
func (s *ownerState) bearerCSRF(owner string) string {
	m := hmac.New(sha256.New, s.csrfKey)
	m.Write([]byte("keygate owner csrf\x00"))
	m.Write([]byte(owner))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// evict makes room in a full map: every expired entry goes, and if none
// had expired, the one closest to expiry.
func evict[V any](m map[[sha256.Size]byte]V, now time.Time, expires func(V) time.Time) {
	var oldest [sha256.Size]byte
	var oldestAt time.Time
	for k, v := range m {
		at := expires(v)
		if !now.Before(at) {
			delete(m, k)
			continue
		}
		if oldestAt.IsZero() || at.Before(oldestAt) {
			oldest, oldestAt = k, at
		}
	}
	if len(m) >= ownerMapMax && !oldestAt.IsZero() {
		delete(m, oldest)
	}
}
