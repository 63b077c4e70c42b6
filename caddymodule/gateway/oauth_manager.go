package gateway

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

// OAuthCallbackPath is where providers send the owner back, on the
// keygate_api site.
const OAuthCallbackPath = "/oauth/callback"

const (
	defaultOAuthRefreshBefore = 60 * time.Second
	defaultOAuthCallTimeout   = 10 * time.Second
	oauthLeaseTTL             = 30 * time.Second // above any call timeout: a dead holder frees it soon
	oauthWaitForOther         = 2 * time.Second  // how long a request waits for another node's refresh
	oauthPollEvery            = 25 * time.Millisecond
	oauthBackoffFirst         = time.Second
	oauthBackoffMax           = 30 * time.Second
	maxOAuthCallbackParam     = 4096
)

// Audit events the manager reports.
const (
	OAuthEventConnect    = "oauth.connect"
	OAuthEventCallback   = "oauth.callback"
	OAuthEventRefresh    = "oauth.refresh"
	OAuthEventDisconnect = "oauth.disconnect"
)

// OAuthAuditFunc receives one OAuth event. keychain is empty for app keys;
// outcome is a short word ("ok", "denied", "bad_state", "unavailable",
// "bad_response", "rejected", "reconnect_required", "revoked",
// "revoke_failed", ...), never a value.
type OAuthAuditFunc func(event, keychain, pkg, key, outcome string)

// OAuthManagerConfig configures NewOAuthManager.
type OAuthManagerConfig struct {
	Store     *store.Store
	Providers []OAuthProvider
	// PublicURL is keygate_api's public origin; redirect_uri is
	// PublicURL + OAuthCallbackPath.
	PublicURL string
	// Client calls the providers; nil: one with a 10s timeout. Calls are
	// also bounded by its Timeout (or 10s when it has none).
	Client *http.Client
	// RefreshBefore: a token expiring within it is refreshed first; 0 = 60s.
	RefreshBefore time.Duration
	Now           func() time.Time
	Audit         OAuthAuditFunc
}

// OAuthManager connects OAuth keys, keeps their tokens fresh and hands the
// current access token to egress. Refreshes are coalesced per key within
// the process and leased in the store across nodes.
type OAuthManager struct {
	st            *store.Store
	providers     map[string]*OAuthProvider
	redirectURI   string
	client        *http.Client
	callTimeout   time.Duration
	refreshBefore time.Duration
	now           func() time.Time
	audit         OAuthAuditFunc
	holder        string // this manager's lease holder id
	pollEvery     time.Duration
	waitForOther  time.Duration

	flights oauthFlights
	mu      sync.Mutex
	keys    map[string]*oauthKeyHealth
}

// oauthKeyHealth is what one node remembers about a key's provider calls.
type oauthKeyHealth struct {
	failures    int
	retryAt     time.Time
	deadVersion uint64 // stored version whose refresh token the provider refused
}

