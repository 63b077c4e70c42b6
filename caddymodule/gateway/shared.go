package gateway

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/keygate/keygate/policy"
	"github.com/keygate/keygate/store"
)

// sharedPool holds the state that must outlive a config reload: Badger
// keeps a lock on its directory, and Caddy starts the new config before it
// stops the old one, so both configs must share one open store (the
// pattern of caddypki/acmeserver).
var sharedPool = caddy.NewUsagePool()

// shared is the per-store state shared by every config, keyed by the
// store's name (a directory, memoryDir, or postgres:<target>).
type shared struct {
	store  *store.Store
	now    func() time.Time // the store's clock
	audit  *auditQueue
	held   *heldRegistry
	cancel context.CancelFunc
	done   sync.WaitGroup

	mu        sync.Mutex
	retention time.Duration
}

func openShared(key string, opts store.Options, logger *zap.Logger) (*shared, error) {
	keyring := opts.Keyring
	v, loaded, err := sharedPool.LoadOrNew(key, func() (caddy.Destructor, error) {
		opts.Logger = badgerLogger{logger.Named("store").Sugar()}
		st, err := store.Open(opts)
		if err != nil {
			return nil, fmt.Errorf("keygate: opening store in %s: %w", key, err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		sh := &shared{store: st, now: opts.Now, cancel: cancel}
		sh.audit = newAuditQueue(st, caddy.Log().Named("keygate.audit"))
		sh.held = newHeldRegistry(st)
		sh.done.Add(3)
		go func() { defer sh.done.Done(); sh.audit.run(ctx) }()
		go func() { defer sh.done.Done(); st.RunGC(ctx, 10*time.Minute) }()
		go func() { defer sh.done.Done(); sh.pruneLoop(ctx, logger) }()
		logger.Info("keygate store open", zap.String("dir", key), zap.String("master_key_id", keyring.CurrentID()))
		return sh, nil
	})
	if err != nil {
		return nil, err
	}
	sh := v.(*shared)
	if loaded {
		// A reload may bring a new master key. Check it now, so a wrong
		// one fails the reload; the App installs it only when its config
		// starts (see App.Start), since a config may yet fail to start.
		if err := sh.store.CheckKeyring(keyring); err != nil {
			_, _ = sharedPool.Delete(key)
			return nil, fmt.Errorf("keygate: master_key: %w", err)
		}
	}
	return sh, nil
}

func releaseShared(dir string, logger *zap.Logger) error {
	deleted, err := sharedPool.Delete(dir)
	if deleted {
		logger.Info("keygate store closed", zap.String("dir", dir))
	}
	return err
}

// Destruct stops the background loops, flushes the audit queue and closes
// the store.
func (s *shared) Destruct() error {
	s.cancel()
	s.done.Wait()
	s.held.stop()
	return s.store.Close()
}

func (s *shared) setRetention(d time.Duration) {
	s.mu.Lock()
	s.retention = d
	s.mu.Unlock()
}

// pruneEvery is how often the periodic jobs run.
const pruneEvery = 10 * time.Minute

// pruneLoop runs the periodic jobs. Each runs under RunExclusive, so on a
// shared database one node at a time does it and the others skip the round.
func (s *shared) pruneLoop(ctx context.Context, logger *zap.Logger) {
	t := time.NewTicker(pruneEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.prune(logger)
	}
}

// prune runs every periodic job once.
func (s *shared) prune(logger *zap.Logger) {
	s.mu.Lock()
	keep := s.retention
	s.mu.Unlock()
	st := s.store
	jobs := []struct {
		name string
		run  func() (int, error)
	}{
		{"prune-audit", func() (int, error) {
			if keep <= 0 {
				return 0, nil
			}
			return st.PruneAudit(s.now().Add(-keep))
		}},
		{"prune-webhook-deliveries", st.PruneWebhookDeliveries},
		{"prune-owner-state", st.PruneOwnerState},
		{"prune-oauth-states", func() (int, error) { return st.PruneOAuthStates(s.now()) }},
		{"prune-held-calls", st.PruneHeld},
	}
	for _, j := range jobs {
		var n int
		_, err := st.RunExclusive(j.name, func() error {
			var err error
			n, err = j.run()
			return err
		})
		if err != nil {
			logger.Error("periodic job failed", zap.String("job", j.name), zap.Error(err))
			continue
		}
		if n > 0 {
			logger.Info("periodic job pruned records", zap.String("job", j.name), zap.Int("count", n))
		}
	}
}

// loadTokens loads keygate's signing keys, creating the first one on a
// new store. Nodes starting at once on an empty database create it under
// RunExclusive and then read what is stored, so all of them sign with the
// same key. It also returns the oldest key's secret, from which keys
// shared by every node are derived (see App.SharedKey).
func (s *shared) loadTokens(ttl time.Duration) (*policy.Tokens, []byte, error) {
	var keys []store.SigningKey
	for attempt := 0; ; attempt++ {
		var err error
		if keys, err = s.store.ListSigningKeys(); err != nil {
			return nil, nil, fmt.Errorf("keygate: loading signing keys: %w", err)
		}
		if len(keys) > 0 {
			break
		}
		if attempt == firstKeyTries {
			return nil, nil, fmt.Errorf("keygate: another node holds the lock on creating the first signing key: %w", store.ErrUnavailable)
		}
		ran, err := s.store.RunExclusive("first-signing-key", s.createFirstSigningKey)
		if err != nil {
			return nil, nil, fmt.Errorf("keygate: saving signing key: %w", err)
		}
		if !ran {
			time.Sleep(100 * time.Millisecond)
		}
	}
	oldest := keys[len(keys)-1] // newest first
	tokens, err := policy.NewTokens(keys, policy.TokenOptions{InvocationTTL: ttl, Now: s.now})
	return tokens, oldest.Secret, err
}

// firstKeyTries bounds the wait for another node creating the first key.
const firstKeyTries = 100

func (s *shared) createFirstSigningKey() error {
	keys, err := s.store.ListSigningKeys()
	if err != nil || len(keys) > 0 {
		return err
	}
	k := store.SigningKey{ID: "sk_" + RandomID(10), Secret: make([]byte, 32), CreatedAt: time.Now().UTC()}
	if _, err := rand.Read(k.Secret); err != nil {
		return err
	}
	return s.store.PutSigningKey(k)
}

// badgerLogger adapts zap to the store's (and so Badger's) logger.
type badgerLogger struct{ s *zap.SugaredLogger }

func (l badgerLogger) Errorf(f string, a ...any)   { l.s.Errorf(f, a...) }
func (l badgerLogger) Warningf(f string, a ...any) { l.s.Warnf(f, a...) }
func (l badgerLogger) Infof(f string, a ...any)    { l.s.Debugf(f, a...) }
func (l badgerLogger) Debugf(f string, a ...any)   { l.s.Debugf(f, a...) }
