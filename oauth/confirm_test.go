package oauth

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/store"
)

// TestCallbackStoresNothingUntilConfirmed: the exchanged token waits,
// sealed, for the browser that finished the callback; another browser,
// a replay, a cancel and an expiry all leave the keychain without it.
func TestCallbackStoresNothingUntilConfirmed(t *testing.T) {
	h := newHarness(t)
	other := strings.Repeat("0f", 32)

	p, err := h.exchange(h.begin(h.kc))
	if err != nil {
		t.Fatal(err)
	}
	if p.Keychain != h.kc || p.Key != testKey || len(p.ID) < 43 || !p.ExpiresAt.Equal(h.clock.Now().Add(store.OAuthPendingTTL)) {
		t.Fatalf("pending %+v", p)
	}
	if h.hasToken(h.kc) {
		t.Fatal("the callback stored the token before the owner confirmed")
	}
	if _, err := h.m.Confirm(p.ID, other); !errors.Is(err, ErrBrowser) {
		t.Fatalf("confirm from another browser: %v", err)
	}
	if _, err := h.m.Cancel(p.ID, other); !errors.Is(err, ErrBrowser) {
		t.Fatalf("cancel from another browser: %v", err)
	}
	if _, err := h.m.Confirm(p.ID+"x", testBrowser); !errors.Is(err, ErrPending) {
		t.Fatalf("confirm of an unknown id: %v", err)
	}
	if h.hasToken(h.kc) {
		t.Fatal("a refused confirmation stored the token")
	}
	if _, err := h.m.Confirm(p.ID, testBrowser); err != nil {
		t.Fatalf("confirm from the callback's browser: %v", err)
	}
	if !h.hasToken(h.kc) {
		t.Fatal("the confirmation stored nothing")
	}
	if _, err := h.m.Confirm(p.ID, testBrowser); !errors.Is(err, ErrPending) {
		t.Fatalf("replayed confirm: %v", err)
	}
	if !h.audit.has(EventConfirm, "other_browser") || !h.audit.has(EventConfirm, "bad_pending") {
		t.Fatalf("audit: %v", h.audit.all())
	}

	// Cancelled: gone, nothing stored.
	if err := h.st.DeleteSecret(h.kc, testKey); err != nil {
		t.Fatal(err)
	}
	p, err = h.exchange(h.begin(h.kc))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.m.Cancel(p.ID, testBrowser); err != nil {
		t.Fatal(err)
	}
	if _, err := h.m.Confirm(p.ID, testBrowser); !errors.Is(err, ErrPending) || h.hasToken(h.kc) {
		t.Fatalf("confirm after cancel: %v", err)
	}

	// Expired: refused, nothing stored.
	p, err = h.exchange(h.begin(h.kc))
	if err != nil {
		t.Fatal(err)
	}
	h.clock.Add(store.OAuthPendingTTL + time.Second)
	if _, err := h.m.Confirm(p.ID, testBrowser); !errors.Is(err, ErrPending) || h.hasToken(h.kc) {
		t.Fatalf("confirm after expiry: %v", err)
	}
}

// TestCallbackNamesTheAccount: the ID token's claims name it (unverified,
// for display only), else the provider's userinfo_url, else nothing; a
// name is cleaned of control and bidi characters.
func TestCallbackNamesTheAccount(t *testing.T) {
	h := newHarness(t)
	named := func() string {
		t.Helper()
		p, err := h.exchange(h.begin(h.kc))
		if err != nil {
			t.Fatal(err)
		}
		return p.Account
	}
	if got := named(); got != "" {
		t.Fatalf("no id_token, no userinfo_url: %q", got)
	}
	h.srv.SetIDToken(map[string]any{"sub": "1234", "email": "alice@example.test"})
	if got := named(); got != "alice@example.test" {
		t.Fatalf("id_token email: %q", got)
	}
	h.srv.SetIDToken(map[string]any{"sub": "1234", "preferred_username": "ali\u202ece\x00\n"})
	if got := named(); got != "alice" {
		t.Fatalf("id_token preferred_username: %q", got)
	}
	h.srv.SetIDToken(map[string]any{"sub": 1234.0})
	if got := named(); got != "1234" {
		t.Fatalf("id_token numeric sub: %q", got)
	}
	h.srv.SetIDToken(nil)

	// userinfo_url with a field list: the first non-empty field.
	m, err0 := NewManager(Config{Store: h.st, Providers: []Provider{{Name: "stand", AuthorizeURL: h.srv.AuthorizeURL(), TokenURL: h.srv.TokenURL(),
		UserinfoURL: h.srv.UserinfoURL(), UserinfoFields: []string{"login", "id"}}}, PublicURL: "https://keygate.example/", Now: h.clock.Now, Audit: h.audit.record})
	if err0 != nil {
		t.Fatal(err0)
	}
	h.m = m
	if got := named(); got != "" {
		t.Fatalf("userinfo answering 404: %q", got)
	}
	h.srv.SetUserinfo(map[string]any{"login": "", "id": 42.0, "email": "ignored@example.test"})
	if got := named(); got != "42" {
		t.Fatalf("userinfo fields: %q", got)
	}
	h.srv.SetUserinfo(map[string]any{"login": strings.Repeat("é", 500)})
	if got := named(); len([]rune(got)) != maxAccountDisplay+1 {
		t.Fatalf("long name kept %d runes", len([]rune(got)))
	}
}

func TestUserinfoConfigRefused(t *testing.T) {
	base := Provider{Name: "p", TokenURL: "https://t.example/token"}
	for name, mut := range map[string]func(*Provider){
		"http userinfo":        func(p *Provider) { p.UserinfoURL = "http://id.example/userinfo" },
		"relative userinfo":    func(p *Provider) { p.UserinfoURL = "/userinfo" },
		"fields without url":   func(p *Provider) { p.UserinfoFields = []string{"email"} },
		"field with a space":   func(p *Provider) { p.UserinfoURL = "https://id.example/u"; p.UserinfoFields = []string{"e mail"} },
		"field with a newline": func(p *Provider) { p.UserinfoURL = "https://id.example/u"; p.UserinfoFields = []string{"email\n"} },
		"too many fields": func(p *Provider) {
			p.UserinfoURL = "https://id.example/u"
			p.UserinfoFields = strings.Fields("a b c d e f g h i")
		},
	} {
		p := base
		mut(&p)
		if err := p.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	ok := base
	ok.UserinfoURL, ok.UserinfoFields = "https://id.example/userinfo", []string{"email", "login"}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
}
