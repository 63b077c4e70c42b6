// Package oauth connects OAuth keys (authorization code with PKCE, and
// client credentials for app keys), keeps their tokens fresh and hands the
// current access token to egress. It knows the store and x/oauth2, never
// Caddy: the keygate app builds a Manager from its config.
package oauth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/keygate/keygate/store"
)

// CallbackPath is where providers send the owner back, on the
// keygate_api site.
const CallbackPath = "/oauth/callback"

const (
	defaultRefreshBefore = 60 * time.Second
	defaultCallTimeout   = 10 * time.Second
	leaseTTL             = 30 * time.Second // above any call timeout: a dead holder frees it soon
	defaultWaitForOther  = 2 * time.Second  // how long a request waits for another node's refresh
	defaultPollEvery     = 25 * time.Millisecond
	backoffFirst         = time.Second
	backoffMax           = 30 * time.Second
	maxCallbackParam     = 4096
)

// Audit events the manager reports.
const (
	EventConnect    = "oauth.connect"
	EventCallback   = "oauth.callback"
	EventConfirm    = "oauth.confirm"
	EventRefresh    = "oauth.refresh"
	EventDisconnect = "oauth.disconnect"
)

// AuditFunc receives one OAuth event. keychain is empty for app keys;
// outcome is a short word ("ok", "pending", "cancelled", "denied",
// "bad_state", "bad_pending", "other_browser", "unavailable",
// "bad_response", "rejected", "reconnect_required", "revoked",
// "revoke_failed", ...), never a value.
type AuditFunc func(event, keychain, pkg, key, outcome string)

// Config configures NewManager.
type Config struct {
	Store     *store.Store
	Providers []Provider
	// PublicURL is keygate_api's public origin; redirect_uri is
	// PublicURL + CallbackPath.
	PublicURL string
	// Client calls the providers; nil: one with a 10s timeout that uses no
	// proxy and follows no redirect. Calls are also bounded by its Timeout
	// (or 10s when it has none).
	Client *http.Client
	// RefreshBefore: a token expiring within it is refreshed first; 0 = 60s.
	RefreshBefore time.Duration
	Now           func() time.Time
	Audit         AuditFunc
}

// Manager connects OAuth keys, keeps their tokens fresh and hands the
// current access token to egress. Refreshes are coalesced per key within
// the process and leased in the store across nodes.
type Manager struct {
	st            *store.Store
	providers     map[string]*Provider
	redirectURI   string
	client        *http.Client
	callTimeout   time.Duration
	refreshBefore time.Duration
	now           func() time.Time
	audit         AuditFunc
	holder        string // this manager's lease holder id
	pollEvery     time.Duration
	waitForOther  time.Duration

	flights flightGroup
	tokens  tokenCache
	mu      sync.Mutex
	keys    map[string]*keyHealth
}

// keyHealth is what one node remembers about a key's provider calls.
type keyHealth struct {
	failures    int
	retryAt     time.Time
	deadVersion uint64 // stored version whose refresh token the provider refused
}

