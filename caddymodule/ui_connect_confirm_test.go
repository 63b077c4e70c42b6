package caddymodule_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/caddymodule/internal/clock"
	"github.com/keygate/keygate/oauthtest"
)

var pendingField = regexp.MustCompile(`name="pending" value="([^"]+)"`)

// cookieNamed is the last cookie hdr sets whose name starts with prefix.
func cookieNamed(hdr http.Header, prefix string) *http.Cookie {
	var found *http.Cookie
	for _, ck := range (&http.Response{Header: hdr}).Cookies() {
		if strings.HasPrefix(ck.Name, prefix) {
			found = ck
		}
	}
	return found
}

// ownerCallback runs an owner's connect on the page up to keygate's
// callback in c's browser and returns the confirmation page's pending id
// and body.
func ownerCallback(t *testing.T, g *gateway, srv *oauthtest.Server, c *ownerClient, kc string) (pending, body, callback string) {
	t.Helper()
	c.get("/ui/keychains/" + kc)
	st, _, page := c.post("/ui/keychains/"+kc+"/connect", url.Values{"package": {"@acme/mail"}, "name": {"MAIL_TOKEN"}})
	m := providerLink.FindStringSubmatch(page)
	if st != 200 || m == nil {
		t.Fatalf("connect: status %d: %s", st, page)
	}
	callback = srv.Authorize(t, html.UnescapeString(m[1]))
	st, hdr, body := c.get(callback)
	p := pendingField.FindStringSubmatch(body)
	if st != 200 || p == nil {
		t.Fatalf("callback: status %d: %s", st, body)
	}
	cookie := cookieNamed(hdr, "keygate_pending_")
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Path != "/oauth/callback" {
		t.Fatalf("pending cookie %+v: want HttpOnly, SameSite=Strict, Path=/oauth/callback", cookie)
	}
	if csp := hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "form-action 'self'") {
		t.Errorf("confirmation page CSP %q", csp)
	}
	return html.UnescapeString(p[1]), body, callback
}

// TestOAuthConnectConfirmed: the callback stores nothing; it shows the
// account the provider connected, and only a same-origin POST from the
// browser that finished the callback stores it, once. Another browser, a
// cross-site post, a bad form, a replay and an expired wait are refused;
// a cancel discards it. No code, token, pending id or cookie shows up in
// the logs, and the page carries neither code nor state.
func TestOAuthConnectConfirmed(t *testing.T) {
	srv := oauthtest.New()
	t.Cleanup(srv.Close)
	srv.SetIDToken(map[string]any{"sub": "u-1", "email": "alice@example.test"})
	g := startConnectGateway(t, srv, srv.AuthorizeURL())
	kc, _ := g.newKeychain("alice", "")
	c := g.newOwnerClient()
	c.signIn(kc)
	stored := func() bool { return slices.Contains(g.secretNames(kc), "MAIL_TOKEN") }
	sameOrigin := map[string]string{"Origin": g.api, "Sec-Fetch-Site": "same-origin"}
	confirm := func(c *ownerClient, pending, action string, hdr map[string]string) (int, string) {
		t.Helper()
		st, _, body := c.do("POST", "/oauth/callback", url.Values{"pending": {pending}, "action": {action}}, hdr)
		return st, body
	}

	pending, body, callback := ownerCallback(t, g, srv, c, kc)
	if !strings.Contains(body, `id="account">alice@example.test<`) || !strings.Contains(body, "MAIL_TOKEN") {
		t.Fatalf("confirmation page does not name the account: %s", body)
	}
	cu, _ := url.Parse(callback)
	for _, v := range []string{cu.Query().Get("code"), cu.Query().Get("state")} {
		if strings.Contains(body, v) {
			t.Fatal("the confirmation page carries the code or state")
		}
	}
	if stored() {
		t.Fatal("the callback stored the token before the owner confirmed")
	}

	// Another browser (signed in or not) with the pending id: refused, left pending.
	other := g.newOwnerClient()
	other.signIn(kc)
	if st, b := confirm(other, pending, "confirm", sameOrigin); st != 400 || !strings.Contains(b, "another browser") {
		t.Fatalf("confirm from another browser: %d %s", st, b)
	}
	if st, _ := confirm(other, pending, "cancel", sameOrigin); st != 400 {
		t.Fatalf("cancel from another browser: %d", st)
	}
	// Cross-site posts from the right browser: refused.
	for _, h := range []map[string]string{
		{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
		{"Sec-Fetch-Site": "same-site"},
		{"Origin": "https://evil.example"},
	} {
		if st, b := confirm(c, pending, "confirm", h); st != 403 || !strings.Contains(b, "did not come from keygate") {
			t.Fatalf("cross-site confirm %v: %d %s", h, st, b)
		}
	}
	// Bad forms: refused.
	if st, _ := confirm(c, pending, "maybe", sameOrigin); st != 400 {
		t.Fatalf("bad action: %d", st)
	}
	if st, _, _ := c.do("POST", "/oauth/callback", url.Values{"pending": {strings.Repeat("x", 8000)}, "action": {"confirm"}}, sameOrigin); st != 400 {
		t.Fatalf("oversized form: %d", st)
	}
	if st, _ := confirm(c, pending+"x", "confirm", sameOrigin); st != 400 {
		t.Fatalf("unknown pending id: %d", st)
	}
	if stored() {
		t.Fatal("a refused confirmation stored the token")
	}

	// The callback's browser confirms: stored, once.
	if st, b := confirm(c, pending, "confirm", sameOrigin); st != 200 || !strings.Contains(b, "is connected to alice@example.test") {
		t.Fatalf("confirm: %d %s", st, b)
	}
	if !stored() {
		t.Fatal("the confirmation stored nothing")
	}
	if st, b := confirm(c, pending, "confirm", sameOrigin); st != 400 || !strings.Contains(b, "no longer waiting") {
		t.Fatalf("replayed confirm: %d %s", st, b)
	}

	// Cancelled: nothing stored.
	g.mustAdmin(204, "DELETE", "/v1/keychains/"+kc+"/secrets/MAIL_TOKEN", nil)
	srv.SetIDToken(nil)
	pending, body, _ = ownerCallback(t, g, srv, c, kc)
	if !strings.Contains(body, "did not name the account") {
		t.Fatalf("an unnamed account's page: %s", body)
	}
	if st, b := confirm(c, pending, "cancel", sameOrigin); st != 200 || !strings.Contains(b, "nothing was saved") {
		t.Fatalf("cancel: %d %s", st, b)
	}
	if st, _ := confirm(c, pending, "confirm", sameOrigin); st != 400 || stored() {
		t.Fatalf("confirm after cancel: %d", st)
	}

	// Expired: refused, nothing stored.
	pending, _, _ = ownerCallback(t, g, srv, c, kc)
	now := time.Now()
	restore := clock.Set(func() time.Time { return now.Add(11 * time.Minute) })
	st, b := confirm(c, pending, "confirm", sameOrigin)
	restore()
	if st != 400 || !strings.Contains(b, "no longer waiting") || stored() {
		t.Fatalf("confirm after 11 minutes: %d %s", st, b)
	}

	logs := g.logs()
	secrets := append(srv.Secrets(), pending)
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Fatalf("a code, token or pending id is in the logs: %s", strings.ReplaceAll(logs, s, "[THE SECRET]"))
		}
	}
}
