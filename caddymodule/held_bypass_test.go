package caddymodule_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestHeldEgressApprovePathShapes: a call an approve rule covers, however
// its path is spelled (dot segments, doubled slashes, escapes), is held
// for the owner, never sent unapproved; the upstream would read each as
// the covered path.
func TestHeldEgressApprovePathShapes(t *testing.T) {
	g := startGateway(t, gatewayOptions{keygateCfg: "approval_wait_max 1s"})
	_, inv := approveSetup(g)
	for _, path := range []string{
		"/api/v1/charges",
		"/api/x/../v1/charges",
		"/api/v1/./charges",
		"/api/./v1/charges",
		"/api//v1/charges",
		"/api/v1//charges",
		"/api/v1/%63harges",
		"/api/v1/charges/",
		"/api/v1/x/%2e%2e/charges",
		"/api/v1/x%2f..%2fcharges",
	} {
		before := g.upstream.count()
		st, _, b := g.egressCall(path, inv, wait("1"))
		if g.upstream.count() != before {
			t.Errorf("%s: sent without the owner's approval (%d), upstream saw %s", path, st, g.upstream.last(t).URL.RequestURI())
			continue
		}
		if st == 200 {
			t.Errorf("%s: answered 200: %s", path, b)
		}
	}
}

// TestHeldEgressApproveMethodCase: a method spelled in lower case is the
// rule's method to any server that folds case, so it is held too (or
// refused), never sent unapproved.
func TestHeldEgressApproveMethodCase(t *testing.T) {
	g := startGateway(t, gatewayOptions{keygateCfg: "approval_wait_max 1s"})
	_, inv := approveSetup(g)
	for _, m := range []string{"post", "Post"} {
		before := g.upstream.count()
		st, _, b := g.call(m, g.egress+"/api/v1/charges", "", map[string]string{"Authorization": "Bearer " + inv, "Prefer": "wait=1"}, `{"amount":1}`)
		if g.upstream.count() != before {
			t.Errorf("%s: sent without the owner's approval (%d %s)", m, st, b)
		}
	}
}

// TestHeldEgressApprovedAfterRevocation: a call held for the owner's
// approval that is approved after its grant was revoked, or its value
// deleted, does not go out: an approval lets the call go on as it stands
// at the moment of the decision, not as it stood when it was held.
func TestHeldEgressApprovedAfterRevocation(t *testing.T) {
	g := startGateway(t, gatewayOptions{keygateCfg: "approval_wait_max 20s"})
	s, _ := approveSetup(g)
	for name, revoke := range map[string]func(){
		"grant revoked": func() { g.mustAdmin(204, "DELETE", "/v1/keychains/"+s.kc+"/grants/@acme/tools", nil) },
		"value deleted": func() { g.mustAdmin(204, "DELETE", "/v1/keychains/"+s.kc+"/secrets/API_KEY", nil) },
	} {
		if st, _, b := g.agent("tools", s.token, nil); st != 200 {
			t.Fatalf("agent call: %d %s", st, b)
		}
		inv := strings.TrimPrefix(g.pkgUpstream.last(t).Header.Get("Authorization"), "Bearer ")
		before := g.upstream.count()
		ch := background(func() (int, http.Header, []byte) { return g.egressCall("/api/v1/charges", inv, nil) })
		c := g.awaitHeld(s.kc, 1)[0]
		revoke()
		g.mustAdmin(200, "POST", "/v1/keychains/"+s.kc+"/pending/"+c.ID+"/approve", map[string]any{"scope": "once"})
		r := receive(t, ch)
		if g.upstream.count() != before || r.status == 200 {
			t.Errorf("%s, then approved: the call went out (%d %s)", name, r.status, r.body)
		}
		// Back as it was for the next case.
		g.mustAdmin(204, "PUT", "/v1/keychains/"+s.kc+"/secrets/API_KEY", map[string]any{"value": "sk_" + randHex(t, 8), "allowed_hosts": []string{"127.0.0.1"}})
		g.mustAdmin(200, "PUT", "/v1/keychains/"+s.kc+"/grants/@acme/tools", map[string]any{"keys": []string{"API_KEY"}})
	}
}
