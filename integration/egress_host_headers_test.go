package integration

import (
	"net/http"
	"testing"
)

// TestEgressStripsHostHeaders: the headers a Host-routing front end may
// route by (Forwarded host=, X-Host, X-Forwarded-Server, X-Original-URL and
// the like) never reach the upstream with the secret, whatever the
// package's code sent, as X-Forwarded-Host does not.
func TestEgressStripsHostHeaders(t *testing.T) {
	t.Parallel()
	in := Start(t, Config{})
	inv, value := egressWorld(t, in, "127.0.0.1")
	noteSensitive(inv, value)
	hdr := bearer(inv)
	for _, name := range []string{"Forwarded", "X-Forwarded-Host", "X-Forwarded-Server", "X-Host", "X-Original-URL",
		"X-Original-Host", "X-Rewrite-URL", "X-HTTP-Host-Override"} {
		v := "attacker.example"
		if name == "Forwarded" {
			v = "host=attacker.example;proto=https"
		}
		hdr.Set(name, v)
	}
	if r := sendT(t, "GET", in.EgressURL+"/api/x", "", hdr, nil); r.Status != http.StatusOK {
		t.Fatalf("egress: %s", r)
	}
	got := in.Upstream.Last(t)
	if got.Header.Get("Authorization") != "Bearer "+value {
		t.Fatal("the upstream did not get the secret: the test proves nothing")
	}
	for name := range hdr {
		if name != "Authorization" && got.Header.Get(name) != "" {
			t.Errorf("the upstream got %s: %q", name, got.Header.Get(name))
		}
	}
}
