package caddymodule_test

import (
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
