package caddymodule_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func TestIngressSealedForwardsInvocationToken(t *testing.T) {
	g := startGateway(t, gatewayOptions{})
	s := g.standardSetup()

	st, _, body := g.agent("tools", s.token, map[string]string{
		"Keygate-Keys":     "EVERYTHING",
		"Keygate-Injected": "1",
		"X-Forwarded-Host": "evil.example",
	})
	if st != 200 || string(body) != "upstream ok" {
		t.Fatalf("status %d body %s", st, body)
	}
	got := g.pkgUpstream.last(t)
	auth := got.Header.Get("Authorization")
	if !strings.HasPrefix(auth, "Bearer ") || strings.Contains(auth, s.token) {
		t.Fatalf("package got Authorization %q, want an invocation token, never the keychain token", auth)
	}
	if got.Header.Get("Keygate-Keys") != "API_KEY" {
		t.Fatalf("Keygate-Keys = %q", got.Header.Get("Keygate-Keys"))
	}
	if got.Header.Get("Keygate-Injected") != "" {
		t.Fatal("caller's Keygate-* header reached the package")
	}
	if strings.Contains(got.Header.Get("X-Forwarded-Host"), "evil") {
		t.Fatal("caller's X-Forwarded-Host was passed on")
	}
	if got.URL.Path != "/do/thing" || got.URL.RawQuery != "x=1" {
		t.Fatalf("package got %s", got.URL)
	}

	// The package uses its invocation token on egress; the API gets the key.
	inv := strings.TrimPrefix(auth, "Bearer ")
	st, _, body = g.egressCall("/api/v1/charges", inv, map[string]string{"Keygate-Keys": "x"})
	if st != 200 {
		t.Fatalf("egress status %d: %s", st, body)
	}
	up := g.upstream.last(t)
	if up.Header.Get("Authorization") != "Bearer "+s.secret {
		t.Fatal("upstream did not get the injected key in Authorization")
	}
	if up.Header.Get("Keygate-Keys") != "" || up.Header.Get("Proxy-Authorization") != "" {
		t.Fatal("Keygate-* or Proxy-Authorization reached the third-party API")
	}
	if up.URL.Path != "/v1/charges" {
		t.Fatalf("upstream path %s", up.URL.Path)
	}
}

func TestIngressDenials(t *testing.T) {
	g := startGateway(t, gatewayOptions{})
	s := g.standardSetup()

	var other struct{ ID, Token string }
	json.Unmarshal(g.mustAdmin(201, "POST", "/v1/keychains", map[string]any{"owner": "bob"}), &other)

	tests := []struct {
		name   string
		host   string
		token  string
		prep   func()
		status int
		reason string
	}{
		{name: "no token", host: "tools", status: 401, reason: "unauthorized"},
		{name: "garbage token", host: "tools", token: "not.a.token", status: 401, reason: "unauthorized"},
		{name: "forged signature", host: "tools", token: forge(s.token), status: 401, reason: "unauthorized"},
		{name: "unknown package", host: "nope", token: s.token, status: 404, reason: "unknown_package"},
		{name: "no grant", host: "tools", token: other.Token, status: 403, reason: "no_grant"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := g.pkgUpstream.count()
			st, hdr, body := g.agent(tc.host, tc.token, nil)
			if st != tc.status {
				t.Fatalf("status %d, want %d: %s", st, tc.status, body)
			}
			p := problem(t, hdr, body)
			if p["reason"] != tc.reason {
				t.Fatalf("reason %v, want %s", p["reason"], tc.reason)
			}
			if st == 401 && !strings.HasPrefix(hdr.Get("Www-Authenticate"), "Bearer") {
				t.Fatal("401 without WWW-Authenticate: Bearer")
			}
			if g.pkgUpstream.count() != before {
				t.Fatal("a refused request reached the package")
			}
		})
	}

	// The package's code changes: the grant goes stale.
	changed := g.manifest("@acme/tools", "tools", s.pkg["keys"].([]map[string]any)...)
	changed["sha256"] = strings.Repeat("ab", 32)
	g.mustAdmin(200, "PUT", "/v1/packages/%40acme%2Ftools", changed)
	st, hdr, body := g.agent("tools", s.token, nil)
	p := problem(t, hdr, body)
	if st != 403 || p["reason"] != "stale_grant" || p["granted_sha256"] != testSHA || p["current_sha256"] != strings.Repeat("ab", 32) {
		t.Fatalf("stale grant: %d %v", st, p)
	}
	// Approving again makes it work.
	g.mustAdmin(200, "PUT", "/v1/keychains/"+s.kc+"/grants/@acme/tools", map[string]any{"keys": []string{"API_KEY"}})
	if st, _, body := g.agent("tools", s.token, nil); st != 200 {
		t.Fatalf("after re-approval: %d %s", st, body)
	}

	// A required key without a value: 428 naming it, with its description.
	g.mustAdmin(204, "DELETE", "/v1/keychains/"+s.kc+"/secrets/API_KEY", nil)
	st, hdr, body = g.agent("tools", s.token, nil)
	p = problem(t, hdr, body)
	if st != 428 {
		t.Fatalf("missing key: %d %s", st, body)
	}
	mk := p["missing_keys"].([]any)[0].(map[string]any)
	if mk["name"] != "API_KEY" || !strings.Contains(mk["description"].(string), "Dashboard") {
		t.Fatalf("missing_keys %v", p["missing_keys"])
	}

	// Token rotation: the old token fails at once.
	var rot struct{ Token string }
	json.Unmarshal(g.mustAdmin(200, "POST", "/v1/keychains/"+s.kc+"/token", nil), &rot)
	if st, _, _ := g.agent("tools", s.token, nil); st != 401 {
		t.Fatalf("rotated token: status %d, want 401", st)
	}
	if st, _, _ := g.agent("tools", rot.Token, nil); st != 428 {
		t.Fatalf("new token: status %d, want 428 (key still missing)", st)
	}
}

