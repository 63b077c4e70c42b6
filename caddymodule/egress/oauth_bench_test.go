package egress

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	"github.com/keygate/keygate/caddymodule/internal/hotpath"
	"github.com/keygate/keygate/policy"
	"github.com/keygate/keygate/scrub"
	"github.com/keygate/keygate/store"
)

// BenchmarkEgressOAuth compares the egress hot path of a static key with
// that of an OAuth key between refreshes (its token fresh): both read one
// sealed value from the store, so they should cost about the same.
func BenchmarkEgressOAuth(b *testing.B) {
	ba := hotpath.New(b)
	req := httptest.NewRequest("GET", "http://api.example.com/v1/messages", nil)
	req = req.WithContext(context.WithValue(req.Context(), caddy.CtxKey("reverse_proxy.dial_info"), reverseproxy.DialInfo{Host: "api.example.com", Port: "443"}))
	static := &Transport{app: ba.App, Secret: "API_KEY", Scope: scopeUser, Header: "Authorization", prefix: "Bearer ", scrubbers: new(scrub.Cache)}
	oauth := &Transport{app: ba.App, Secret: "MAIL_TOKEN", Scope: scopeUser, Header: "Authorization", prefix: "Bearer ", scrubbers: new(scrub.Cache)}
	oauthInv := oauthFixture(b, ba)

	run := func(b *testing.B, t *Transport, inv string) {
		r := req.Clone(req.Context())
		r.Header.Set("Authorization", "Bearer "+inv)
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			ev := store.AuditEvent{Actor: "package", Action: "egress"}
			host, port := dialedHostPort(r)
			out, _, _, p := t.authorize(r, "", &ev, host, port)
			if p != nil || out.Header.Get("Authorization") == r.Header.Get("Authorization") {
				b.Fatalf("denied: %v", p)
			}
		}
	}
	b.Run("static", func(b *testing.B) { run(b, static, ba.Inv) })
	b.Run("oauth", func(b *testing.B) { run(b, oauth, oauthInv) })
}

// oauthFixture adds a package with an OAuth key and a fresh stored token
// to the hot-path fixture, and returns an invocation token for it.
func oauthFixture(b *testing.B, ba *hotpath.Fixture) string {
	st := ba.App.Store()
	m := store.Manifest{
		Name: "@acme/mail", Version: "1.0.0", Host: "mail", Upstream: "http://127.0.0.1:9002",
		SHA256: "0f2c4d1e8b7a6f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0f9e8d7c",
		Keys: []store.KeySpec{{Name: "MAIL_TOKEN", Required: true, Hosts: []string{"api.example.com"},
			OAuth: &store.OAuthSpec{Provider: "stub", ClientID: "CLIENT_ID", ClientSecret: "CLIENT_SECRET"}}},
		AppKeys: []store.KeySpec{{Name: "CLIENT_ID"}, {Name: "CLIENT_SECRET"}},
	}
	if _, err := st.PutPackage(m); err != nil {
		b.Fatal(err)
	}
	tok := store.OAuthToken{AccessToken: "at-0123456789abcdef0123456789", RefreshToken: "rt-0123456789abcdef", TokenType: "Bearer",
		Expiry: time.Now().Add(24 * time.Hour)}
	if _, err := st.PutOAuthToken(ba.KC.ID, "MAIL_TOKEN", tok, []string{"api.example.com"}, 0); err != nil {
		b.Fatal(err)
	}
	g, err := st.PutGrant(ba.KC.ID, m.Name, []string{"MAIL_TOKEN"})
	if err != nil {
		b.Fatal(err)
	}
	pkg, err := st.GetPackage(m.Name)
	if err != nil {
		b.Fatal(err)
	}
	inv, err := ba.App.Tokens().MintInvocationToken(policy.Invocation{Keychain: ba.KC.ID, Package: m.Name, SHA256: m.SHA256,
		KeychainVersion: ba.KC.TokenVersion, GrantEpoch: g.Epoch, CodeEpoch: pkg.CodeEpoch, Keys: []string{"MAIL_TOKEN"}})
	if err != nil {
		b.Fatal(err)
	}
	return inv
}
