package gateway

import (
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/keygate/keygate/policy"
)

// A node loads the signing keys when its store opens; another node may
// add one later, and a token signed with it must verify here at once. The
// store bumps its signing-keys generation whenever the keys may have
// changed (a write here, a notification from another node), and the next
// call for the tokens reloads them: one read, not one per request.

// signingTokens holds the tokens of the signing keys as last loaded.
type signingTokens struct {
	cur    atomic.Pointer[policy.Tokens]
	gen    atomic.Uint64 // the store's generation cur was loaded at
	reload bool          // false for a fixed set (NewStandalone)
	mu     sync.Mutex    // one reload at a time; the others use cur
	failed time.Time     // last failed reload, to retry at most once a second
}

func (s *signingTokens) init(t *policy.Tokens, gen uint64, reload bool) {
	s.cur.Store(t)
	s.gen.Store(gen)
	s.reload = reload
}

// reloadRetry is the least time between two failed reloads.
const reloadRetry = time.Second

func (s *signingTokens) get(a *App) *policy.Tokens {
	if !s.reload {
		return s.cur.Load()
	}
	if g := a.shared.store.SigningKeysGen(); g != s.gen.Load() && s.mu.TryLock() {
		s.load(a, g)
		s.mu.Unlock()
	}
	return s.cur.Load()
}

// load reloads the keys at generation g; called with mu held.
func (s *signingTokens) load(a *App, g uint64) {
	if s.gen.Load() == g || (!s.failed.IsZero() && time.Since(s.failed) < reloadRetry) {
		return
	}
	keys, err := a.shared.store.ListSigningKeys()
	var t *policy.Tokens
	if err == nil {
		t, err = policy.NewTokens(keys, policy.TokenOptions{InvocationTTL: time.Duration(a.InvocationTTL)})
	}
	if err != nil {
		s.failed = time.Now()
		a.logger.Warn("reloading the signing keys failed; the ones loaded before stay in use", zap.Error(err))
		return
	}
	s.failed = time.Time{}
	s.cur.Store(t)
	s.gen.Store(g)
}
