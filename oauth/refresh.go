package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/keygate/keygate/store"
)

// A token without an expiry (expires_in 0 or absent) is taken as not
// expiring: it is never refreshed ahead of time, and a provider that
// revokes it anyway is only noticed when the owner reconnects (refreshing
// on an upstream 401 is out of scope).

// keyRef names one OAuth key: a keychain's (user) or a package's (app).
type keyRef struct {
	kc, pkg, key string // kc "" = app key
}

func userRef(kc, pkg, key string) keyRef { return keyRef{kc: kc, pkg: pkg, key: key} }
func appRef(pkg, key string) keyRef      { return keyRef{pkg: pkg, key: key} }

func (r keyRef) app() bool { return r.kc == "" }

// id is unique per key: package names hold one "/", keychain ids and key
// names none.
func (r keyRef) id() string {
	if r.app() {
		return "oauth/app/" + r.pkg + "/" + r.key
	}
	return "oauth/user/" + r.kc + "/" + r.pkg + "/" + r.key
}

// AccessToken returns the keychain's current access token for the key,
// refreshing it first when it expires within RefreshBefore. Errors:
// ErrNotConnected, ErrReconnect, ErrUnavailable,
// ErrConfig (or a store error).
func (m *Manager) AccessToken(ctx context.Context, kc, pkg, key string) (string, error) {
	return m.accessToken(ctx, userRef(kc, pkg, key))
}

// AppAccessToken returns the package's client_credentials token for the
// app key, fetching a new one when it expires within RefreshBefore.
func (m *Manager) AppAccessToken(ctx context.Context, pkg, key string) (string, error) {
	return m.accessToken(ctx, appRef(pkg, key))
}

func (m *Manager) accessToken(ctx context.Context, ref keyRef) (string, error) {
	tok, _, found, err := m.load(ref)
	if err != nil {
		return "", err
	}
	if found && m.fresh(tok, m.now()) {
		return tok.AccessToken, nil
	}
	return m.flights.do(ctx, ref.id(), func() (string, error) { return m.refresh(ctx, ref) })
}

// load reads the stored token; found is false when there is none yet.
func (m *Manager) load(ref keyRef) (store.OAuthToken, store.SecretMeta, bool, error) {
	var (
		tok  store.OAuthToken
		meta store.SecretMeta
		err  error
	)
	if ref.app() {
		tok, meta, err = m.st.GetAppOAuthToken(ref.pkg, ref.key)
	} else {
		tok, meta, err = m.st.GetOAuthToken(ref.kc, ref.key)
	}
	switch {
	case err == nil:
		m.tokens.put(ref, meta, tok)
		return tok, meta, true, nil
	case errors.Is(err, store.ErrNotFound):
		m.tokens.drop(ref)
		if ref.app() {
			return tok, meta, false, nil // fetched on first use
		}
		return tok, meta, false, fmt.Errorf("%w: keychain %s has no token for %s", ErrNotConnected, ref.kc, ref.key)
	case errors.Is(err, store.ErrNotOAuthToken):
		return tok, meta, false, fmt.Errorf("%w: %s holds a value set by hand, not an oauth token", ErrNotConnected, ref.key)
	}
	return tok, meta, false, err
}

// fresh: usable without refreshing first.
func (m *Manager) fresh(t store.OAuthToken, now time.Time) bool {
	return m.freshUntil(t.Expiry, now)
}

func (m *Manager) freshUntil(expiry, now time.Time) bool {
	return expiry.IsZero() || now.Add(m.refreshBefore).Before(expiry)
}

// stillValid: not expired yet, so still worth using when a refresh fails.
func stillValid(t store.OAuthToken, found bool, now time.Time) bool {
	return found && (t.Expiry.IsZero() || now.Before(t.Expiry))
}

