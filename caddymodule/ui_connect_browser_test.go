package caddymodule_test

import (
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/keygate/keygate/oauthtest"
)

// consentProvider stands in front of the stand-in provider's authorize
// endpoint with a consent page, as a real provider has: a browser stops
// there until "Approve" is clicked, so its URL can be copied and sent to
// someone else.
func consentProvider(t *testing.T, srv *oauthtest.Server) string {
	t.Helper()
	c := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<h1>Allow keygate?</h1><a id="approve" href="%s">Approve</a>`, html.EscapeString(srv.AuthorizeURL()+"?"+r.URL.RawQuery))
	}))
	t.Cleanup(c.Close)
	return c.URL + "/authorize"
}

// startConnectGateway is keygate with the stand-in provider behind
// authorizeURL and a package @acme/mail whose MAIL_TOKEN is an OAuth key.
func startConnectGateway(t *testing.T, srv *oauthtest.Server, authorizeURL string) *gateway {
	t.Helper()
	g := startGateway(t, gatewayOptions{publicURL: true, keygateCfg: `oauth_provider stub {
			authorize_url ` + authorizeURL + `
			token_url ` + srv.TokenURL() + `
		}`})
	oauthKey := map[string]any{"name": "MAIL_TOKEN", "required": true, "hosts": []string{"127.0.0.1"},
		"oauth": map[string]any{"provider": "stub", "scopes": []string{"mail.read"}, "client_id": "CLIENT_ID", "client_secret": "CLIENT_SECRET"}}
	m := g.manifest("@acme/mail", "mail", oauthKey)
	m["app_keys"] = []any{map[string]any{"name": "CLIENT_ID", "required": true}, map[string]any{"name": "CLIENT_SECRET", "required": true}}
	g.mustAdmin(201, "PUT", "/v1/packages/@acme/mail", m)
	g.mustAdmin(204, "PUT", "/v1/packages/@acme/mail/app-secrets/CLIENT_ID", map[string]any{"value": srv.ClientID})
	g.mustAdmin(204, "PUT", "/v1/packages/@acme/mail/app-secrets/CLIENT_SECRET", map[string]any{"value": srv.ClientSecret})
	return g
}

// browserSignIn signs a browser in with a login link, confirming on the
// page it opens.
func browserSignIn(wd *webDriver, link, owner string) {
	wd.t.Helper()
	wd.navigate(link)
	wd.click(wd.find(`form[action="/ui/login"] button[type="submit"]`))
	wd.waitFor("signed in as "+owner, func() bool { return strings.Contains(wd.source(), "Signed in as <strong>"+owner+"</strong>") })
}

// TestOAuthConnectCSRFInBrowser: an attacker starts connecting their own
// keychain in their browser and sends the provider's page to a victim;
// the victim's approval lands on a callback keygate refuses, and the
// attacker's keychain gets nothing. The victim's own connect shows her
// the account the provider connected and stores nothing until she
// confirms it.
func TestOAuthConnectCSRFInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	srv := oauthtest.New()
	t.Cleanup(srv.Close)
	srv.SetIDToken(map[string]any{"sub": "u-1", "email": "alice@example.test"})
	g := startConnectGateway(t, srv, consentProvider(t, srv))
	alice, _ := g.newKeychain("alice", "")
	mallory, _ := g.newKeychain("mallory", "")

	victim, attacker := startBrowser(t), startBrowser(t)
	browserSignIn(victim, g.loginLink(alice), "alice")
	browserSignIn(attacker, g.loginLink(mallory), "mallory")
	connect := func(wd *webDriver, kc string) string {
		t.Helper()
		wd.navigate(g.api + "/ui/keychains/" + kc)
		wd.click(wd.find(`form[action="/ui/keychains/` + kc + `/connect"] button[type="submit"]`))
		wd.waitFor("the page before the provider", func() bool { return strings.Contains(wd.source(), "You are connecting") })
		wd.click(wd.find("#to-provider"))
		wd.waitFor("the provider's consent page", func() bool { return strings.Contains(wd.source(), "Allow keygate?") })
		return wd.currentURL()
	}

	// The attacker stops at the consent page and sends its URL on.
	lure := connect(attacker, mallory)
	victim.navigate(lure)
	victim.click(victim.find("#approve"))
	victim.waitFor("the refused callback", func() bool {
		src := victim.source()
		return strings.Contains(victim.currentURL(), "/oauth/callback") && strings.Contains(src, "another browser") && !strings.Contains(src, "is connected")
	})
	if slices.Contains(g.secretNames(mallory), "MAIL_TOKEN") {
		t.Fatal("the victim's approval connected an account to the attacker's keychain")
	}

	// The victim's own connect, in her browser, names the account and
	// waits for her.
	connect(victim, alice)
	victim.click(victim.find("#approve"))
	victim.waitFor("the confirmation page", func() bool {
		return strings.Contains(victim.source(), `id="account">alice@example.test<`)
	})
	if slices.Contains(g.secretNames(alice), "MAIL_TOKEN") {
		t.Fatal("the callback stored the token before the owner confirmed")
	}
	// Another site's page that posts the confirmation (even knowing the
	// pending id) in her browser is refused: the cookie is SameSite=Strict
	// and the origin is not keygate's.
	m := pendingField.FindStringSubmatch(victim.source())
	if m == nil {
		t.Fatal("no pending id on the confirmation page")
	}
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<form id="f" method="post" action="%s/oauth/callback"><input name="pending" value="%s"><input name="action" value="confirm"></form><script>document.getElementById("f").submit()</script>`,
			g.api, m[1])
	}))
	t.Cleanup(evil.Close)
	victim.navigate(evil.URL)
	victim.waitFor("the refused cross-site confirmation", func() bool {
		return strings.Contains(victim.currentURL(), "/oauth/callback") && strings.Contains(victim.source(), "Not connected")
	})
	if slices.Contains(g.secretNames(alice), "MAIL_TOKEN") {
		t.Fatal("a cross-site post confirmed the connect")
	}
	// Her page is gone with the navigation: she connects again.
	connect(victim, alice)
	victim.click(victim.find("#approve"))
	victim.waitFor("the confirmation page", func() bool { return strings.Contains(victim.source(), `id="confirm"`) })
	victim.click(victim.find("#confirm"))
	victim.waitFor("the victim's own connect", func() bool { return strings.Contains(victim.source(), "is connected to alice@example.test") })
	if !slices.Contains(g.secretNames(alice), "MAIL_TOKEN") {
		t.Fatal("the victim's own connect stored nothing")
	}
	// And the attacker's, in the attacker's browser (the refused callback
	// left its state there); cancelling it stores nothing.
	attacker.click(attacker.find("#approve"))
	attacker.waitFor("the attacker's confirmation page", func() bool { return strings.Contains(attacker.source(), `id="cancel"`) })
	attacker.click(attacker.find("#cancel"))
	attacker.waitFor("the attacker's cancel", func() bool { return strings.Contains(attacker.source(), "nothing was saved") })
	if slices.Contains(g.secretNames(mallory), "MAIL_TOKEN") {
		t.Fatal("a cancelled connect stored a token")
	}
	connect(attacker, mallory)
	attacker.click(attacker.find("#approve"))
	attacker.waitFor("the attacker's confirmation page", func() bool { return strings.Contains(attacker.source(), `id="confirm"`) })
	attacker.click(attacker.find("#confirm"))
	attacker.waitFor("the attacker's own connect", func() bool { return strings.Contains(attacker.source(), "is connected") })
	if !slices.Contains(g.secretNames(mallory), "MAIL_TOKEN") {
		t.Fatal("the connect's own browser could not finish it")
	}
}
