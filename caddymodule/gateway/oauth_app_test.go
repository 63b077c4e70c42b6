package gateway

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"

	"github.com/keygate/keygate/oauth"
)

func parseKeygateBlock(t *testing.T, body string) (*App, error) {
	t.Helper()
	d := caddyfile.NewTestDispenser("keygate {\n" + body + "\n}")
	v, err := parseGlobalOption(d, nil)
	if err != nil {
		return nil, err
	}
	app := new(App)
	if err := json.Unmarshal(v.(httpcaddyfile.App).Value, app); err != nil {
		t.Fatalf("app JSON: %v", err)
	}
	return app, nil
}

func TestOAuthCaddyfile(t *testing.T) {
	app, err := parseKeygateBlock(t, `
		public_url https://keys.example.com
		oauth_refresh_before 2m
		oauth_provider google {
			authorize_url https://accounts.example.com/auth
			token_url https://oauth2.example.com/token
			revoke_url https://oauth2.example.com/revoke
			auth_style params
			pkce off
			extra_authorize_params access_type=offline prompt=consent
			userinfo_url https://openidconnect.example.com/v1/userinfo email login
		}
		oauth_provider stub {
			token_url http://127.0.0.1:9/token
		}`)
	if err != nil {
		t.Fatal(err)
	}
	if len(app.OAuthProviders) != 2 || time.Duration(app.OAuthRefreshBefore) != 2*time.Minute {
		t.Fatalf("parsed %+v", app)
	}
	g := app.OAuthProviders[0]
	if g.Name != "google" || g.AuthStyle != "params" || g.PKCE == nil || *g.PKCE || g.RevokeURL == "" ||
		g.ExtraAuthorizeParams["access_type"] != "offline" || g.ExtraAuthorizeParams["prompt"] != "consent" ||
		g.UserinfoURL != "https://openidconnect.example.com/v1/userinfo" || strings.Join(g.UserinfoFields, ",") != "email,login" {
		t.Fatalf("google: %+v", g)
	}
	if err := app.validateOAuth(); err != nil {
		t.Fatal(err)
	}
}

func TestOAuthCaddyfileBad(t *testing.T) {
	for _, tc := range []struct{ name, body, want string }{
		{"no name", "oauth_provider {\n}", "NAME"},
		{"two names", "oauth_provider a b {\n}", "argument"},
		{"unknown option", "oauth_provider a {\nscope x\n}", `unrecognized option "scope"`},
		{"auth style", "oauth_provider a {\nauth_style basic\n}", "header or params"},
		{"pkce", "oauth_provider a {\npkce yes\n}", "on or off"},
		{"extra no equals", "oauth_provider a {\nextra_authorize_params prompt\n}", "k=v"},
		{"refresh before", "oauth_refresh_before soon", "duration"},
		{"userinfo no url", "oauth_provider a {\nuserinfo_url\n}", "userinfo_url <url>"},
		{"userinfo twice", "oauth_provider a {\nuserinfo_url https://a.example/u\nuserinfo_url https://b.example/u\n}", "want one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseKeygateBlock(t, tc.body)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestOAuthValidateApp(t *testing.T) {
	good := oauth.Provider{Name: "stub", TokenURL: "https://idp.example.com/token"}
	for _, tc := range []struct {
		name string
		app  *App
		want string
	}{
		{"no public_url", &App{OAuthProviders: oauth.Providers{good}}, "public_url"},
		{"http token_url", &App{PublicURL: "https://k.example.com", OAuthProviders: oauth.Providers{{Name: "x", TokenURL: "http://idp.example.com/token"}}}, "token_url must be https"},
		{"http authorize_url", &App{PublicURL: "https://k.example.com", OAuthProviders: oauth.Providers{{Name: "x", TokenURL: good.TokenURL, AuthorizeURL: "http://10.0.0.1/auth"}}}, "authorize_url must be https"},
		{"twice", &App{PublicURL: "https://k.example.com", OAuthProviders: oauth.Providers{good, good}}, "defined twice"},
		{"bad name", &App{PublicURL: "https://k.example.com", OAuthProviders: oauth.Providers{{Name: "Bad", TokenURL: good.TokenURL}}}, "oauth_provider name"},
		{"http userinfo_url", &App{PublicURL: "https://k.example.com", OAuthProviders: oauth.Providers{{Name: "x", TokenURL: good.TokenURL, UserinfoURL: "http://idp.example.com/userinfo"}}}, "userinfo_url must be https"},
		{"userinfo field", &App{PublicURL: "https://k.example.com", OAuthProviders: oauth.Providers{{Name: "x", TokenURL: good.TokenURL, UserinfoURL: "https://idp.example.com/u", UserinfoFields: []string{"a<b"}}}}, "not a field name"},
		{"negative", &App{OAuthRefreshBefore: caddy.Duration(-time.Second)}, "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.app.validateOAuth()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
