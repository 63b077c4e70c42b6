package gateway

import (
	"errors"
	"strings"
	"testing"

	"github.com/keygate/keygate/store"
)

func TestOAuthProviderValidate(t *testing.T) {
	good := func() OAuthProvider {
		return OAuthProvider{Name: "google", AuthorizeURL: "https://accounts.example/auth", TokenURL: "https://oauth2.example/token"}
	}
	for _, ok := range []func(p *OAuthProvider){
		func(p *OAuthProvider) {},
		func(p *OAuthProvider) { p.TokenURL = "http://127.0.0.1:8080/token" },
		func(p *OAuthProvider) { p.TokenURL = "http://127.9.9.9/token" },
		func(p *OAuthProvider) { p.TokenURL = "http://[::1]:9/token" },
		func(p *OAuthProvider) { p.TokenURL = "http://LOCALHOST/token" },
		func(p *OAuthProvider) { p.AuthorizeURL = "" }, // client_credentials only
		func(p *OAuthProvider) { p.AuthStyle = "params"; p.RevokeURL = "https://oauth2.example/revoke" },
		func(p *OAuthProvider) {
			p.ExtraAuthorizeParams = map[string]string{"access_type": "offline", "prompt": "consent"}
		},
	} {
		p := good()
		ok(&p)
		if err := p.Validate(); err != nil {
			t.Errorf("%+v: %v", p, err)
		}
	}
	for _, tc := range []struct {
		name  string
		edit  func(p *OAuthProvider)
		field string
	}{
		{"bad name", func(p *OAuthProvider) { p.Name = "Goo gle" }, "name"},
		{"no token url", func(p *OAuthProvider) { p.TokenURL = "" }, "token_url"},
		{"http token url", func(p *OAuthProvider) { p.TokenURL = "http://oauth2.example/token" }, "token_url"},
		{"loopback lookalike", func(p *OAuthProvider) { p.TokenURL = "http://127.0.0.1.evil.example/token" }, "token_url"},
		{"private ip", func(p *OAuthProvider) { p.TokenURL = "http://10.0.0.1/token" }, "token_url"},
		{"relative", func(p *OAuthProvider) { p.TokenURL = "/token" }, "token_url"},
		{"userinfo", func(p *OAuthProvider) { p.TokenURL = "https://u:p@oauth2.example/token" }, "token_url"},
		{"http authorize url", func(p *OAuthProvider) { p.AuthorizeURL = "http://accounts.example/auth" }, "authorize_url"},
		{"ftp revoke url", func(p *OAuthProvider) { p.RevokeURL = "ftp://x/revoke" }, "revoke_url"},
		{"auth style", func(p *OAuthProvider) { p.AuthStyle = "basic" }, "auth_style"},
		{"reserved param", func(p *OAuthProvider) { p.ExtraAuthorizeParams = map[string]string{"State": "x"} }, "extra_authorize_params"},
	} {
		p := good()
		tc.edit(&p)
		err := p.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: err = %v, want one naming %s", tc.name, err, tc.field)
		}
		if err != nil && strings.Contains(err.Error(), "u:p") {
			t.Errorf("%s: error quotes userinfo", tc.name)
		}
	}
}

func TestNewOAuthManagerRefuses(t *testing.T) {
	h := newOAuthHarness(t)
	p := OAuthProvider{Name: "a", TokenURL: "https://x.example/token"}
	for _, cfg := range []OAuthManagerConfig{
		{PublicURL: "https://kg.example"},
		{Store: h.st, PublicURL: "kg.example"},
		{Store: h.st, PublicURL: "https://kg.example/?q=1"},
		{Store: h.st, PublicURL: "https://kg.example", Providers: []OAuthProvider{p, p}},
		{Store: h.st, PublicURL: "https://kg.example", Providers: []OAuthProvider{{Name: "a", TokenURL: "http://x.example"}}},
		{Store: h.st, PublicURL: "https://kg.example", RefreshBefore: -1},
	} {
		if _, err := NewOAuthManager(cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
	if got := h.m.RedirectURI(); got != "https://keygate.example/oauth/callback" {
		t.Fatalf("redirect uri %s", got)
	}
}

func TestOAuthCheckProviders(t *testing.T) {
	h := newOAuthHarness(t)
	man, err := h.st.GetPackage(oauthTestPkg)
	if err != nil {
		t.Fatal(err)
	}
	err = h.m.CheckProviders(&man)
	var ve *store.ValidationError
	if !errors.As(err, &ve) || ve.Field != "keys[1].oauth.provider" || !strings.Contains(err.Error(), "ghost") {
		t.Fatalf("err = %v", err)
	}
	man.Keys = man.Keys[:1]
	if err := h.m.CheckProviders(&man); err != nil {
		t.Fatal(err)
	}
}