// refresh runs once per key per process at a time (see accessToken). It
// takes the store lease so that one node calls the provider; the others
// wait, bounded, for the token it writes.
func (m *Manager) refresh(ctx context.Context, ref keyRef) (string, error) {
	deadline := time.Now().Add(m.waitForOther)
	tok, meta, found, err := m.load(ref)
	if err != nil {
		return "", err
	}
	startVersion := meta.Version
	for {
		if found && (m.fresh(tok, m.now()) || meta.Version != startVersion) {
			return tok.AccessToken, nil // refreshed meanwhile, here or on another node
		}
		if h := m.health(ref); found && h.deadVersion == meta.Version && !ref.app() {
			return "", fmt.Errorf("%w: the provider refused the refresh token for %s", ErrReconnect, ref.key)
		} else if m.now().Before(h.retryAt) {
			return m.fallback(ref, tok, found, "backing off after a failed refresh")
		}
		got, err := m.st.AcquireOAuthLease(ref.id(), m.holder, leaseTTL, ref.kc, ref.pkg, ref.key)
		if err != nil {
			return "", err
		}
		if got {
			return m.lead(ctx, ref)
		}
		if !time.Now().Before(deadline) {
			return m.fallback(ref, tok, found, "another node's refresh did not finish in time")
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(m.pollEvery):
		}
		if tok, meta, found, err = m.load(ref); err != nil {
			return "", err
		}
	}
}

// fallback is the answer when the provider cannot be asked: the token
// while it is still valid, else ErrUnavailable.
func (m *Manager) fallback(ref keyRef, tok store.OAuthToken, found bool, why string) (string, error) {
	if stillValid(tok, found, m.now()) {
		return tok.AccessToken, nil
	}
	return "", fmt.Errorf("%w: %s for %s", ErrUnavailable, why, ref.key)
}