// NewOAuthManager validates the providers and the public URL.
func NewOAuthManager(cfg OAuthManagerConfig) (*OAuthManager, error) {
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
	m := &OAuthManager{
		st:            cfg.Store,
		providers:     make(map[string]*OAuthProvider, len(cfg.Providers)),
		redirectURI:   strings.TrimRight(cfg.PublicURL, "/") + OAuthCallbackPath,
		client:        cfg.Client,
		refreshBefore: cfg.RefreshBefore,
		now:           cfg.Now,
		audit:         cfg.Audit,
		holder:        "node-" + oauthRandom(12),
		pollEvery:     oauthPollEvery,
		waitForOther:  oauthWaitForOther,
		keys:          map[string]*oauthKeyHealth{},
	}
	for i := range cfg.Providers {
		p := cfg.Providers[i]
		if err := p.Validate(); err != nil {
			return nil, err
		}
		if _, dup := m.providers[p.Name]; dup {
			return nil, fmt.Errorf("oauth_provider %s is defined twice", p.Name)
		}
		m.providers[p.Name] = &p
	}
	if m.client == nil {
		m.client = &http.Client{Timeout: defaultOAuthCallTimeout}
	}
	m.callTimeout = m.client.Timeout
	if m.callTimeout <= 0 {
		m.callTimeout = defaultOAuthCallTimeout
	}
	if m.refreshBefore == 0 {
		m.refreshBefore = defaultOAuthRefreshBefore
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
func (m *OAuthManager) RedirectURI() string { return m.redirectURI }

// CheckProviders reports the first OAuth key of man whose provider is not
// configured, as a validation error naming the field.
func (m *OAuthManager) CheckProviders(man *store.Manifest) error {
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

// oauthTarget is everything needed to talk to the provider for one key.
type oauthTarget struct {
	spec         store.OAuthSpec
	hosts        []string
	provider     *OAuthProvider
	clientID     string
	clientSecret string
}

// resolve reads the key's oauth spec, its provider and the package's
// client credentials. app selects app_keys.
func (m *OAuthManager) resolve(pkg, key string, app bool) (*oauthTarget, error) {
	man, err := m.st.GetPackage(pkg)
	if err != nil {
		return nil, err
	}
	spec, ok := man.Key(key)
	if app {
		spec, ok = man.AppKey(key)
	}
	if !ok {
		return nil, fmt.Errorf("%w: package %s declares no key %s", ErrOAuthConfig, pkg, key)
	}
	wantGrant := store.GrantAuthorizationCode
	if app {
		wantGrant = store.GrantClientCredentials
	}
	if spec.OAuth == nil || spec.OAuth.Grant != wantGrant {
		return nil, fmt.Errorf("%w: key %s of package %s is not an oauth %s key", ErrOAuthConfig, key, pkg, wantGrant)
	}
	p, ok := m.providers[spec.OAuth.Provider]
	if !ok {
		return nil, fmt.Errorf("%w: oauth_provider %s (key %s of package %s) is not configured", ErrOAuthConfig, spec.OAuth.Provider, key, pkg)
	}
	t := &oauthTarget{spec: *spec.OAuth, hosts: spec.Hosts, provider: p}
	for _, c := range []struct {
		name string
		dst  *string
	}{{spec.OAuth.ClientID, &t.clientID}, {spec.OAuth.ClientSecret, &t.clientSecret}} {
		err := m.st.OpenAppSecret(pkg, c.name, func(_ store.SecretMeta, v []byte) error {
			*c.dst = string(v)
			return nil
		})
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("%w: package %s has no value for app key %s", ErrOAuthConfig, pkg, c.name)
		}
		if err != nil {
			return nil, err
		}
	}
	return t, nil
}

func (t *oauthTarget) config(redirectURI string) *oauth2.Config {
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
func (m *OAuthManager) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.callTimeout)
	return context.WithValue(ctx, oauth2.HTTPClient, m.client), cancel
}

// Connect starts connecting the keychain's key: it records a single-use
// state and returns the provider's authorize URL to send the owner to.
func (m *OAuthManager) Connect(kc, pkg, key string) (string, error) {
	if _, err := m.st.GetKeychain(kc); err != nil {
		return "", err
	}
	t, err := m.resolve(pkg, key, false)
	if err != nil {
		return "", err
	}
	if t.provider.AuthorizeURL == "" {
		return "", fmt.Errorf("%w: oauth_provider %s has no authorize_url", ErrOAuthConfig, t.provider.Name)
	}
	st := store.OAuthState{State: oauthRandom(32), Keychain: kc, Package: pkg, Key: key, RedirectURI: m.redirectURI}
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
	m.audit(OAuthEventConnect, kc, pkg, key, "started")
	return t.config(st.RedirectURI).AuthCodeURL(st.State, opts...), nil
}

// OAuthCallbackResult says which key a callback connected.
type OAuthCallbackResult struct {
	Keychain, Package, Key string
	ExpiresAt              time.Time // zero: the provider gave no expiry
	Scopes                 []string
}

// Callback finishes a connect: it takes the state (once), exchanges the
// code and seals the token as the keychain's secret, allowed only to the
// manifest key's hosts. errParam is the callback's "error" parameter.
// Nothing is stored unless every step succeeds.
func (m *OAuthManager) Callback(ctx context.Context, code, state, errParam string) (OAuthCallbackResult, error) {
	if state == "" || len(state) > maxOAuthCallbackParam {
		m.audit(OAuthEventCallback, "", "", "", "bad_state")
		return OAuthCallbackResult{}, fmt.Errorf("%w: missing or oversized state", ErrOAuthState)
	}
	st, err := m.st.TakeOAuthState(state, m.now())
	if err != nil {
		m.audit(OAuthEventCallback, "", "", "", "bad_state")
		if errors.Is(err, store.ErrOAuthState) {
			return OAuthCallbackResult{}, fmt.Errorf("%w: %w", ErrOAuthState, err)
		}
		return OAuthCallbackResult{}, err
	}
	res := OAuthCallbackResult{Keychain: st.Keychain, Package: st.Package, Key: st.Key}
	fail := func(outcome string, err error) (OAuthCallbackResult, error) {
		m.audit(OAuthEventCallback, st.Keychain, st.Package, st.Key, outcome)
		return OAuthCallbackResult{}, err
	}
	if errParam != "" {
		if errParam == "access_denied" {
			return fail("denied", fmt.Errorf("%w: the owner declined at the provider", ErrOAuthDenied))
		}
		return fail("provider_error", fmt.Errorf("%w: the provider answered %s", ErrOAuthDenied, oauthSafeCode(errParam)))
	}
	if code == "" || len(code) > maxOAuthCallbackParam {
		return fail("bad_request", fmt.Errorf("%w: missing or oversized code", ErrOAuthBadCallback))
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
		outcome := oauthClassify(err)
		if outcome == "unavailable" {
			return fail(outcome, fmt.Errorf("%w: the token endpoint of %s did not answer in time or failed", ErrOAuthUnavailable, t.provider.Name))
		}
		return fail(outcome, fmt.Errorf("%w: %s answered the code exchange with %s", ErrOAuthExchange, t.provider.Name, oauthDescribe(outcome)))
	}
	stored := oauthStoredToken(tok, now, t.spec.Scopes)
	stored.ConnectedAt = now
	meta, err := m.st.PutOAuthToken(st.Keychain, st.Key, stored, t.hosts, 0)
	if err != nil {
		return fail("store_error", err)
	}
	m.forget(oauthUserRef(st.Keychain, st.Package, st.Key))
	m.audit(OAuthEventCallback, st.Keychain, st.Package, st.Key, "ok")
	res.ExpiresAt, res.Scopes = meta.ExpiresAt, meta.Scopes
	return res, nil
}

// Disconnect deletes the keychain's token and, when the provider has a
// revoke_url, revokes it there too (best effort: the local delete stands
// whatever the provider answers).
func (m *OAuthManager) Disconnect(ctx context.Context, kc, pkg, key string) error {
	tok, _, openErr := m.st.GetOAuthToken(kc, key)
	if err := m.st.DeleteSecret(kc, key); err != nil {
		m.audit(OAuthEventDisconnect, kc, pkg, key, "not_found")
		return err
	}
	m.forget(oauthUserRef(kc, pkg, key))
	outcome := "ok"
	if openErr == nil {
		if t, err := m.resolve(pkg, key, false); err == nil && t.provider.RevokeURL != "" {
			outcome = "revoked"
			if err := m.revoke(ctx, t, tok); err != nil {
				outcome = "revoke_failed"
			}
		}
	}
	m.audit(OAuthEventDisconnect, kc, pkg, key, outcome)
	return nil
}

// revoke posts the refresh token (which takes its access tokens with it
// at most providers) or else the access token, per RFC 7009.
func (m *OAuthManager) revoke(ctx context.Context, t *oauthTarget, tok store.OAuthToken) error {
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

// oauthSafeCode echoes a provider error code only when it looks like one
// (RFC 6749 codes are short lowercase words).
func oauthSafeCode(code string) string {
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

func oauthRandom(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