func TestIngressRateLimit(t *testing.T) {
	g := startGateway(t, gatewayOptions{rate: "2/m burst 2"})
	s := g.standardSetup()
	for i := 0; i < 2; i++ {
		if st, _, b := g.agent("tools", s.token, nil); st != 200 {
			t.Fatalf("request %d: %d %s", i, st, b)
		}
	}
	st, hdr, body := g.agent("tools", s.token, nil)
	if st != 429 || hdr.Get("Retry-After") == "" {
		t.Fatalf("third request: %d Retry-After=%q %s", st, hdr.Get("Retry-After"), body)
	}
	problem(t, hdr, body)
}

func TestIngressPlaintextMode(t *testing.T) {
	g := startGateway(t, gatewayOptions{mode: "plaintext"})
	s := g.standardSetup()
	if st, _, b := g.agent("tools", s.token, nil); st != 200 {
		t.Fatalf("%d %s", st, b)
	}
	got := g.pkgUpstream.last(t)
	if got.Header.Get("Keygate-Secret-API-KEY") != s.secret {
		t.Fatal("plaintext mode: the package did not get the secret header")
	}
	if got.Header.Get("Authorization") != "" {
		t.Fatal("plaintext mode: Authorization should be removed")
	}
	// The debug log of the outbound request must not hold the value.
	if strings.Contains(g.logs(), s.secret) {
		t.Fatal("plaintext secret appears in the logs")
	}
}

func TestEgressDenials(t *testing.T) {
	g := startGateway(t, gatewayOptions{})
	s := g.standardSetup()
	_, hdr, _ := g.agent("tools", s.token, nil)
	_ = hdr
	inv := strings.TrimPrefix(g.pkgUpstream.last(t).Header.Get("Authorization"), "Bearer ")

	tests := []struct {
		name, path, token string
		hdr               map[string]string
		status            int
		reason            string
	}{
		{name: "no token", path: "/api/x", status: 401, reason: "unauthorized"},
		{name: "keychain token at egress", path: "/api/x", token: s.token, status: 401, reason: "unauthorized"},
		{name: "forged invocation token", path: "/api/x", token: forge(inv), status: 401, reason: "unauthorized"},
		{name: "app key not in token", path: "/app/x", token: inv, status: 403, reason: "not_approved"},
		{name: "route dials a host outside allowed_hosts", path: "/elsewhere/x", token: inv, status: 403, reason: "host_not_allowed"},
		{name: "Host header cannot widen hosts", path: "/elsewhere/x", token: inv, hdr: map[string]string{"Host": "127.0.0.1"}, status: 403, reason: "host_not_allowed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := g.upstream.count()
			st, hdr, body := g.egressCall(tc.path, tc.token, tc.hdr)
			if st != tc.status {
				t.Fatalf("status %d, want %d: %s", st, tc.status, body)
			}
			if p := problem(t, hdr, body); p["reason"] != tc.reason {
				t.Fatalf("reason %v, want %s", p["reason"], tc.reason)
			}
			if g.upstream.count() != before {
				t.Fatal("a refused request reached the upstream")
			}
		})
	}

	// Revocation takes effect on the very next request.
	if st, _, b := g.egressCall("/api/x", inv, nil); st != 200 {
		t.Fatalf("before revocation: %d %s", st, b)
	}
	g.mustAdmin(204, "DELETE", "/v1/keychains/"+s.kc+"/grants/@acme/tools", nil)
	st, hdr, body := g.egressCall("/api/x", inv, nil)
	if p := problem(t, hdr, body); st != 403 || p["reason"] != "no_grant" {
		t.Fatalf("after revocation: %d %v", st, p)
	}
}