// NewManager validates the providers and the public URL.
func NewManager(cfg Config) (*Manager, error) {
	if cfg.Store == nil {
		return nil, errors.New("oauth: a store is required")
	}
	pub, err := url.Parse(cfg.PublicURL)
	if err != nil || (pub.Scheme != "https" && pub.Scheme != "http") || pub.Host == "" || pub.RawQuery != "" || pub.Fragment != "" || pub.User != nil {
		return nil, errors.New("oauth: public_url must be an absolute http(s) URL without query, fragment or userinfo")
	}
	if cfg.RefreshBefore < 0 {
		return nil, errors.New("oauth: oauth_refresh_before must not be negative")
	}
	m := &Manager{
		st:            cfg.Store,
		providers:     make(map[string]*Provider, len(cfg.Providers)),
		redirectURI:   strings.TrimRight(cfg.PublicURL, "/") + CallbackPath,
		client:        cfg.Client,
		refreshBefore: cfg.RefreshBefore,
		now:           cfg.Now,
		audit:         cfg.Audit,
		holder:        "node-" + randomString(12),
		pollEvery:     defaultPollEvery,
		waitForOther:  defaultWaitForOther,
		keys:          map[string]*keyHealth{},
	}
	if err := Providers(cfg.Providers).Validate(); err != nil {
		return nil, err
	}
	for i := range cfg.Providers {
		p := cfg.Providers[i]
		m.providers[p.Name] = &p
	}
	if m.client == nil {
		m.client = newClient()
	}
	m.callTimeout = m.client.Timeout
	if m.callTimeout <= 0 {
		m.callTimeout = defaultCallTimeout
	}
	if m.refreshBefore == 0 {
		m.refreshBefore = defaultRefreshBefore
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.audit == nil {
		m.audit = func(string, string, string, string, string) {}
	}
	return m, nil
}

// RedirectURI is the redirect_uri sent to providers.
func (m *Manager) RedirectURI() string { return m.redirectURI }

// CheckProviders reports the first OAuth key of man whose provider is not
// configured, as a validation error naming the field.
func (m *Manager) CheckProviders(man *store.Manifest) error {
	for _, list := range []struct {
		field string
		keys  []store.KeySpec
	}{{"keys", man.Keys}, {"app_keys", man.AppKeys}} {
		for i, k := range list.keys {
			if k.OAuth == nil {
				continue
			}
			if _, ok := m.providers[k.OAuth.Provider]; !ok {
				return &store.ValidationError{Field: fmt.Sprintf("%s[%d].oauth.provider", list.field, i),
					Problem: fmt.Sprintf("names %s, which is not a configured oauth_provider", k.OAuth.Provider)}
			}
		}
	}
	return nil
}

// target is everything needed to talk to the provider for one key.
type target struct {
	spec         store.OAuthSpec
	hosts        []string
	provider     *Provider
	clientID     string
	clientSecret string
}

// resolve reads the key's oauth spec, its provider and the package's
// client credentials. app selects app_keys.
func (m *Manager) resolve(pkg, key string, app bool) (*target, error) {
	man, err := m.st.GetPackage(pkg)
	if err != nil {
		return nil, err
	}
	spec, ok := man.Key(key)
	if app {
		spec, ok = man.AppKey(key)
	}
	if !ok {
		return nil, fmt.Errorf("%w: package %s declares no key %s", ErrConfig, pkg, key)
	}
	wantGrant := store.GrantAuthorizationCode
	if app {
		wantGrant = store.GrantClientCredentials
	}
	if spec.OAuth == nil || spec.OAuth.Grant != wantGrant {
		return nil, fmt.Errorf("%w: key %s of package %s is not an oauth %s key", ErrConfig, key, pkg, wantGrant)
	}
	p, ok := m.providers[spec.OAuth.Provider]
	if !ok {
		return nil, fmt.Errorf("%w: oauth_provider %s (key %s of package %s) is not configured", ErrConfig, spec.OAuth.Provider, key, pkg)
	}
	t := &target{spec: *spec.OAuth, hosts: spec.Hosts, provider: p}
	for _, c := range []struct {
		name string
		dst  *string
	}{{spec.OAuth.ClientID, &t.clientID}, {spec.OAuth.ClientSecret, &t.clientSecret}} {
		err := m.st.OpenAppSecret(pkg, c.name, func(_ store.SecretMeta, v []byte) error {
			*c.dst = string(v)
			return nil
		})
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("%w: package %s has no value for app key %s", ErrConfig, pkg, c.name)
		}
		if err != nil {
			return nil, err
		}
	}
	return t, nil
}

func (t *target) config(redirectURI string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     t.clientID,
		ClientSecret: t.clientSecret,
		Endpoint:     oauth2.Endpoint{AuthURL: t.provider.AuthorizeURL, TokenURL: t.provider.TokenURL, AuthStyle: t.provider.authStyle()},
		RedirectURL:  redirectURI,
		Scopes:       t.spec.Scopes,
	}
}

// callContext detaches a provider call from the request that started it
// (waiters share its result) and bounds it.
func (m *Manager) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.callTimeout)
	return context.WithValue(ctx, oauth2.HTTPClient, m.client), cancel
}

// Connect starts connecting the keychain's key: it records a single-use
// state and returns the provider's authorize URL to send the owner to.
func (m *Manager) Connect(kc, pkg, key string) (string, error) {
	if _, err := m.st.GetKeychain(kc); err != nil {
		return "", err
	}
	t, err := m.resolve(pkg, key, false)
	if err != nil {
		return "", err
	}
	if t.provider.AuthorizeURL == "" {
		return "", fmt.Errorf("%w: oauth_provider %s has no authorize_url", ErrConfig, t.provider.Name)
	}
	st := store.OAuthState{State: randomString(32), Keychain: kc, Package: pkg, Key: key, RedirectURI: m.redirectURI}
	var opts []oauth2.AuthCodeOption
	if t.provider.pkce() {
		st.Verifier = oauth2.GenerateVerifier()
		opts = append(opts, oauth2.S256ChallengeOption(st.Verifier))
	}
	names := make([]string, 0, len(t.provider.ExtraAuthorizeParams))
	for k := range t.provider.ExtraAuthorizeParams {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		opts = append(opts, oauth2.SetAuthURLParam(k, t.provider.ExtraAuthorizeParams[k]))
	}
	if err := m.st.PutOAuthState(st); err != nil {
		return "", err
	}
	m.audit(EventConnect, kc, pkg, key, "started")
	return t.config(st.RedirectURI).AuthCodeURL(st.State, opts...), nil
}

