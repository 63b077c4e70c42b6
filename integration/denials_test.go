package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestIngressDenials checks every refusal of ingress (Flow 1) (except the rate
// limits, TestIngressRateLimits): status, problem+json body, and that
// nothing reaches the package's code.
func TestIngressDenials(t *testing.T) {
	t.Parallel()
	w := newWorld(t, Config{})
	in := w.in
	forwarded := func() int { return w.pkgCode.Count() }

	t.Run("401", func(t *testing.T) {
		before := forwarded()
		for _, c := range []struct {
			what string
			hdr  http.Header
		}{
			{"no Authorization", nil},
			{"empty bearer", http.Header{"Authorization": {"Bearer "}}},
			{"another scheme", http.Header{"Authorization": {"Basic " + w.token}}},
			{"token in another header", http.Header{"X-Api-Key": {w.token}}},
			{"garbage token", http.Header{"Authorization": {"Bearer not-a-token"}}},
		} {
			r := in.callIngress(t, w.host, "", "GET", "/x", c.hdr)
			p := wantProblem(t, c.what, r, http.StatusUnauthorized, "unauthorized")
			_ = p
		}
		// Authentication comes first: an unknown package host with no
		// token says 401, not 404, so packages cannot be probed anonymously.
		wantProblem(t, "unknown host without a token", in.callIngress(t, "nope", "", "GET", "/", nil), http.StatusUnauthorized, "unauthorized")
		if forwarded() != before {
			t.Error("a refused request reached the package's code")
		}
	})

	t.Run("401 rotated and deleted", func(t *testing.T) {
		kc, tok := in.newKeychain(t, "rotating")
		in.setSecret(t, kc, "API_KEY", RandomToken(t, "v_"))
		in.grant(t, kc, w.pkgName, "API_KEY")
		if r := in.callIngress(t, w.host, tok, "GET", "/", nil); r.Status != http.StatusOK {
			t.Fatalf("before rotation: %s", r)
		}
		r := in.mustAPI(t, http.StatusOK, "POST", "/v1/keychains/"+kc+"/token", nil)
		var rot struct{ Token string }
		json.Unmarshal(r.Body, &rot)
		noteSensitive(rot.Token)
		wantProblem(t, "rotated-out token", in.callIngress(t, w.host, tok, "GET", "/", nil), http.StatusUnauthorized, "unauthorized")
		in.mustAPI(t, http.StatusNoContent, "DELETE", "/v1/keychains/"+kc, nil)
		wantProblem(t, "token of a deleted keychain", in.callIngress(t, w.host, rot.Token, "GET", "/", nil), http.StatusUnauthorized, "unauthorized")
	})

	t.Run("404 unknown package", func(t *testing.T) {
		before := forwarded()
		p := wantProblem(t, "unknown host", in.callIngress(t, "nope", w.token, "GET", "/", nil), http.StatusNotFound, "unknown_package")
		if !strings.Contains(p.Detail, "nope") {
			t.Errorf("404 detail %q does not name the host", p.Detail)
		}
		if forwarded() != before {
			t.Error("a refused request reached the package's code")
		}
	})

	t.Run("403 no grant", func(t *testing.T) {
		kc, tok := in.newKeychain(t, "ungranted")
		in.setSecret(t, kc, "API_KEY", RandomToken(t, "v_"))
		before := forwarded()
		p := wantProblem(t, "no grant", in.callIngress(t, w.host, tok, "GET", "/", nil), http.StatusForbidden, "no_grant")
		if !strings.Contains(p.Detail, "keygate grant "+kc+" "+w.pkgName) || p.Package != w.pkgName {
			t.Errorf("no_grant does not say how to approve: %+v", p)
		}
		if forwarded() != before {
			t.Error("a refused request reached the package's code")
		}
	})

	t.Run("403 stale grant", func(t *testing.T) {
		code := NewUpstream(t, nil)
		m := apiKeyManifest("@it/stale", "stale", code.URL)
		in.putPackage(t, m)
		kc, tok := in.newKeychain(t, "stale")
		in.setSecret(t, kc, "API_KEY", RandomToken(t, "v_"))
		in.grant(t, kc, m.Name, "API_KEY")
		if r := in.callIngress(t, "stale", tok, "GET", "/", nil); r.Status != http.StatusOK {
			t.Fatalf("before the code change: %s", r)
		}
		old := m.SHA256
		m.SHA256 = sha256Hex("new code")
		in.putPackage(t, m)
		p := wantProblem(t, "stale grant", in.callIngress(t, "stale", tok, "GET", "/", nil), http.StatusForbidden, "stale_grant")
		if p.GrantedSHA != old || p.CurrentSHA != m.SHA256 || !strings.Contains(p.Detail, "keygate grant") {
			t.Errorf("stale_grant does not say which code was approved and how to approve again: %+v", p)
		}
		if code.Count() != 1 {
			t.Errorf("the package's code got %d requests, want only the one before the change", code.Count())
		}
		// The grant list says so too.
		r := in.mustAPI(t, http.StatusOK, "GET", "/v1/keychains/"+kc+"/grants", nil)
		if !strings.Contains(string(r.Body), `"status":"stale"`) {
			t.Errorf("grants: %s", r)
		}
	})

	t.Run("428 missing keys", func(t *testing.T) {
		code := NewUpstream(t, nil)
		m := testManifest{Name: "@it/needy", Version: "1.0.0", SHA256: sha256Hex("needy"), Host: "needy", Upstream: code.URL,
			Keys: []keySpec{
				{Name: "FIRST_KEY", Required: true, Description: "First: get it at https://first.example/keys.", Hosts: []string{"127.0.0.1"}},
				{Name: "SECOND_KEY", Required: true, Description: "Second: **Settings -> API**.", Hosts: []string{"127.0.0.1"}},
				{Name: "OPTIONAL_KEY", Required: false, Description: "Optional.", Hosts: []string{"127.0.0.1"}},
			}}
		in.putPackage(t, m)
		kc, tok := in.newKeychain(t, "needy")
		in.setSecret(t, kc, "FIRST_KEY", RandomToken(t, "v_"))
		// FIRST_KEY approved with a value; SECOND_KEY approved without a
		// value; OPTIONAL_KEY neither.
		in.grant(t, kc, m.Name, "FIRST_KEY", "SECOND_KEY")
		p := wantProblem(t, "missing value", in.callIngress(t, "needy", tok, "GET", "/", nil), http.StatusPreconditionRequired, "missing_keys")
		if len(p.MissingKeys) != 1 || p.MissingKeys[0].Name != "SECOND_KEY" || p.MissingKeys[0].Description != m.Keys[1].Description ||
			!strings.Contains(p.MissingKeys[0].SetWith, "keygate secret set "+kc+" SECOND_KEY") {
			t.Errorf("missing_keys: %+v", p.MissingKeys)
		}
		// Neither required key approved: both listed, each with its
		// description; the optional one is not.
		in.grant(t, kc, m.Name, "OPTIONAL_KEY")
		p = wantProblem(t, "missing approval", in.callIngress(t, "needy", tok, "GET", "/", nil), http.StatusPreconditionRequired, "missing_keys")
		got := map[string]string{}
		for _, k := range p.MissingKeys {
			got[k.Name] = k.Description
		}
		if len(got) != 2 || got["FIRST_KEY"] != m.Keys[0].Description || got["SECOND_KEY"] != m.Keys[1].Description {
			t.Errorf("missing_keys: %+v", p.MissingKeys)
		}
		if code.Count() != 0 {
			t.Errorf("nothing may be forwarded on 428; the package's code got %d requests", code.Count())
		}
		// Once both are set and approved, the call goes through.
		in.setSecret(t, kc, "SECOND_KEY", RandomToken(t, "v_"))
		in.grant(t, kc, m.Name, "FIRST_KEY", "SECOND_KEY")
		if r := in.callIngress(t, "needy", tok, "GET", "/", nil); r.Status != http.StatusOK {
			t.Errorf("after setting both keys: %s", r)
		}
		if k := code.Last(t).Header.Get("Keygate-Keys"); k != "FIRST_KEY,SECOND_KEY" {
			t.Errorf("Keygate-Keys %q", k)
		}
	})

	t.Run("audited", func(t *testing.T) {
		// Every denial above is in the audit log, with its reason.
		want := []string{"unauthorized", "unknown_package", "no_grant", "stale_grant", "missing_keys"}
		wantAuditedDenials(t, in, "ingress", want)
	})
}

// TestIngressRateLimits checks the 429s: per keychain and package, and
// per keychain across packages, each with Retry-After.
func TestIngressRateLimits(t *testing.T) {
	t.Parallel()
	// Hour windows: no token comes back while the test runs, however slow
	// the machine.
	w := newWorld(t, Config{PackageOptions: "rate 1/h burst 2", KeygateOptions: "keychain_rate 5/h burst 5"})
	in := w.in
	other := NewUpstream(t, nil)
	in.putPackage(t, apiKeyManifest("@it/other", "other", other.URL))
	in.grant(t, w.kc, "@it/other", "API_KEY")

	call := func(host, tok string) reply { return in.callIngress(t, host, tok, "GET", "/", nil) }
	check429 := func(what string, r reply) {
		t.Helper()
		p := wantProblem(t, what, r, http.StatusTooManyRequests, "rate_limited")
		ra, err := strconv.Atoi(r.Header.Get("Retry-After"))
		if err != nil || ra < 1 || ra > 3600 {
			t.Errorf("%s: Retry-After %q, want whole seconds within the hour", what, r.Header.Get("Retry-After"))
		}
		if p.RetryAfter != ra {
			t.Errorf("%s: retry_after %d, Retry-After %d", what, p.RetryAfter, ra)
		}
	}
	for i := range 2 {
		if r := call(w.host, w.token); r.Status != http.StatusOK {
			t.Fatalf("call %d to tools: %s", i+1, r)
		}
	}
	before := w.pkgCode.Count()
	check429("3rd call to one package (rate 1/h burst 2)", call(w.host, w.token))
	if w.pkgCode.Count() != before {
		t.Error("a rate-limited call reached the package's code")
	}
	// Another package has its own bucket; the keychain's shared bucket
	// (5) has had 3 calls.
	for i := range 2 {
		if r := call("other", w.token); r.Status != http.StatusOK {
			t.Fatalf("call %d to other: %s", i+1, r)
		}
	}
	// 6th call of the keychain: its own bucket is empty, whatever package.
	kc2, tok2 := in.newKeychain(t, "second")
	in.setSecret(t, kc2, "API_KEY", RandomToken(t, "v_"))
	in.grant(t, kc2, "@it/other", "API_KEY")
	check429("6th call of one keychain (keychain_rate 5/h burst 5)", call("other", w.token))
	// Another keychain is not affected.
	if r := call("other", tok2); r.Status != http.StatusOK {
		t.Errorf("another keychain: %s", r)
	}
}

// TestEgressDenials checks every refusal of egress (Flow 2): 401, 403 key not
// usable, 403 host not allowed (by the secret's allowed_hosts and by the
// package's hosts), and routes that dial a host outside allowed_hosts,
// which fail closed whatever the Host header says.
func TestEgressDenials(t *testing.T) {
	t.Parallel()
	evil := NewUpstream(t, nil) // a host the value may not go to
	api := NewUpstream(t, nil)  // the third-party API
	_, apiPort, _ := strings.Cut(api.Addr, ":")
	w := newWorld(t, Config{
		Upstream:   api.Addr,
		ExtraPorts: 1,
		ExtraSites: fmt.Sprintf(`
http://:{{index .Extra 0}} {
	bind 127.0.0.1
	route /evil/* {
		uri strip_prefix /evil
		reverse_proxy %s {
			transport keygate {
				secret API_KEY
			}
		}
	}
	route /dyn/* {
		uri strip_prefix /dyn
		reverse_proxy {http.request.header.X-Upstream} {
			transport keygate {
				secret API_KEY
			}
		}
	}
	route /byname/* {
		uri strip_prefix /byname
		reverse_proxy localhost:%s {
			transport keygate {
				secret API_KEY
			}
		}
	}
}`, evil.Addr, apiPort),
	})
	in := w.in
	// The value may go to the default upstream's exact host:port only.
	in.setSecret(t, w.kc, "API_KEY", w.value, api.Addr)
	extraURL := "http://127.0.0.1:" + strconv.Itoa(in.Ports.Extra[0])
	inv := in.mintInvocation(t, w.pkgCode, w.host, w.token)
	if r := in.callEgress(t, inv, "GET", "/api/ok", nil); r.Status != http.StatusOK {
		t.Fatalf("allowed egress: %s", r)
	}
	apiBefore := api.Count()

	t.Run("401", func(t *testing.T) {
		for _, c := range []struct {
			what string
			hdr  http.Header
		}{
			{"no token", nil},
			{"garbage", http.Header{"Authorization": {"Bearer abc.def.ghi"}}},
			{"token in another header", http.Header{"X-Api-Key": {inv}}},
			{"keychain token", http.Header{"Authorization": {"Bearer " + w.token}}},
			{"admin token", http.Header{"Authorization": {"Bearer " + in.AdminToken}}},
		} {
			wantProblem(t, c.what, in.callEgress(t, "", "GET", "/api/x", c.hdr), http.StatusUnauthorized, "unauthorized")
		}
	})

	t.Run("403 key not usable", func(t *testing.T) {
		code := NewUpstream(t, nil)
		m := testManifest{Name: "@it/partial", Version: "1.0.0", SHA256: sha256Hex("partial"), Host: "partial", Upstream: code.URL,
			Keys: []keySpec{
				{Name: "API_KEY", Required: false, Description: "Optional here.", Hosts: []string{"127.0.0.1"}},
				{Name: "OTHER_KEY", Required: true, Description: "Needed.", Hosts: []string{"127.0.0.1"}},
			}}
		in.putPackage(t, m)
		in.setSecret(t, w.kc, "OTHER_KEY", RandomToken(t, "v_"))
		in.grant(t, w.kc, m.Name, "OTHER_KEY") // API_KEY has a value but is not approved
		tok := in.mintInvocation(t, code, "partial", w.token)
		if k := code.Last(t).Header.Get("Keygate-Keys"); k != "OTHER_KEY" {
			t.Fatalf("Keygate-Keys %q", k)
		}
		p := wantProblem(t, "key not in the token", in.callEgress(t, tok, "GET", "/api/x", nil), http.StatusForbidden, "not_approved")
		if !strings.Contains(p.Detail, "API_KEY") {
			t.Errorf("detail %q does not name the key", p.Detail)
		}
	})

	t.Run("403 host not in allowed_hosts", func(t *testing.T) {
		kc, tok := in.newKeychain(t, "elsewhere")
		in.setSecret(t, kc, "API_KEY", RandomToken(t, "v_"), "api.example.com", "127.0.0.1:1")
		in.grant(t, kc, w.pkgName, "API_KEY")
		inv := in.mintInvocation(t, w.pkgCode, w.host, tok)
		wantProblem(t, "dialed host outside allowed_hosts", in.callEgress(t, inv, "GET", "/api/x", nil), http.StatusForbidden, "host_not_allowed")
		// No allowed_hosts at all: never injected (README).
		in.setSecret(t, kc, "API_KEY", RandomToken(t, "v_"), []string{}...)
		wantProblem(t, "empty allowed_hosts", in.callEgress(t, inv, "GET", "/api/x", nil), http.StatusForbidden, "host_not_allowed")
	})

	t.Run("403 host not in the package's hosts", func(t *testing.T) {
		code := NewUpstream(t, nil)
		m := apiKeyManifest("@it/remote", "remote", code.URL)
		m.Keys[0].Hosts = []string{"api.example.com"}
		in.putPackage(t, m)
		in.grant(t, w.kc, m.Name, "API_KEY") // the secret allows the API; the package's hosts do not
		tok := in.mintInvocation(t, code, "remote", w.token)
		wantProblem(t, "dialed host outside the package's hosts", in.callEgress(t, tok, "GET", "/api/x", nil), http.StatusForbidden, "host_not_allowed")
	})

	t.Run("routes outside allowed_hosts fail closed", func(t *testing.T) {
		for _, c := range []struct{ what, path, host string }{
			{"route to another port", "/evil/x", ""},
			{"route to another port, Host spoofed", "/evil/x", api.Addr},
			{"route by name to the allowed port", "/byname/x", ""},
			{"route by name, Host spoofed", "/byname/x", api.Addr},
		} {
			r := sendT(t, "GET", extraURL+c.path, c.host, bearer(inv), nil)
			wantProblem(t, c.what, r, http.StatusForbidden, "host_not_allowed")
		}
		// An operator's route whose upstream the caller picks (here from a
		// request header): the package points it at a host it controls;
		// the dialed host is checked, so the value does not go there.
		for what, target := range map[string]string{
			"dynamic upstream, another port": evil.Addr,
			"dynamic upstream, by name":      "localhost:" + apiPort,
			"dynamic upstream, none":         "",
		} {
			h := bearer(inv)
			if target != "" {
				h.Set("X-Upstream", target)
			}
			wantProblem(t, what, sendT(t, "GET", extraURL+"/dyn/x", "", h, nil), http.StatusForbidden, "host_not_allowed")
		}
		h := bearer(inv)
		h.Set("X-Upstream", api.Addr)
		if r := sendT(t, "GET", extraURL+"/dyn/x", "", h, nil); r.Status != http.StatusOK {
			t.Errorf("dynamic upstream, the allowed host: %s", r)
		}
		if evil.Count() != 0 {
			t.Errorf("the host outside allowed_hosts got %d requests", evil.Count())
		}
		// A Host header on the allowed route changes nothing either.
		r := sendT(t, "GET", in.EgressURL+"/api/spoof", "evil.example", bearer(inv), nil)
		if r.Status != http.StatusOK {
			t.Errorf("allowed route with a spoofed Host: %s", r)
		}
	})

	t.Run("428 no value", func(t *testing.T) {
		kc, tok := in.newKeychain(t, "emptied")
		in.setSecret(t, kc, "API_KEY", RandomToken(t, "v_"), api.Addr)
		in.grant(t, kc, w.pkgName, "API_KEY")
		inv := in.mintInvocation(t, w.pkgCode, w.host, tok)
		in.mustAPI(t, http.StatusNoContent, "DELETE", "/v1/keychains/"+kc+"/secrets/API_KEY", nil)
		p := wantProblem(t, "deleted secret", in.callEgress(t, inv, "GET", "/api/x", nil), http.StatusPreconditionRequired, "missing_keys")
		if len(p.MissingKeys) != 1 || p.MissingKeys[0].Name != "API_KEY" {
			t.Errorf("missing_keys %+v", p.MissingKeys)
		}
	})

	t.Run("audited", func(t *testing.T) {
		want := []string{"unauthorized", "not_approved", "host_not_allowed", "missing_keys"}
		wantAuditedDenials(t, in, "egress", want)
	})

	// Only the allowed calls reached the API: the spoofed-Host one and
	// the dynamic one above.
	if n := api.Count() - apiBefore; n != 2 {
		t.Errorf("the API got %d requests during the denials, want 2 (the allowed calls)", n)
	}
}

// TestInvocationTokenExpires checks exp: with invocation_ttl 1s, an
// invocation token works at first and is refused (401) once it expired,
// allowing for keygate's 5s clock-skew leeway.
func TestInvocationTokenExpires(t *testing.T) {
	t.Parallel()
	w := newWorld(t, Config{KeygateOptions: "invocation_ttl 1s"})
	minted := time.Now()
	inv := w.in.mintInvocation(t, w.pkgCode, w.host, w.token)
	if r := w.in.callEgress(t, inv, "GET", "/api/fresh", nil); r.Status != http.StatusOK {
		t.Fatalf("a fresh invocation token: %s", r)
	}
	var last reply
	if !eventually(15*time.Second, 250*time.Millisecond, func() bool {
		last = w.in.callEgress(t, inv, "GET", "/api/later", nil)
		return last.Status != http.StatusOK
	}) {
		t.Fatalf("the invocation token still works %s after minting; invocation_ttl is 1s", time.Since(minted))
	}
	p := wantProblem(t, "expired invocation token", last, http.StatusUnauthorized, "unauthorized")
	if !strings.Contains(p.Detail, "expired") {
		t.Errorf("detail %q does not say the token expired", p.Detail)
	}
	if d := time.Since(minted); d < time.Second {
		t.Errorf("the token was refused after %s, before its 1s ttl", d)
	}
	// The keychain token, which has no exp, still works: a new call gets
	// a new invocation token.
	inv2 := w.in.mintInvocation(t, w.pkgCode, w.host, w.token)
	if r := w.in.callEgress(t, inv2, "GET", "/api/new", nil); r.Status != http.StatusOK {
		t.Errorf("a new invocation token: %s", r)
	}
}

// wantAuditedDenials waits (bounded) until the audit log holds a denial of
// flow with each of the reasons in want.
func wantAuditedDenials(t *testing.T, in *Instance, flow string, want []string) {
	t.Helper()
	var reasons map[string]bool
	ok := eventually(5*time.Second, 20*time.Millisecond, func() bool {
		r := in.mustAPI(t, http.StatusOK, "GET", "/v1/audit?limit=1000", nil)
		var evs []struct{ Action, Decision, Reason string }
		json.Unmarshal(r.Body, &evs)
		reasons = map[string]bool{}
		for _, ev := range evs {
			if ev.Action == flow && ev.Decision == "deny" {
				reasons[ev.Reason] = true
			}
		}
		for _, w := range want {
			if !reasons[w] {
				return false
			}
		}
		return true
	})
	if !ok {
		t.Errorf("audited %s denials: %v, want each of %v", flow, reasons, want)
	}
}
