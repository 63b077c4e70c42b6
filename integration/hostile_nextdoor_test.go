package integration

import (
	"net/http"
	"strings"
	"testing"
)

// TestHostileEgressUpgradeAndRedirect adds to the hostile-input suite what
// package code could try on egress beyond Host tricks (nextdoor_test.go):
// a WebSocket upgrade, without a token and with one, and an upstream
// redirect to another host, which must not be followed with the secret.
func TestHostileEgressUpgradeAndRedirect(t *testing.T) {
	t.Parallel()
	attacker := NewUpstream(t, nil)
	redirecting := NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/redirect") {
			http.Redirect(w, r, attacker.URL+"/landed", http.StatusFound)
			return
		}
		w.Write([]byte("ok"))
	})
	w := newWorld(t, Config{Upstream: redirecting.Addr})
	in := w.in
	inv := in.mintInvocation(t, w.pkgCode, w.host, w.token)
	upgrade := http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"},
		"Sec-Websocket-Version": {"13"}, "Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}}

	before := redirecting.Count()
	r := sendT(t, "GET", in.EgressURL+"/api/ws", attacker.Addr, upgrade, nil)
	wantProblem(t, "upgrade without a token", r, http.StatusUnauthorized, "unauthorized")
	if redirecting.Count() != before {
		t.Error("an upgrade without a token reached the upstream")
	}

	h := bearer(inv)
	for k, v := range upgrade {
		h[k] = v
	}
	r = sendT(t, "GET", in.EgressURL+"/api/ws", attacker.Addr, h, nil)
	if r.Status == http.StatusSwitchingProtocols {
		t.Fatalf("the stand-in upstream does not speak WebSocket, yet got 101")
	}
	if got := redirecting.Last(t); got.Host != redirecting.Addr || got.Header.Get("Authorization") != "Bearer "+w.value {
		t.Errorf("upgrade: the upstream saw Host %q and not the secret as configured", got.Host)
	}

	r = sendT(t, "GET", in.EgressURL+"/api/redirect", "", bearer(inv), nil)
	if r.Status != http.StatusFound || !strings.HasPrefix(r.Header.Get("Location"), attacker.URL) {
		t.Errorf("redirect: %s, want the 302 passed back to the caller", r)
	}
	if attacker.Count() != 0 {
		t.Errorf("the attacker received %d requests", attacker.Count())
	}
	AssertNotContains(t, "the secret value", w.value, map[string]string{"logs": in.Logs(), "redirect answer": string(r.Body)})
}
