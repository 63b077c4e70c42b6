package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/keygate/keygate/store"
)

// OAuthProviders is the operator's provider registry. In JSON it is a list
// of providers or an object keyed by provider name.
type OAuthProviders []OAuthProvider

// UnmarshalJSON accepts [{"name": ...}, ...] or {"name": {...}, ...}.
func (ps *OAuthProviders) UnmarshalJSON(b []byte) error {
	var list []OAuthProvider
	if err := json.Unmarshal(b, &list); err == nil {
		*ps = list
		return nil
	}
	var byName map[string]OAuthProvider
	if err := json.Unmarshal(b, &byName); err != nil {
		return errors.New("oauth_providers must be a list of providers or an object keyed by name")
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	slices.Sort(names)
	out := make([]OAuthProvider, 0, len(names))
	for _, n := range names {
		p := byName[n]
		if p.Name != "" && p.Name != n {
			return fmt.Errorf("oauth_providers: %s is named %s inside", n, p.Name)
		}
		p.Name = n
		out = append(out, p)
	}
	*ps = out
	return nil
}

// OAuth audit decisions: an outcome that is not a success is a denial.
var oauthOKOutcomes = []string{"ok", "started", "revoked"}

// oauthAuditTimeout bounds how long a provider event waits on a full
// audit queue; it is reported, never the reason a request hangs.
const oauthAuditTimeout = 2 * time.Second

// validateOAuth checks the providers and that a redirect base exists, at
// provisioning, so `keygate validate` catches them.
func (a *App) validateOAuth() error {
	if a.OAuthRefreshBefore < 0 {
		return errors.New("keygate: oauth_refresh_before must not be negative")
	}
	if len(a.OAuthProviders) == 0 {
		return nil
	}
	if a.PublicURL == "" {
		return errors.New("keygate: oauth_provider needs public_url: providers send owners back to <public_url>/oauth/callback")
	}
	seen := map[string]bool{}
	for i := range a.OAuthProviders {
		p := &a.OAuthProviders[i]
		if err := p.Validate(); err != nil {
			return fmt.Errorf("keygate: %w", err)
		}
		if seen[p.Name] {
			return fmt.Errorf("keygate: oauth_provider %s is defined twice", p.Name)
		}
		seen[p.Name] = true
	}
	return nil
}

// startOAuth builds the manager once the store is open, before requests
// may use it. Without providers
// there still is one: it knows none, so manifests naming one are refused
// and connecting answers ErrOAuthConfig.
func (a *App) startOAuth() error {
	pub := a.PublicURL
	if pub == "" {
		pub = "http://localhost" // unused: no provider can be called without public_url
	}
	m, err := NewOAuthManager(OAuthManagerConfig{
		Store:         a.shared.store,
		Providers:     a.OAuthProviders,
		PublicURL:     pub,
		Client:        newOAuthClient(),
		RefreshBefore: time.Duration(a.OAuthRefreshBefore),
		Audit:         a.recordOAuth,
	})
	if err != nil {
		return fmt.Errorf("keygate: %w", err)
	}
	a.oauth = m
	return nil
}

// OAuth is the OAuth manager; nil before the store opens (see AwaitReady).
func (a *App) OAuth() *OAuthManager { return a.oauth }

// newOAuthClient calls token endpoints directly (no environment proxy),
// bounded at every step, and never follows a redirect: the client
// credentials are for the configured URL only.
func newOAuthClient() *http.Client {
	return &http.Client{
		Timeout: defaultOAuthCallTimeout,
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   5 * time.Second,
			ResponseHeaderTimeout: defaultOAuthCallTimeout,
			MaxIdleConnsPerHost:   4,
			IdleConnTimeout:       90 * time.Second,
			ForceAttemptHTTP2:     true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// recordOAuth queues one manager event on the audit queue.
func (a *App) recordOAuth(event, kc, pkg, key, outcome string) {
	decision := "deny"
	if slices.Contains(oauthOKOutcomes, outcome) {
		decision = "ok"
	}
	ctx, cancel := context.WithTimeout(context.Background(), oauthAuditTimeout)
	defer cancel()
	ev := store.AuditEvent{Actor: "keygate", Action: event, Keychain: kc, Package: pkg, Decision: decision, Reason: outcome, RequestID: RequestID()}
	if key != "" {
		ev.Keys = []string{key}
	}
	if err := a.shared.audit.record(ctx, ev); err != nil {
		a.logger.Error("audit queue refused an oauth event", zap.String("event", event), zap.String("outcome", outcome))
	}
}
