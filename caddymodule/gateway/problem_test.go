package gateway

import (
	"net/http"
	"strings"
	"testing"

	"github.com/keygate/keygate/policy"
	"github.com/keygate/keygate/store"
)

// TestExplainDenialOAuthKey: for an OAuth key the hints say connect, not
// secret set; a static key's set_with names the hosts it may go to.
func TestExplainDenialOAuthKey(t *testing.T) {
	mk, _ := store.GenerateMasterKey("k1")
	kr, _ := store.NewKeyring(mk)
	st, err := store.Open(store.Options{InMemory: true, Keyring: kr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	app, stop := NewStandalone(st, nil, false)
	t.Cleanup(stop)
	app.PublicURL = "https://keygate.example"
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

// TestDenialProblemStatuses: each denial's status comes from the registry,
// not_requested is 400 wherever it is answered, and a revoked token is 401
// with its challenge.
func TestDenialProblemStatuses(t *testing.T) {
	for _, k := range problemKinds {
		p := DenialProblem(&policy.Denial{Reason: policy.DenyReason(k.Reason), Package: "@a/b", Key: "K"})
		if p.Status != k.Status || p.Reason != k.Reason || p.Type != problemTypeBase+k.Reason {
			t.Errorf("%s: %d %s %s", k.Reason, p.Status, p.Reason, p.Type)
		}
	}
	if p := DenialProblem(&policy.Denial{Reason: policy.TokenRevoked}); p.headersExtra.Get("Www-Authenticate") == "" {
		t.Error("401 without Www-Authenticate")
	}
	p := DenialProblem(&policy.Denial{Reason: policy.NotRequested, Package: "@a/b", Key: "api_key", Requested: []string{"API_KEY", "OTHER"}})
	if p.Status != http.StatusBadRequest || p.Key != "api_key" || !strings.Contains(p.Detail, `"api_key"`) || !strings.Contains(p.Detail, "API_KEY, OTHER") {
		t.Errorf("not_requested: %+v", p)
	}
	if h := ProblemResponse(nil, p).Header; h.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("ProblemResponse headers %v", h)
	}
}