func TestEgressInjectionStyles(t *testing.T) {
	tests := []struct {
		name  string
		cfg   string
		check func(t *testing.T, r *http.Request, secret string)
	}{
		{"custom header", `header X-Api-Key "{secret}"`, func(t *testing.T, r *http.Request, secret string) {
			if r.Header.Get("X-Api-Key") != secret || r.Header.Get("Authorization") != "" {
				t.Fatalf("X-Api-Key=%v Authorization=%v", r.Header.Get("X-Api-Key") == secret, r.Header.Get("Authorization") != "")
			}
		}},
		{"basic auth", `basic_auth api`, func(t *testing.T, r *http.Request, secret string) {
			u, p, ok := r.BasicAuth()
			if !ok || u != "api" || p != secret {
				t.Fatal("basic auth not injected")
			}
		}},
		{"query", `query api_key`, func(t *testing.T, r *http.Request, secret string) {
			if r.URL.Query().Get("api_key") != secret || r.URL.Query().Get("keep") != "1" {
				t.Fatal("query parameter not injected")
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := startGateway(t, gatewayOptions{egressCfg: tc.cfg})
			s := g.standardSetup()
			g.agent("tools", s.token, nil)
			inv := strings.TrimPrefix(g.pkgUpstream.last(t).Header.Get("Authorization"), "Bearer ")
			// An SDK that sends its key as basic auth works too.
			basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(inv+":"))
			if st, _, b := g.egressCall("/api/x?keep=1&api_key=caller", "", map[string]string{"Authorization": basic}); st != 200 {
				t.Fatalf("%d %s", st, b)
			}
			tc.check(t, g.upstream.last(t), s.secret)
		})
	}
}

// forge returns tok with its signature replaced.
func forge(tok string) string {
	i := strings.LastIndexByte(tok, '.')
	if i < 0 {
		return tok + "x"
	}
	return tok[:i+1] + base64.RawURLEncoding.EncodeToString([]byte("forged-signature-forged-signature"))
}

// TestEgressNamesAKeychainToken: a keychain token sent to egress is
// refused with a detail that says which token egress wants.
func TestEgressNamesAKeychainToken(t *testing.T) {
	g := startGateway(t, gatewayOptions{})
	s := g.standardSetup()
	st, hdr, body := g.egressCall("/api/x", s.token, nil)
	p := problem(t, hdr, body)
	if st != 401 || !strings.Contains(p["detail"].(string), "keychain token") || !strings.Contains(p["detail"].(string), "invocation token") {
		t.Fatalf("status %d detail %q: want 401 naming the keychain token and the invocation token", st, p["detail"])
	}
}

// TestMissingKeysSetWith: a 428's set_with advises only what is missing:
// the approval when the value is set, both when it is not; and the grant
// it advises keeps the keys already approved.
func TestMissingKeysSetWith(t *testing.T) {
	g := startGateway(t, gatewayOptions{})
	s := g.standardSetup()
	pkg := g.manifest("@acme/tools", "tools",
		map[string]any{"name": "API_KEY", "required": true, "hosts": []string{"127.0.0.1"}},
		map[string]any{"name": "OTHER_KEY", "required": true, "hosts": []string{"127.0.0.1"}},
	)
	g.mustAdmin(200, "PUT", "/v1/packages/@acme/tools", pkg)
	g.mustAdmin(200, "PUT", "/v1/keychains/"+s.kc+"/grants/@acme/tools", map[string]any{"keys": []string{"API_KEY"}})

	setWith := func() string {
		t.Helper()
		st, hdr, body := g.agent("tools", s.token, nil)
		p := problem(t, hdr, body)
		mk, _ := p["missing_keys"].([]any)
		if st != 428 || len(mk) != 1 {
			t.Fatalf("status %d missing %v, want 428 with one key", st, p["missing_keys"])
		}
		return mk[0].(map[string]any)["set_with"].(string)
	}
	// It names the hosts the package sends the key to, so that following it
	// does not end in host_not_allowed.
	want := "keygate secret set " + s.kc + " OTHER_KEY --allow-host 127.0.0.1 && keygate grant " + s.kc + " @acme/tools OTHER_KEY API_KEY"
	if got := setWith(); got != want {
		t.Fatalf("no value: set_with %q, want %q", got, want)
	}
	g.mustAdmin(204, "PUT", "/v1/keychains/"+s.kc+"/secrets/OTHER_KEY",
		map[string]any{"value": "v-" + randHex(t, 8), "allowed_hosts": []string{"127.0.0.1"}})
	want = "keygate grant " + s.kc + " @acme/tools OTHER_KEY API_KEY"
	if got := setWith(); got != want {
		t.Fatalf("value set: set_with %q, want %q", got, want)
	}
}
