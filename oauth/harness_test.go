package oauth

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate/oauthtest"
	"github.com/keygate/keygate/store"
)

const (
	testPkg   = "@acme/mail"
	testKey   = "GMAIL_TOKEN"
	testApp   = "APP_TOKEN"
	testPlain = "PLAIN_KEY"
)

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// auditLog records every audit callback, for outcome and leak checks.
type auditLog struct {
	mu     sync.Mutex
	events []string // "event keychain pkg key outcome"
}

func (l *auditLog) record(event, kc, pkg, key, outcome string) {
	l.mu.Lock()
	l.events = append(l.events, strings.Join([]string{event, kc, pkg, key, outcome}, " "))
	l.mu.Unlock()
}

func (l *auditLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.events...)
}

// has reports whether an event with that name and outcome was recorded.
func (l *auditLog) has(event, outcome string) bool {
	for _, e := range l.all() {
		if strings.HasPrefix(e, event+" ") && strings.HasSuffix(e, " "+outcome) {
			return true
		}
	}
	return false
}

type harness struct {
	t     *testing.T
	st    *store.Store
	clock *testClock
	srv   *oauthtest.Server
	audit *auditLog
	kc    string
	m     *Manager
	pkce  bool
	// states collects every state handed out, for the leak test.
	states []string
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, clock: &testClock{t: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}, audit: &auditLog{}, pkce: true}
	h.srv = oauthtest.New()
	t.Cleanup(h.srv.Close)
	kr, err := store.NewKeyring(store.MasterKey{ID: "k1", Key: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	h.st, err = store.Open(store.Options{InMemory: true, Keyring: kr, Now: h.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.st.Close() })
	man := store.Manifest{
		Name: testPkg, Version: "1.0.0", SHA256: strings.Repeat("ab", 32), Host: "mail", Upstream: "http://127.0.0.1:9",
		Keys: []store.KeySpec{
			{Name: testKey, Hosts: []string{"gmail.googleapis.com"},
				OAuth: &store.OAuthSpec{Provider: "stand", Scopes: []string{"mail.read"}, ClientID: "CLIENT_ID", ClientSecret: "CLIENT_SECRET"}},
			{Name: "GHOST_TOKEN", OAuth: &store.OAuthSpec{Provider: "ghost", ClientID: "CLIENT_ID", ClientSecret: "CLIENT_SECRET"}},
			{Name: "LONELY_TOKEN", OAuth: &store.OAuthSpec{Provider: "stand", ClientID: "CLIENT_ID", ClientSecret: "UNSET_SECRET"}},
			{Name: testPlain},
		},
		AppKeys: []store.KeySpec{
			{Name: "CLIENT_ID"}, {Name: "CLIENT_SECRET"}, {Name: "UNSET_SECRET"},
			{Name: testApp, Hosts: []string{"api.example.com"},
				OAuth: &store.OAuthSpec{Provider: "stand", Grant: store.GrantClientCredentials, Scopes: []string{"app"}, ClientID: "CLIENT_ID", ClientSecret: "CLIENT_SECRET"}},
		},
	}
	if _, err := h.st.PutPackage(man); err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]string{"CLIENT_ID": h.srv.ClientID, "CLIENT_SECRET": h.srv.ClientSecret} {
		if _, err := h.st.PutAppSecret(testPkg, name, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	kc, err := h.st.CreateKeychain("alice", "", "")
	if err != nil {
		t.Fatal(err)
	}
	h.kc = kc.ID
	h.m = h.manager()
	return h
}

// manager builds another Manager on the same store: another node.
func (h *harness) manager() *Manager {
	h.t.Helper()
	pkce := h.pkce
	m, err := NewManager(Config{
		Store: h.st,
		Providers: []Provider{{Name: "stand", AuthorizeURL: h.srv.AuthorizeURL(), TokenURL: h.srv.TokenURL(),
			RevokeURL: h.srv.RevokeURL(), PKCE: &pkce, ExtraAuthorizeParams: map[string]string{"access_type": "offline"}}},
		PublicURL: "https://keygate.example/",
		Client:    &http.Client{Timeout: 300 * time.Millisecond},
		Now:       h.clock.Now,
		Audit:     h.audit.record,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return m
}

// begin runs Connect and the provider's approval, returning the callback's
// query.
func (h *harness) begin(kc string) url.Values {
	h.t.Helper()
	u, err := h.m.Connect(kc, testPkg, testKey)
	if err != nil {
		h.t.Fatal(err)
	}
	back, err := url.Parse(h.srv.Authorize(h.t, u))
	if err != nil {
		h.t.Fatal(err)
	}
	q := back.Query()
	h.states = append(h.states, q.Get("state"))
	return q
}

// testBrowser is the nonce digest of the browser the harness's callbacks
// come from.
var testBrowser = strings.Repeat("b7", 32)

// exchange runs the callback: the connect is pending.
func (h *harness) exchange(q url.Values) (Pending, error) {
	return h.m.Callback(context.Background(), q.Get("code"), q.Get("state"), q.Get("error"), testBrowser)
}

// finish runs the callback and confirms it from the same browser.
func (h *harness) finish(q url.Values) (CallbackResult, error) {
	p, err := h.exchange(q)
	if err != nil {
		return CallbackResult{}, err
	}
	return h.m.Confirm(p.ID, testBrowser)
}

// connect connects the harness keychain's key and returns the token.
func (h *harness) connect() string {
	h.t.Helper()
	if _, err := h.finish(h.begin(h.kc)); err != nil {
		h.t.Fatal(err)
	}
	return h.token(h.m)
}

func (h *harness) token(m *Manager) string {
	h.t.Helper()
	tok, err := m.AccessToken(context.Background(), h.kc, testPkg, testKey)
	if err != nil {
		h.t.Fatal(err)
	}
	return tok
}

func (h *harness) stored() (store.OAuthToken, store.SecretMeta) {
	h.t.Helper()
	tok, meta, err := h.st.GetOAuthToken(h.kc, testKey)
	if err != nil {
		h.t.Fatal(err)
	}
	return tok, meta
}

func (h *harness) hasToken(kc string) bool {
	h.t.Helper()
	ok, err := h.st.HasSecret(kc, testKey)
	if err != nil {
		h.t.Fatal(err)
	}
	return ok
}