// CallbackResult says which key a confirmation connected.
type CallbackResult struct {
	Keychain, Package, Key string
	Account                string    // "" when the provider did not name the account
	ExpiresAt              time.Time // zero: the provider gave no expiry
	Scopes                 []string
}

// Pending is a connect whose code was exchanged, waiting for the owner to
// confirm the account (see Confirm).
type Pending struct {
	// ID is the confirmation's handle: only the browser that finished the
	// callback may see it.
	ID                     string
	Keychain, Package, Key string
	Account                string // "" when the provider did not name the account
	ExpiresAt              time.Time
	Scopes                 []string
}

// Callback exchanges a connect's code: it takes the state (once),
// exchanges the code, learns which account the provider connected and
// keeps the token sealed as a pending connect that only the browser whose
// nonce digest is browser can confirm. errParam is the callback's "error"
// parameter. Nothing is stored as a secret until Confirm.
func (m *Manager) Callback(ctx context.Context, code, state, errParam, browser string) (Pending, error) {
	if state == "" || len(state) > maxCallbackParam {
		m.audit(EventCallback, "", "", "", "bad_state")
		return Pending{}, fmt.Errorf("%w: missing or oversized state", ErrState)
	}
	st, err := m.st.TakeOAuthState(state, m.now())
	if err != nil {
		m.audit(EventCallback, "", "", "", "bad_state")
		if errors.Is(err, store.ErrOAuthState) {
			return Pending{}, fmt.Errorf("%w: %w", ErrState, err)
		}
		return Pending{}, err
	}
	fail := func(outcome string, err error) (Pending, error) {
		m.audit(EventCallback, st.Keychain, st.Package, st.Key, outcome)
		return Pending{}, err
	}
	if errParam != "" {
		if errParam == "access_denied" {
			return fail("denied", fmt.Errorf("%w: the owner declined at the provider", ErrDenied))
		}
		return fail("provider_error", fmt.Errorf("%w: the provider answered %s", ErrDenied, safeCode(errParam)))
	}
	if code == "" || len(code) > maxCallbackParam {
		return fail("bad_request", fmt.Errorf("%w: missing or oversized code", ErrBadCallback))
	}
	t, err := m.resolve(st.Package, st.Key, false)
	if err != nil {
		return fail("config_error", err)
	}
	callCtx, cancel := m.callContext(ctx)
	defer cancel()
	var opts []oauth2.AuthCodeOption
	if st.Verifier != "" {
		opts = append(opts, oauth2.VerifierOption(st.Verifier))
	}
	now := m.now()
	tok, err := t.config(st.RedirectURI).Exchange(callCtx, code, opts...)
	if err != nil {
		outcome := classify(err)
		if outcome == "unavailable" {
			return fail(outcome, fmt.Errorf("%w: the token endpoint of %s did not answer in time or failed", ErrUnavailable, t.provider.Name))
		}
		return fail(outcome, fmt.Errorf("%w: %s answered the code exchange with %s", ErrExchange, t.provider.Name, describe(outcome)))
	}
	stored := storedToken(tok, now, t.spec.Scopes)
	stored.ConnectedAt = now
	p := store.OAuthPending{ID: randomString(32), Keychain: st.Keychain, Package: st.Package, Key: st.Key,
		Account: m.account(ctx, t.provider, tok), AllowedHosts: t.hosts, Browser: browser, Token: stored}
	if err := m.st.PutOAuthPending(p); err != nil {
		return fail("store_error", err)
	}
	m.audit(EventCallback, st.Keychain, st.Package, st.Key, "pending")
	return Pending{ID: p.ID, Keychain: p.Keychain, Package: p.Package, Key: p.Key, Account: p.Account,
		ExpiresAt: now.Add(store.OAuthPendingTTL), Scopes: stored.Scopes}, nil
}

