package gateway_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/keygate/keygate/caddymodule/internal/hotpath"
	"github.com/keygate/keygate/policy"
	"github.com/keygate/keygate/store"
)

// TestExplainDenialOAuthKey: for an OAuth key the hints say connect, not
// secret set; a static key's set_with names the hosts it may go to.
func TestExplainDenialOAuthKey(t *testing.T) {
	app := hotpath.LoadApp(t, map[string]any{"public_url": "https://keygate.example"})
	st := app.Store()
	oauth := store.KeySpec{Name: "GMAIL_TOKEN", Hosts: []string{"gmail.googleapis.com"},
		OAuth: &store.OAuthSpec{Provider: "stand", ClientID: "CLIENT_ID", ClientSecret: "CLIENT_SECRET"}}
	static := store.KeySpec{Name: "API_KEY", Required: true, Hosts: []string{"api.example.com", "*.example.org"}}
	man := store.Manifest{Name: "@acme/mail", Version: "1.0.0", SHA256: strings.Repeat("ab", 32), Host: "mail", Upstream: "http://127.0.0.1:9",
		Keys: []store.KeySpec{oauth, static}, AppKeys: []store.KeySpec{{Name: "CLIENT_ID"}, {Name: "CLIENT_SECRET"}}}
	if _, err := st.PutPackage(man); err != nil {
		t.Fatal(err)
	}
	p := app.ExplainDenial(&policy.Denial{Reason: policy.MissingKeys, Keychain: "kc_x", Package: man.Name, Missing: []store.KeySpec{oauth, static}})
	if p.Status != http.StatusPreconditionRequired || p.SetURL == "" || len(p.MissingKeys) != 2 {
		t.Fatalf("got %+v", p)
	}
	if got, want := p.MissingKeys[0].SetWith, "keygate connect kc_x @acme/mail GMAIL_TOKEN && keygate grant kc_x @acme/mail GMAIL_TOKEN"; got != want {
		t.Errorf("oauth set_with %q, want %q", got, want)
	}
	if got, want := p.MissingKeys[1].SetWith, "keygate secret set kc_x API_KEY --allow-host api.example.com --allow-host *.example.org && keygate grant kc_x @acme/mail API_KEY"; got != want {
		t.Errorf("static set_with %q, want %q", got, want)
	}
	p = app.ExplainDenial(&policy.Denial{Reason: policy.NoGrant, Keychain: "kc_x", Package: man.Name})
	if !strings.Contains(p.Detail, "keygate grant kc_x @acme/mail KEY...") || !strings.Contains(p.Detail, "keygate connect kc_x @acme/mail GMAIL_TOKEN") ||
		strings.Contains(p.Detail, "connect kc_x @acme/mail API_KEY") || p.SetURL == "" || p.Package != man.Name {
		t.Errorf("no_grant: %+v", p)
	}
}
