package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/keygate/keygate/oauth"
	"github.com/keygate/keygate/store"
)

// The app's side of OAuth: the manager built from the app's config, its
// audit events, the secrets it disconnects and the problems its errors
// answer. The manager itself is package oauth.

// OAuth audit decisions: an outcome that is not a success is a denial.
var oauthOKOutcomes = []string{"ok", "started", "revoked", "pending", "cancelled"}

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
	if err := a.OAuthProviders.Validate(); err != nil {
		return fmt.Errorf("keygate: %w", err)
	}
	return nil
}

// startOAuth builds the manager once the store is open, before requests
// may use it. Without providers
// there still is one: it knows none, so manifests naming one are refused
// and connecting answers oauth.ErrConfig.
func (a *App) startOAuth() error {
	pub := a.PublicURL
	if pub == "" {
		pub = "http://localhost" // unused: no provider can be called without public_url
	}
	m, err := oauth.NewManager(oauth.Config{
		Store:         a.shared.store,
		Providers:     a.OAuthProviders,
		PublicURL:     pub,
		RefreshBefore: time.Duration(a.OAuthRefreshBefore),
		Now:           a.now,
		Audit:         a.recordOAuth,
	})
	if err != nil {
		return fmt.Errorf("keygate: %w", err)
	}
	a.oauth = m
	return nil
}

// OAuth is the OAuth manager; nil before the store opens (see AwaitReady).
func (a *App) OAuth() *oauth.Manager { return a.oauth }

// recordOAuth queues one manager event on the audit queue; a connect
// that stored a token releases the keychain's held calls to decide again.
func (a *App) recordOAuth(event, kc, pkg, key, outcome string) {
	a.metrics.oauthEvent(event, outcome)
	decision := "deny"
	if slices.Contains(oauthOKOutcomes, outcome) {
		decision = "ok"
	}
	if outcome == "ok" {
		defer a.keychainChanged(event, kc)
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

// DeleteSecret deletes a keychain's secret. An OAuth token is disconnected
// (revoked at the provider when it has a revoke_url); the package whose
// key it is comes from the keychain's grants, else from any package
// declaring the key as an OAuth key.
func (a *App) DeleteSecret(ctx context.Context, kc, name string) error {
	st := a.Store()
	meta, err := st.GetSecretMeta(kc, name)
	if err != nil {
		return err
	}
	if meta.Kind != store.SecretKindOAuth {
		return st.DeleteSecret(kc, name)
	}
	return a.oauth.Disconnect(ctx, kc, a.oauthPackageOf(kc, name), name)
}

// oauthPackageOf names the package an OAuth key of the keychain belongs
// to, "" when none declares it any more (the token is then only deleted).
func (a *App) oauthPackageOf(kc, key string) string {
	st := a.Store()
	declares := func(pkg string) bool {
		m, err := st.GetPackage(pkg)
		if err != nil {
			return false
		}
		spec, ok := m.Key(key)
		return ok && spec.OAuth != nil
	}
	if grants, err := st.ListGrants(kc); err == nil {
		for _, g := range grants {
			if declares(g.Package) {
				return g.Package
			}
		}
	}
	if ms, err := st.ListPackages(); err == nil {
		for _, m := range ms {
			if spec, ok := m.Key(key); ok && spec.OAuth != nil {
				return m.Name
			}
		}
	}
	return ""
}

// oauthProblem maps the OAuth errors (see ToProblem); nil for others.
// The manager's messages name keys, packages and providers only.
func oauthProblem(err error) *Problem {
	switch {
	case errors.Is(err, oauth.ErrReconnect):
		return NewProblem(http.StatusPreconditionRequired, "reconnect_required", err.Error())
	case errors.Is(err, oauth.ErrNotConnected):
		return NewProblem(http.StatusPreconditionRequired, "not_connected", err.Error())
	case errors.Is(err, oauth.ErrUnavailable):
		p := NewProblem(http.StatusServiceUnavailable, "oauth_unavailable", err.Error())
		p.headersExtra = http.Header{"Retry-After": {"1"}}
		return p
	case errors.Is(err, oauth.ErrState):
		return NewProblem(http.StatusBadRequest, "oauth_state", err.Error())
	case errors.Is(err, oauth.ErrPending):
		return NewProblem(http.StatusBadRequest, "oauth_pending", err.Error())
	case errors.Is(err, oauth.ErrBrowser):
		return NewProblem(http.StatusBadRequest, "oauth_browser", err.Error())
	case errors.Is(err, oauth.ErrBadCallback):
		return NewProblem(http.StatusBadRequest, "oauth_bad_callback", err.Error())
	case errors.Is(err, oauth.ErrDenied):
		return NewProblem(http.StatusBadRequest, "oauth_denied", err.Error())
	case errors.Is(err, oauth.ErrExchange):
		return NewProblem(http.StatusBadRequest, "oauth_exchange", err.Error())
	case errors.Is(err, oauth.ErrConfig):
		return NewProblem(http.StatusBadRequest, "oauth_config", err.Error())
	}
	return nil
}

// OAuthProblem is ToProblem for an OAuth key of a keychain: a token the
// owner must (re)connect links to the owners' page as set_url.
func (a *App) OAuthProblem(err error, kc, pkg, key string) *Problem {
	p := ToProblem(err)
	if p.Status == http.StatusPreconditionRequired {
		p.Key, p.Package = key, pkg
		if kc != "" {
			p.SetURL = a.OwnerPageURL(kc, pkg)
		}
	}
	return p
}