// Confirm stores the pending connect id as the keychain's secret, allowed
// only to the manifest key's hosts, when browser is the one that finished
// its callback. It works once.
func (m *Manager) Confirm(id, browser string) (CallbackResult, error) {
	p, err := m.takePending(id, browser, true)
	if err != nil {
		return CallbackResult{}, err
	}
	meta, err := m.st.PutOAuthToken(p.Keychain, p.Key, p.Token, p.AllowedHosts, 0)
	if err != nil {
		m.audit(EventConfirm, p.Keychain, p.Package, p.Key, "store_error")
		return CallbackResult{}, err
	}
	m.forget(userRef(p.Keychain, p.Package, p.Key))
	m.audit(EventConfirm, p.Keychain, p.Package, p.Key, "ok")
	return CallbackResult{Keychain: p.Keychain, Package: p.Package, Key: p.Key, Account: p.Account,
		ExpiresAt: meta.ExpiresAt, Scopes: meta.Scopes}, nil
}

// Cancel discards the pending connect id, as Confirm would take it.
func (m *Manager) Cancel(id, browser string) (CallbackResult, error) {
	p, err := m.takePending(id, browser, false)
	if err != nil {
		return CallbackResult{}, err
	}
	m.audit(EventConfirm, p.Keychain, p.Package, p.Key, "cancelled")
	return CallbackResult{Keychain: p.Keychain, Package: p.Package, Key: p.Key, Account: p.Account}, nil
}

func (m *Manager) takePending(id, browser string, withToken bool) (store.OAuthPending, error) {
	p, err := m.st.TakeOAuthPending(id, browser, m.now(), withToken)
	switch {
	case errors.Is(err, store.ErrOAuthPending):
		m.audit(EventConfirm, "", "", "", "bad_pending")
		return p, fmt.Errorf("%w: it was already confirmed or cancelled, or has expired", ErrPending)
	case errors.Is(err, store.ErrOAuthPendingBrowser):
		m.audit(EventConfirm, "", "", "", "other_browser")
		return p, fmt.Errorf("%w: confirm it in the browser that came back from the provider", ErrBrowser)
	}
	return p, err
}

// Disconnect deletes the keychain's token and, when the provider has a
// revoke_url, revokes it there too (best effort: the local delete stands
// whatever the provider answers).
func (m *Manager) Disconnect(ctx context.Context, kc, pkg, key string) error {
	tok, _, openErr := m.st.GetOAuthToken(kc, key)
	if err := m.st.DeleteSecret(kc, key); err != nil {
		m.audit(EventDisconnect, kc, pkg, key, "not_found")
		return err
	}
	m.forget(userRef(kc, pkg, key))
	outcome := "ok"
	if openErr == nil {
		if t, err := m.resolve(pkg, key, false); err == nil && t.provider.RevokeURL != "" {
			outcome = "revoked"
			if err := m.revoke(ctx, t, tok); err != nil {
				outcome = "revoke_failed"
			}
		}
	}
	m.audit(EventDisconnect, kc, pkg, key, outcome)
	return nil
}

// revoke posts the refresh token (which takes its access tokens with it
// at most providers) or else the access token, per RFC 7009.
func (m *Manager) revoke(ctx context.Context, t *target, tok store.OAuthToken) error {
	form := url.Values{"token": {tok.AccessToken}, "token_type_hint": {"access_token"}}
	if tok.RefreshToken != "" {
		form = url.Values{"token": {tok.RefreshToken}, "token_type_hint": {"refresh_token"}}
	}
	if t.provider.authStyle() == oauth2.AuthStyleInParams {
		form.Set("client_id", t.clientID)
		form.Set("client_secret", t.clientSecret)
	}
	ctx, cancel := context.WithTimeout(ctx, m.callTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.provider.RevokeURL, strings.NewReader(form.Encode()))
	if err != nil {
		return errors.New("revoke request")
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if t.provider.authStyle() == oauth2.AuthStyleInHeader {
		req.SetBasicAuth(url.QueryEscape(t.clientID), url.QueryEscape(t.clientSecret))
	}
	resp, err := m.client.Do(req)
	if err != nil {
		return errors.New("revoke call failed")
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("revoke answered %d", resp.StatusCode)
	}
	return nil
}

// safeCode echoes a provider error code only when it looks like one
// (RFC 6749 codes are short lowercase words).
func safeCode(code string) string {
	if len(code) > 40 {
		return "an error"
	}
	for i := 0; i < len(code); i++ {
		if c := code[i]; !(('a' <= c && c <= 'z') || c == '_') {
			return "an error"
		}
	}
	return code
}

func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