// lead holds the lease: re-read (a holder before us may just have written),
// call the provider, store the result.
func (m *Manager) lead(ctx context.Context, ref keyRef) (string, error) {
	defer m.st.ReleaseLease(ref.id(), m.holder)
	tok, meta, found, err := m.load(ref)
	if err != nil {
		return "", err
	}
	now := m.now()
	if found && m.fresh(tok, now) {
		return tok.AccessToken, nil
	}
	if !ref.app() && tok.RefreshToken == "" {
		if stillValid(tok, found, now) {
			return tok.AccessToken, nil
		}
		m.audit(EventRefresh, ref.kc, ref.pkg, ref.key, "reconnect_required")
		return "", fmt.Errorf("%w: the token for %s expired and has no refresh token", ErrReconnect, ref.key)
	}
	t, err := m.resolve(ref.pkg, ref.key, ref.app())
	if err != nil {
		m.audit(EventRefresh, ref.kc, ref.pkg, ref.key, "config_error")
		if stillValid(tok, found, now) {
			return tok.AccessToken, nil
		}
		return "", err
	}
	callCtx, cancel := m.callContext(ctx)
	defer cancel()
	var fetched *oauth2.Token
	if ref.app() {
		cc := &clientcredentials.Config{ClientID: t.clientID, ClientSecret: t.clientSecret, TokenURL: t.provider.TokenURL,
			Scopes: t.spec.Scopes, AuthStyle: t.provider.authStyle()}
		fetched, err = cc.Token(callCtx)
	} else {
		fetched, err = t.config("").TokenSource(callCtx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	}
	if err != nil {
		outcome := classify(err)
		if outcome == "invalid_grant" && !ref.app() {
			m.markDead(ref, meta.Version)
			m.audit(EventRefresh, ref.kc, ref.pkg, ref.key, "reconnect_required")
			return "", fmt.Errorf("%w: %s refused the refresh token for %s", ErrReconnect, t.provider.Name, ref.key)
		}
		delay := m.backoff(ref)
		m.audit(EventRefresh, ref.kc, ref.pkg, ref.key, outcome)
		return m.fallback(ref, tok, found, fmt.Sprintf("%s answered with %s (next try in %s)", t.provider.Name, describe(outcome), delay))
	}
	scopes := tok.Scopes
	if len(scopes) == 0 {
		scopes = t.spec.Scopes
	}
	next := storedToken(fetched, now, scopes)
	next.ConnectedAt = tok.ConnectedAt
	if next.RefreshToken == "" {
		next.RefreshToken = tok.RefreshToken // not rotated: keep the one we have
	}
	if ref.app() {
		_, err = m.st.PutAppOAuthToken(ref.pkg, ref.key, next, meta.Version)
	} else {
		_, err = m.st.PutOAuthToken(ref.kc, ref.key, next, meta.AllowedHosts, meta.Version)
	}
	if errors.Is(err, store.ErrConflict) {
		// Reconnected or disconnected while we refreshed: that wins.
		if cur, _, ok, lerr := m.load(ref); lerr == nil && ok && stillValid(cur, ok, now) {
			return cur.AccessToken, nil
		}
		return "", fmt.Errorf("%w: %s changed while it was refreshed", ErrUnavailable, ref.key)
	}
	if err != nil {
		m.audit(EventRefresh, ref.kc, ref.pkg, ref.key, "store_error")
		return "", err
	}
	m.forget(ref)
	m.audit(EventRefresh, ref.kc, ref.pkg, ref.key, "ok")
	return next.AccessToken, nil
}

// storedToken converts a provider's answer. Expiry is computed from
// expires_in with our clock (x/oauth2 uses the wall clock); the granted
// scopes are the answer's "scope" when it has a usable one, else asked.
func storedToken(t *oauth2.Token, now time.Time, asked []string) store.OAuthToken {
	out := store.OAuthToken{AccessToken: t.AccessToken, RefreshToken: t.RefreshToken, TokenType: t.TokenType, Scopes: asked}
	secs := t.ExpiresIn
	if secs == 0 { // clientcredentials and form-encoded answers leave ExpiresIn unset
		switch v := t.Extra("expires_in").(type) {
		case float64:
			secs = int64(v)
		case string:
			secs, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	if secs > 0 {
		out.Expiry = now.Add(time.Duration(secs) * time.Second)
	}
	if granted, ok := t.Extra("scope").(string); ok && granted != "" {
		if f := strings.Fields(granted); len(f) <= 64 && scopesOK(f) {
			out.Scopes = f
		}
	}
	return out
}

func scopesOK(scopes []string) bool {
	for _, sc := range scopes {
		if len(sc) > 256 || strings.ContainsAny(sc, "\"\\") {
			return false
		}
		for i := 0; i < len(sc); i++ {
			if sc[i] < 0x21 || sc[i] > 0x7e {
				return false
			}
		}
	}
	return true
}

// classify turns a token-endpoint failure into an outcome word,
// never keeping the error itself (its text can quote the response body).
func classify(err error) string {
	var re *oauth2.RetrieveError
	var ue *url.Error
	switch {
	case errors.As(err, &re):
		switch {
		case re.ErrorCode == "invalid_grant":
			return "invalid_grant"
		case re.ErrorCode == "server_error" || re.ErrorCode == "temporarily_unavailable":
			return "unavailable"
		case re.Response != nil && re.Response.StatusCode >= 500:
			return "unavailable"
		case re.ErrorCode != "":
			return "rejected"
		}
		return "bad_response"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled), errors.As(err, &ue):
		return "unavailable"
	}
	return "bad_response" // unparseable, or no access_token
}

func describe(outcome string) string {
	switch outcome {
	case "invalid_grant":
		return "invalid_grant"
	case "rejected":
		return "an OAuth error"
	case "unavailable":
		return "a failure or no answer in time"
	}
	return "a response that is not a usable token"
}

func (m *Manager) health(ref keyRef) keyHealth {
	m.mu.Lock()
	defer m.mu.Unlock()
	if h := m.keys[ref.id()]; h != nil {
		return *h
	}
	return keyHealth{}
}

// backoff records a failed call and returns the wait before the next:
// 1s, 2s, 4s ... capped at 30s.
func (m *Manager) backoff(ref keyRef) time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	h := m.keys[ref.id()]
	if h == nil {
		h = &keyHealth{}
		m.keys[ref.id()] = h
	}
	d := backoffMax
	if h.failures < 5 {
		d = min(backoffFirst<<h.failures, backoffMax)
	}
	h.failures++
	h.retryAt = m.now().Add(d)
	return d
}

func (m *Manager) markDead(ref keyRef, version uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.keys[ref.id()] = &keyHealth{deadVersion: version}
}

// forget clears what this node remembers of a key after a success.
func (m *Manager) forget(ref keyRef) {
	m.mu.Lock()
	delete(m.keys, ref.id())
	m.mu.Unlock()
	m.tokens.drop(ref)
}
