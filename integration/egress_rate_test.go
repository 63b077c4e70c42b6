package integration

import (
	"net/http"
	"strconv"
	"testing"
)

// TestEgressRateLimits: a route's "rate" is per keychain and package: the
// call past the burst is 429 rate_limited with Retry-After and never
// reaches the upstream; another package or keychain has its own bucket;
// a reload keeps the bucket (no fresh burst).
func TestEgressRateLimits(t *testing.T) {
	t.Parallel()
	// Hour windows: no token comes back while the test runs.
	w := newWorld(t, Config{TransportOptions: "rate 1/h burst 2"})
	in := w.in
	inv := in.mintInvocation(t, w.pkgCode, w.host, w.token)
	for i := range 2 {
		if r := in.callEgress(t, inv, "GET", "/api/x", nil); r.Status != http.StatusOK {
			t.Fatalf("egress call %d: %s", i+1, r)
		}
	}
	before := in.Upstream.Count()
	check429 := func(what string) {
		t.Helper()
		r := in.callEgress(t, inv, "GET", "/api/x", nil)
		p := wantProblem(t, what, r, http.StatusTooManyRequests, "rate_limited")
		ra, err := strconv.Atoi(r.Header.Get("Retry-After"))
		if err != nil || ra < 1 || ra > 3600 || p.RetryAfter != ra {
			t.Errorf("%s: Retry-After %q, retry_after %d", what, r.Header.Get("Retry-After"), p.RetryAfter)
		}
		if in.Upstream.Count() != before {
			t.Fatalf("%s: a rate-limited call reached the upstream", what)
		}
	}
	check429("3rd egress call (rate 1/h burst 2)")

	// Another package of the same keychain, and another keychain: their own buckets.
	other := NewUpstream(t, nil)
	in.putPackage(t, apiKeyManifest("@it/other", "other", other.URL))
	in.grant(t, w.kc, "@it/other", "API_KEY")
	if r := in.callEgress(t, in.mintInvocation(t, other, "other", w.token), "GET", "/api/x", nil); r.Status != http.StatusOK {
		t.Errorf("another package: %s", r)
	}
	kc2, tok2 := in.newKeychain(t, "second")
	in.setSecret(t, kc2, "API_KEY", RandomToken(t, "v_"))
	in.grant(t, kc2, w.pkgName, "API_KEY")
	if r := in.callEgress(t, in.mintInvocation(t, w.pkgCode, w.host, tok2), "GET", "/api/x", nil); r.Status != http.StatusOK {
		t.Errorf("another keychain: %s", r)
	}
	before = in.Upstream.Count()

	// A reload (of a changed config, so Caddy does replace the route)
	// hands no one a full bucket.
	cfg := in.Config
	cfg.TransportOptions += "\n\t\t\t\tdial_timeout 4s"
	in.Reload(cfg)
	check429("after a reload")
}
