package caddymodule_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/keygate/keygate/oauthtest"
)

var providerLink = regexp.MustCompile(`id="to-provider" href="([^"]+)"`)

// TestOAuthConnectBoundToBrowser: a connect started on the owners' page
// finishes only with the cookie it set; a missing or forged one is 400
// oauth_browser and leaves the state for the right browser. The callback
// page may not be framed.
func TestOAuthConnectBoundToBrowser(t *testing.T) {
	srv := oauthtest.New()
	t.Cleanup(srv.Close)
	g := startConnectGateway(t, srv, srv.AuthorizeURL())
	kc, _ := g.newKeychain("alice", "")
	c := g.newOwnerClient()
	c.signIn(kc)
	c.get("/ui/keychains/" + kc)
	st, hdr, body := c.post("/ui/keychains/"+kc+"/connect", url.Values{"package": {"@acme/mail"}, "name": {"MAIL_TOKEN"}})
	m := providerLink.FindStringSubmatch(body)
	if st != 200 || m == nil || !strings.Contains(body, "You are connecting") {
		t.Fatalf("connect: status %d: %s", st, body)
	}
	binding := cookieNamed(hdr, "keygate_connect_")
	if binding == nil || !binding.HttpOnly || binding.SameSite != http.SameSiteLaxMode || binding.Path != "/oauth/callback" {
		t.Fatalf("binding cookie %+v: want HttpOnly, SameSite=Lax, Path=/oauth/callback", binding)
	}
	callback := srv.Authorize(t, html.UnescapeString(m[1]))

	for _, cookie := range []string{"", binding.Name + "=forged", binding.Name + "=" + binding.Value + "x", "keygate_connect_0000000000000000=" + binding.Value} {
		h := map[string]string{"Accept": "application/json"}
		if cookie != "" {
			h["Cookie"] = cookie
		}
		st, hd, b := g.call("GET", callback, "", h, nil)
		if st != 400 || !strings.Contains(string(b), `"oauth_browser"`) {
			t.Fatalf("callback with cookie %q: status %d: %s", cookie, st, b)
		}
		if !strings.Contains(hd.Get("Content-Type"), "problem") {
			t.Errorf("callback refusal is not a problem: %s", hd.Get("Content-Type"))
		}
	}
	if slices.Contains(g.secretNames(kc), "MAIL_TOKEN") {
		t.Fatal("a callback without the browser's binding stored a token")
	}
	// The page form of a refusal may not be framed.
	_, hd, _ := g.call("GET", callback, "", nil, nil)
	if !strings.Contains(hd.Get("Content-Security-Policy"), "frame-ancestors 'none'") || hd.Get("X-Frame-Options") != "DENY" {
		t.Errorf("callback page headers: CSP %q, X-Frame-Options %q", hd.Get("Content-Security-Policy"), hd.Get("X-Frame-Options"))
	}

	// The browser that started it finishes the callback; the connect
	// then waits for that browser's confirmation.
	st, _, b := g.call("GET", callback, "", map[string]string{"Accept": "application/json", "Cookie": binding.Name + "=" + binding.Value}, nil)
	if st != 200 || !strings.Contains(string(b), `"status":"pending"`) || slices.Contains(g.secretNames(kc), "MAIL_TOKEN") {
		t.Fatalf("callback from the right browser: status %d: %s", st, b)
	}
}
