package caddymodule_test

import (
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// attackerSite serves pages at http://localhost:<port>: another site than
// keygate's http://127.0.0.1:<port> to the browser, so keygate's
// SameSite=Strict cookie stays behind on what they start.
func attackerSite(t *testing.T, pages map[string]string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, pages[r.URL.Path])
	}))
	t.Cleanup(srv.Close)
	return strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
}

// TestLoginLinkCSRFInBrowser: another site sending a signed-in owner's
// browser to the attacker's own sign-in link, by a GET or an
// auto-submitted form, signs no one in and leaves the owner's session;
// even a confirmation clicked on keygate's page asks again, naming both.
func TestLoginLinkCSRFInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	wd := startBrowser(t)
	g := startUIGateway(t, "")
	alice, _ := ownerSetup(g)
	mallory, _ := g.newKeychain("mallory", "")
	evil := g.loginLink(mallory)
	tok := evil[strings.Index(evil, "t=")+2:]
	site := attackerSite(t, map[string]string{
		"/get":  `<script>location.href = "` + evil + `";</script>`,
		"/post": `<form method="post" action="` + g.api + `/ui/login"><input type="hidden" name="t" value="` + html.EscapeString(tok) + `"></form><script>document.forms[0].submit();</script>`,
	})

	wd.navigate(g.loginLink(alice))
	if strings.Contains(wd.source(), `action="/ui/login"`) {
		wd.click(wd.find(`form[action="/ui/login"] button[type="submit"]`))
	}
	stillAlice := func(step string) {
		t.Helper()
		wd.navigate(g.api + "/ui/")
		wd.waitFor(step+": alice still signed in", func() bool {
			src := wd.source()
			return strings.Contains(src, "Signed in as <strong>alice</strong>") && !strings.Contains(src, "mallory")
		})
	}
	stillAlice("own sign-in")

	// A cross-site top-level GET of the attacker's link: a question only.
	wd.navigate(site + "/get")
	wd.waitFor("the link's confirmation page", func() bool {
		return strings.Contains(wd.currentURL(), "/ui/login") && strings.Contains(wd.source(), "Sign in as mallory")
	})
	// The owner clicks it anyway: asked again, with whom she would stop
	// being.
	wd.click(wd.find(`form[action="/ui/login"] button[type="submit"]`))
	wd.waitFor("the second question", func() bool {
		src := wd.source()
		return strings.Contains(src, "This browser is signed in as <strong>alice</strong>") && strings.Contains(src, "Sign in as mallory")
	})
	stillAlice("after a cross-site GET")

	// A cross-site auto-submitted form: refused outright.
	wd.navigate(site + "/post")
	wd.waitFor("the refusal", func() bool { return strings.Contains(wd.source(), "did not come from keygate") })
	stillAlice("after a cross-site POST")

	// None of it spent the attacker's link.
	c := g.newOwnerClient()
	if st, _, body := c.openLink(evil); st != 200 || !strings.Contains(body, "Signed in") || !strings.Contains(body, "mallory") {
		t.Fatalf("the attacker's link after the attempts: status %d", st)
	}
}
