package oauth

import (
	"errors"
	"strings"
	"testing"

	"github.com/keygate/keygate/store"
)

func TestProviderValidate(t *testing.T) {
	good := func() Provider {
		return Provider{Name: "google", AuthorizeURL: "https://accounts.example/auth", TokenURL: "https://oauth2.example/token"}
	}
	for _, ok := range []func(p *Provider){
		func(p *Provider) {},
		func(p *Provider) { p.TokenURL = "http://127.0.0.1:8080/token" },
		func(p *Provider) { p.TokenURL = "http://127.9.9.9/token" },
		func(p *Provider) { p.TokenURL = "http://[::1]:9/token" },
		func(p *Provider) { p.TokenURL = "http://LOCALHOST/token" },
		func(p *Provider) { p.AuthorizeURL = "" }, // client_credentials only
		func(p *Provider) { p.AuthStyle = "params"; p.RevokeURL = "https://oauth2.example/revoke" },
		func(p *Provider) {
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
		edit  func(p *Provider)
		field string
	}{
		{"bad name", func(p *Provider) { p.Name = "Goo gle" }, "name"},
		{"no token url", func(p *Provider) { p.TokenURL = "" }, "token_url"},
		{"http token url", func(p *Provider) { p.TokenURL = "http://oauth2.example/token" }, "token_url"},
		{"loopback lookalike", func(p *Provider) { p.TokenURL = "http://127.0.0.1.evil.example/token" }, "token_url"},
		{"private ip", func(p *Provider) { p.TokenURL = "http://10.0.0.1/token" }, "token_url"},
		{"relative", func(p *Provider) { p.TokenURL = "/token" }, "token_url"},
		{"userinfo", func(p *Provider) { p.TokenURL = "https://u:p@oauth2.example/token" }, "token_url"},
		{"http authorize url", func(p *Provider) { p.AuthorizeURL = "http://accounts.example/auth" }, "authorize_url"},
		{"ftp revoke url", func(p *Provider) { p.RevokeURL = "ftp://x/revoke" }, "revoke_url"},
		{"auth style", func(p *Provider) { p.AuthStyle = "basic" }, "auth_style"},
		{"reserved param", func(p *Provider) { p.ExtraAuthorizeParams = map[string]string{"State": "x"} }, "extra_authorize_params"},
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

func TestNewManagerRefuses(t *testing.T) {
	h := newHarness(t)
	p := Provider{Name: "a", TokenURL: "https://x.example/token"}
	for _, cfg := range []Config{
		{PublicURL: "https://kg.example"},
		{Store: h.st, PublicURL: "kg.example"},
		{Store: h.st, PublicURL: "https://kg.example/?q=1"},
		{Store: h.st, PublicURL: "https://kg.example", Providers: []Provider{p, p}},
		{Store: h.st, PublicURL: "https://kg.example", Providers: []Provider{{Name: "a", TokenURL: "http://x.example"}}},
		{Store: h.st, PublicURL: "https://kg.example", RefreshBefore: -1},
	} {
		if _, err := NewManager(cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
	if got := h.m.RedirectURI(); got != "https://keygate.example/oauth/callback" {
		t.Fatalf("redirect uri %s", got)
	}
}

func TestCheckProviders(t *testing.T) {
	h := newHarness(t)
	man, err := h.st.GetPackage(testPkg)
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
