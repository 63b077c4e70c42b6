package store

import (
	"errors"
	"strings"
	"testing"
)

// oauthManifest is testManifest with a user OAuth key, a client_credentials
// app key and the client credentials they name.
func oauthManifest(name, host string) Manifest {
	m := testManifest(name, host)
	m.Keys = append(m.Keys, KeySpec{Name: "GMAIL_TOKEN", Hosts: []string{"gmail.googleapis.com"},
		OAuth: &OAuthSpec{Provider: "google", Scopes: []string{"mail.read"}, ClientID: "CLIENT_ID", ClientSecret: "CLIENT_SECRET"}})
	m.AppKeys = append(m.AppKeys,
		KeySpec{Name: "CLIENT_ID"}, KeySpec{Name: "CLIENT_SECRET"},
		KeySpec{Name: "APP_TOKEN", Hosts: []string{"api.example.com"},
			OAuth: &OAuthSpec{Provider: "acme", Grant: GrantClientCredentials, ClientID: "CLIENT_ID", ClientSecret: "CLIENT_SECRET"}})
	return m
}

func TestManifestOAuthGood(t *testing.T) {
	m := oauthManifest("@a/b", "b")
	if err := ValidateManifest(&m); err != nil {
		t.Fatal(err)
	}
	k, _ := m.Key("GMAIL_TOKEN")
	if k.OAuth.Grant != GrantAuthorizationCode {
		t.Fatalf("grant not defaulted: %q", k.OAuth.Grant)
	}
	k.OAuth.Scopes[0] = "changed"
	if again, _ := m.Key("GMAIL_TOKEN"); again.OAuth.Scopes[0] != "mail.read" {
		t.Fatal("Key returned a shared oauth spec")
	}
	if got := strings.Join(m.OAuthProviders(), ","); got != "acme,google" {
		t.Fatalf("OAuthProviders = %s", got)
	}
	c := m.clone()
	c.AppKeys[3].OAuth.Provider = "x"
	if m.AppKeys[3].OAuth.Provider != "acme" {
		t.Fatal("clone shares oauth specs")
	}
}

func TestManifestOAuthBad(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(m *Manifest)
		field string
	}{
		{"empty provider", func(m *Manifest) { m.Keys[2].OAuth.Provider = "" }, "keys[2].oauth.provider"},
		{"provider syntax", func(m *Manifest) { m.Keys[2].OAuth.Provider = "Goo gle" }, "keys[2].oauth.provider"},
		{"provider digit first", func(m *Manifest) { m.Keys[2].OAuth.Provider = "1g" }, "keys[2].oauth.provider"},
		{"provider long", func(m *Manifest) { m.Keys[2].OAuth.Provider = strings.Repeat("g", 65) }, "keys[2].oauth.provider"},
		{"scope space", func(m *Manifest) { m.Keys[2].OAuth.Scopes = []string{"a b"} }, "keys[2].oauth.scopes[0]"},
		{"scope empty", func(m *Manifest) { m.Keys[2].OAuth.Scopes = []string{"a", ""} }, "keys[2].oauth.scopes[1]"},
		{"scope quote", func(m *Manifest) { m.Keys[2].OAuth.Scopes = []string{`a"`} }, "keys[2].oauth.scopes[0]"},
		{"too many scopes", func(m *Manifest) { m.Keys[2].OAuth.Scopes = make([]string, 65) }, "keys[2].oauth.scopes"},
		{"client_id missing", func(m *Manifest) { m.Keys[2].OAuth.ClientID = "" }, "keys[2].oauth.client_id"},
		{"client_id not app key", func(m *Manifest) { m.Keys[2].OAuth.ClientID = "STRIPE_SECRET_KEY" }, "keys[2].oauth.client_id"},
		{"client_secret not app key", func(m *Manifest) { m.Keys[2].OAuth.ClientSecret = "NOPE" }, "keys[2].oauth.client_secret"},
		{"client_secret is oauth", func(m *Manifest) { m.Keys[2].OAuth.ClientSecret = "APP_TOKEN" }, "keys[2].oauth.client_secret"},
		{"same credential twice", func(m *Manifest) { m.Keys[2].OAuth.ClientSecret = "CLIENT_ID" }, "keys[2].oauth.client_secret"},
		{"user key client_credentials", func(m *Manifest) { m.Keys[2].OAuth.Grant = GrantClientCredentials }, "keys[2].oauth.grant"},
		{"user key unknown grant", func(m *Manifest) { m.Keys[2].OAuth.Grant = "password" }, "keys[2].oauth.grant"},
		{"app key no grant", func(m *Manifest) { m.AppKeys[3].OAuth.Grant = "" }, "app_keys[3].oauth.grant"},
		{"app key auth code", func(m *Manifest) { m.AppKeys[3].OAuth.Grant = GrantAuthorizationCode }, "app_keys[3].oauth.grant"},
		{"app key names itself", func(m *Manifest) { m.AppKeys[3].OAuth.ClientSecret = "APP_TOKEN" }, "app_keys[3].oauth.client_secret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := oauthManifest("@a/b", "b")
			tc.edit(&m)
			err := ValidateManifest(&m)
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field != tc.field {
				t.Fatalf("err = %v, want a ValidationError on %s", err, tc.field)
			}
		})
	}
}

func TestDecodeManifestOAuthUnknownField(t *testing.T) {
	data := strings.Replace(goodManifest, `"hosts": ["API.stripe.com"]}`,
		`"hosts": ["API.stripe.com"], "oauth": {"provider": "g", "client_id": "A", "client_secret": "B", "token": "x"}}`, 1)
	if _, err := DecodeManifest([]byte(data)); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "token") {
		t.Fatalf("err = %v", err)
	}
}
