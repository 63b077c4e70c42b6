package gateway

import (
	"strings"
	"testing"

	"github.com/keygate/keygate/preset"
)

// TestOAuthProviderPreset: `preset <provider>` fills an oauth_provider's
// endpoints, auth style, PKCE and extra parameters; the block's own
// options win.
func TestOAuthProviderPreset(t *testing.T) {
	app, err := parseKeygateBlock(t, `
		public_url https://keys.example.com
		oauth_provider github {
			preset github
		}
		oauth_provider google {
			token_url https://oauth2.example.com/token
			preset google
			pkce off
			extra_authorize_params prompt=select_account
		}`)
	if err != nil {
		t.Fatal(err)
	}
	gh, goog := app.OAuthProviders[0], app.OAuthProviders[1]
	want, _ := preset.Get("github")
	if gh.AuthorizeURL != want.OAuth.AuthorizeURL || gh.TokenURL != want.OAuth.TokenURL || gh.AuthStyle != "params" || gh.PKCE == nil || !*gh.PKCE {
		t.Fatalf("github: %+v", gh)
	}
	if goog.TokenURL != "https://oauth2.example.com/token" || goog.AuthorizeURL != "https://accounts.google.com/o/oauth2/v2/auth" ||
		*goog.PKCE || goog.ExtraAuthorizeParams["prompt"] != "select_account" || goog.ExtraAuthorizeParams["access_type"] != "offline" {
		t.Fatalf("google: the block's options did not win: %+v", goog)
	}
	if err := app.validateOAuth(); err != nil {
		t.Fatal(err)
	}
}

func TestOAuthProviderPresetBad(t *testing.T) {
	for _, tc := range []struct{ name, body, want string }{
		{"unknown", "oauth_provider a {\npreset githib\n}", `oauth_provider a: unknown preset "githib": known presets are airtable,`},
		{"no oauth", "oauth_provider a {\npreset openai\n}", "preset openai has no OAuth endpoints"},
		{"no name", "oauth_provider a {\npreset\n}", "argument"},
		{"two names", "oauth_provider a {\npreset github gitlab\n}", "argument"},
		{"long", "oauth_provider a {\npreset " + strings.Repeat("g", 3000) + "\n}", "a name of 3000 characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseKeygateBlock(t, tc.body)
			if err == nil || !strings.Contains(err.Error(), tc.want) || len(err.Error()) > 1500 {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
