package caddymodule_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestHeldInBrowser: in headless chromium, the owner keeps "Waiting for
// you" open; a held call appears without a reload (the page's meta
// refresh), and the owner's click on "Approve once" lets the call
// complete while the browser is on the page.
func TestHeldInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	wd := startBrowser(t)
	g := startGateway(t, gatewayOptions{publicURL: true, keygateCfg: "approval_wait_max 60s"})
	s, inv := approveSetup(g)
	wd.navigate(g.loginLink(s.kc))
	wd.waitFor("the sign-in confirmation", func() bool { return strings.Contains(wd.source(), `action="/ui/login"`) })
	wd.click(wd.find(`form[action="/ui/login"] button[type="submit"]`))
	wd.waitFor("sign-in", func() bool { return strings.Contains(wd.source(), "Signed in as") })
	wd.navigate(g.api + "/ui/keychains/" + s.kc + "/waiting")
	wd.waitFor("the empty waiting page", func() bool { return strings.Contains(wd.source(), "No call is waiting for you") })

	ch := background(func() (int, http.Header, []byte) {
		return g.call("POST", g.egress+"/api/v1/charges", "", map[string]string{"Authorization": "Bearer " + inv}, `{"amount":7}`)
	})
	wd.waitFor("the held call on the page, without a reload", func() bool {
		return strings.Contains(wd.source(), "POST 127.0.0.1/v1/charges")
	})
	saveArtifact(t, "held-waiting.png", wd.screenshot())
	wd.click(wd.find(`button[value="once"]`))
	r := receive(t, ch)
	if r.status != 200 || string(r.body) != "upstream ok" {
		t.Fatalf("the call approved in the browser: %d %s", r.status, r.body)
	}
	wd.waitFor("the page after approving", func() bool { return strings.Contains(wd.source(), "Approved. The call goes on.") })
}
