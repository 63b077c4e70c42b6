package caddymodule_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestHeldOwnerPage: the owner sees the held call on "Waiting for you",
// which refreshes itself without script, and approves it in place; other
// owners and forged forms cannot.
func TestHeldOwnerPage(t *testing.T) {
	g := startGateway(t, gatewayOptions{publicURL: true, keygateCfg: "approval_wait_max 20s"})
	s, inv := approveSetup(g)
	c := g.newOwnerClient()
	c.signIn(s.kc)
	page := "/ui/keychains/" + s.kc + "/waiting"
	if st, _, body := c.get(page); st != 200 || !strings.Contains(body, "No call is waiting for you") {
		t.Fatalf("empty waiting page: %d %s", st, body)
	}
	if _, _, body := c.get("/ui/keychains/" + s.kc); !strings.Contains(body, `href="`+page+`"`) {
		t.Fatal("the keychain page does not link to the waiting calls")
	}

	ch := background(func() (int, http.Header, []byte) {
		return g.call("POST", g.egress+"/api/v1/charges", "", map[string]string{"Authorization": "Bearer " + inv}, `{"amount":42,"currency":"eur"}`)
	})
	call := g.awaitHeld(s.kc, 1)[0]
	st, hdr, body := c.get(page)
	for _, want := range []string{"Needs your approval", "POST 127.0.0.1/v1/charges", call.BodySHA256, "&#34;amount&#34;: 42", `http-equiv="refresh" content="3"`, "Approve once", "Refuse"} {
		if st != 200 || !strings.Contains(body, want) {
			t.Fatalf("waiting page lacks %q: %d %s", want, st, body)
		}
	}
	if csp := hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(body, "<script") {
		t.Fatalf("the waiting page's CSP %q or a script", csp)
	}

	// Hostile: another owner sees nothing and decides nothing.
	bobKC, _ := g.newKeychain("bob", "b")
	bob := g.newOwnerClient()
	bob.signIn(bobKC)
	if st, _, _ := bob.get(page); st != 404 {
		t.Fatalf("another owner's waiting page: %d", st)
	}
	bob.get("/ui/keychains/" + bobKC + "/waiting")
	if st, _, _ := bob.post(page+"/"+call.ID, url.Values{"decision": {"once"}}); st != 404 {
		t.Fatalf("another owner's decision: %d", st)
	}
	if st, _, _ := bob.post("/ui/keychains/"+bobKC+"/waiting/"+call.ID, url.Values{"decision": {"once"}}); st != 404 {
		t.Fatalf("a decision through another keychain: %d", st)
	}
	// Hostile: a forged form, a bad decision, a bad duration.
	if st, _, _ := c.post(page+"/"+call.ID, url.Values{"decision": {"once"}, "csrf": {"forged"}}); st != 403 {
		t.Fatalf("forged CSRF: %d", st)
	}
	c.get(page)
	for _, form := range []url.Values{{"decision": {"always"}}, {"decision": {"shape"}, "for": {"forever"}}, {}} {
		if st, _, _ := c.post(page+"/"+call.ID, form); st != 400 {
			t.Fatalf("form %v: %d", form, st)
		}
	}
	if len(g.pending(s.kc)) != 1 {
		t.Fatal("a refused form decided the call")
	}

	st, hdr, _ = c.post(page+"/"+call.ID, url.Values{"decision": {"once"}})
	if st != 303 || !strings.HasSuffix(hdr.Get("Location"), "/waiting?done=approved") {
		t.Fatalf("approve: %d %v", st, hdr)
	}
	if r := receive(t, ch); r.status != 200 {
		t.Fatalf("the call approved on the page: %d %s", r.status, r.body)
	}
	// Replayed: the call is no longer waiting.
	if st, _, body := c.post(page+"/"+call.ID, url.Values{"decision": {"once"}}); st != 404 || !strings.Contains(body, "no longer waiting") {
		t.Fatalf("replayed decision: %d", st)
	}
	waitFor(t, "the owner's decision audited", func() bool {
		_, b := g.admin("GET", "/v1/audit?keychain="+s.kc, nil)
		return strings.Contains(string(b), `"actor":"owner:alice","action":"held.approve"`)
	})
}
