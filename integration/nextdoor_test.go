package integration

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Issue 12: the package's code is next door. Each test here fails against
// a keygate that lets the caller, a proxy or a local process decide where
// a value goes or who administers keygate.

// forwardProxy stands in for an HTTP forward proxy: it goes wherever the
// request line (or else the Host header) says, and counts what it carried.
func forwardProxy(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		// Routed by Host, as many proxies do.
		out, err := http.NewRequest(r.Method, "http://"+r.Host+r.URL.Path, r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		out.Header = r.Header.Clone()
		res, err := http.DefaultTransport.RoundTrip(out)
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		defer res.Body.Close()
		w.WriteHeader(res.StatusCode)
		io.Copy(w, res.Body)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// egressWorld sets up one keychain whose API_KEY (allowed to hosts) is
// granted to a package, and returns an invocation token and the value.
func egressWorld(t *testing.T, in *Instance, hosts ...string) (inv, value string) {
	t.Helper()
	code := NewUpstream(t, nil)
	m := testManifest{Name: "@nd/tools", Version: "1.0.0", SHA256: sha256Hex("nd"), Host: "tools", Upstream: code.URL,
		Keys: []keySpec{{Name: "API_KEY", Required: true, Description: "The key.", Hosts: hosts}}}
	in.putPackage(t, m)
	kc, tok := in.newKeychain(t, "nd")
	value = RandomToken(t, "sk_nd_")
	in.setSecret(t, kc, "API_KEY", value, hosts...)
	in.grant(t, kc, m.Name, "API_KEY")
	return in.mintInvocation(t, code, m.Host, tok), value
}

// TestNextDoorEnvironmentProxy: with HTTP_PROXY and HTTPS_PROXY in
// keygate's environment and the caller naming the attacker as Host, the
// value never goes through the proxy, so never to the attacker.
func TestNextDoorEnvironmentProxy(t *testing.T) {
	t.Parallel()
	attacker := NewUpstream(t, nil)
	proxy, carried := forwardProxy(t)
	// A name, not 127.0.0.1: Go never proxies loopback addresses.
	in := Start(t, Config{Upstream: "upstream.invalid:80",
		Env: []string{"HTTP_PROXY=" + proxy.URL, "HTTPS_PROXY=" + proxy.URL, "http_proxy=" + proxy.URL}})
	inv, value := egressWorld(t, in, "upstream.invalid")
	r := sendT(t, "GET", in.EgressURL+"/api/steal", attacker.Addr, bearer(inv), nil)
	if r.Status == http.StatusOK {
		t.Errorf("egress through a proxy answered %s", r)
	}
	if n := carried.Load(); n != 0 {
		t.Errorf("the environment's forward proxy carried %d requests", n)
	}
	if attacker.Count() != 0 {
		t.Error("the attacker received the request")
	}
	AssertNotContains(t, "the secret value", value, map[string]string{"logs": in.Logs()})
}

// TestNextDoorForwardProxyRefused: a route that configures a forward proxy
// does not start.
func TestNextDoorForwardProxyRefused(t *testing.T) {
	t.Parallel()
	in := Start(t, Config{})
	cfg := in.Config
	cfg.TransportOptions = "forward_proxy_url http://127.0.0.1:3128"
	in.render(cfg)
	r := RunBinary(t, in.Env, "", "validate", "--config", in.Caddyfile, "--adapter", "caddyfile")
	if r.Code == 0 || !strings.Contains(r.Stderr+r.Stdout, "forward proxy") {
		t.Errorf("a keygate transport with forward_proxy_url validated: %s", r)
	}
}

// TestNextDoorHostRouting: whatever Host the caller sends (in the header or
// in an absolute request line), the upstream sees its own, and a spoofed
// X-Forwarded-Host or X-Forwarded-For is not passed on.
func TestNextDoorHostRouting(t *testing.T) {
	t.Parallel()
	attacker := NewUpstream(t, nil)
	in := Start(t, Config{})
	inv, value := egressWorld(t, in, "127.0.0.1")

	h := bearer(inv)
	h.Set("X-Forwarded-Host", attacker.Addr)
	h.Set("X-Forwarded-For", "203.0.113.9")
	if r := sendT(t, "GET", in.EgressURL+"/api/host", attacker.Addr, h, nil); r.Status != http.StatusOK {
		t.Fatalf("egress with a foreign Host: %s", r)
	}
	got := in.Upstream.Last(t)
	if got.Host != in.Upstream.Addr {
		t.Errorf("the upstream saw Host %q, want its own %q", got.Host, in.Upstream.Addr)
	}
	if v := got.Header.Get("X-Forwarded-Host"); strings.Contains(v, attacker.Addr) {
		t.Errorf("X-Forwarded-Host %q names the caller's choice", v)
	}
	if v := got.Header.Get("X-Forwarded-For"); strings.Contains(v, "203.0.113.9") {
		t.Errorf("X-Forwarded-For %q passes the caller's claim on", v)
	}

	raw := "GET http://" + attacker.Addr + "/api/absolute HTTP/1.1\r\nHost: " + attacker.Addr +
		"\r\nAuthorization: Bearer " + inv + "\r\nConnection: close\r\n\r\n"
	r, err := rawHTTP(hostPort(in.EgressURL), []byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if r.Status == http.StatusOK {
		if got := in.Upstream.Last(t); got.Host != in.Upstream.Addr {
			t.Errorf("absolute-URI request: the upstream saw Host %q", got.Host)
		}
	}
	if attacker.Count() != 0 {
		t.Errorf("the attacker received %d requests", attacker.Count())
	}
	AssertNotContains(t, "the secret value", value, map[string]string{"logs": in.Logs()})
}

// TestNextDoorProxyAuthorization: the invocation token in
// Proxy-Authorization works as in Authorization, and goes no further.
func TestNextDoorProxyAuthorization(t *testing.T) {
	t.Parallel()
	in := Start(t, Config{})
	inv, value := egressWorld(t, in, "127.0.0.1")
	h := http.Header{"Proxy-Authorization": {"Bearer " + inv}}
	if r := sendT(t, "GET", in.EgressURL+"/api/pa", "", h, nil); r.Status != http.StatusOK {
		t.Fatalf("egress with Proxy-Authorization: %s", r)
	}
	got := in.Upstream.Last(t)
	if got.Header.Get("Authorization") != "Bearer "+value {
		t.Error("the upstream did not get the secret")
	}
	if got.Header.Get("Proxy-Authorization") != "" {
		t.Error("Proxy-Authorization was forwarded upstream")
	}
	for k, vs := range got.Header {
		for _, v := range vs {
			if strings.Contains(v, inv) {
				t.Errorf("the invocation token reached the upstream in %s", k)
			}
		}
	}
}

// TestNextDoorAdminEndpoint: with no admin address in the config, nothing
// answers on 127.0.0.1:2019; the admin endpoint is a 0600 socket in the
// data directory, and `keygate reload` finds it.
func TestNextDoorAdminEndpoint(t *testing.T) {
	t.Parallel()
	tmpl := strings.Replace(DefaultCaddyfile, "\tadmin {{.AdminAddr}}\n", "", 1)
	w := newWorld(t, Config{Template: tmpl})
	in := w.in

	forged := RandomToken(t, "kgadm_forged_")
	body := strings.NewReader(strconv.Quote(forged))
	resp, err := http.Post("http://127.0.0.1:2019/config/apps/keygate/admin_token", "application/json", body)
	if err == nil {
		resp.Body.Close()
	}
	if r := sendT(t, "GET", in.APIURL+"/v1/keychains/"+w.kc, "", bearer(forged), nil); r.Status != http.StatusUnauthorized {
		t.Errorf("a token set through 127.0.0.1:2019 works: %s", r)
	}
	in.mustAPI(t, http.StatusOK, "GET", "/v1/keychains/"+w.kc, nil)

	sock := filepath.Join(in.Dir, "xdg-data", "caddy", "keygate", "admin.sock")
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatalf("no admin socket: %v", err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("admin socket mode %v, want a socket with 0600", fi.Mode())
	}
	r := RunBinary(t, in.Env, "", "reload", "--config", in.Caddyfile, "--adapter", "caddyfile")
	if r.Code != 0 {
		t.Fatalf("keygate reload without --address: %s", r)
	}
	w.healthy(t)
}

// TestNextDoorAdminEndpointTCPWarns: an explicit TCP admin address works
// and says at start what it exposes.
func TestNextDoorAdminEndpointTCPWarns(t *testing.T) {
	t.Parallel()
	in := Start(t, Config{})
	if !strings.Contains(in.Logs(), "admin endpoint listens on a TCP address") {
		t.Error("no warning about the TCP admin endpoint")
	}
}

// TestNextDoorShortAdminToken: keygate refuses to start with an admin
// token under 32 characters, in one line naming admin_token, not the token.
func TestNextDoorShortAdminToken(t *testing.T) {
	t.Parallel()
	in := Start(t, Config{})
	cfg := in.Config
	cfg.AdminToken = "Sh0rtAdm1nT0ken"
	in.render(cfg)
	r := RunBinary(t, in.Env, "", "validate", "--config", in.Caddyfile, "--adapter", "caddyfile")
	if r.Code == 0 || !strings.Contains(r.Stderr, "admin_token must be at least 32 characters") {
		t.Errorf("a short admin token validated: %s", r)
	}
	AssertNotContains(t, "the short token", cfg.AdminToken, map[string]string{"stdout": r.Stdout, "stderr": r.Stderr})
}

// TestNextDoorAdminGuessing: after 10 bad admin tokens a minute from one
// client, the 11th wrong attempt and on get 429 with Retry-After (the
// right token still works: TestAdminLockoutRefused); every loopback
// address is that one client, so a local process rotating 127.x source
// addresses gains nothing; the budget refills; it is audited without the
// guesses. That another client is unaffected cannot be shown from
// loopback alone (all of it is one client); the gateway's
// TestFailureGuard shows it.
func TestNextDoorAdminGuessing(t *testing.T) {
	t.Parallel()
	in := Start(t, Config{})
	var guesses []string
	retry := 0
	for i := range 15 {
		g := RandomToken(t, "kgadm_guess_")
		guesses = append(guesses, g)
		r := sendT(t, "GET", in.APIURL+"/v1/keychains", "", bearer(g), nil)
		want := http.StatusUnauthorized
		if i >= 10 {
			want = http.StatusTooManyRequests
		}
		if r.Status != want {
			t.Fatalf("bad token %d: %s, want %d", i+1, r, want)
		}
		if want == http.StatusTooManyRequests {
			s, err := strconv.Atoi(r.Header.Get("Retry-After"))
			if err != nil || s < 1 {
				t.Fatalf("429 with Retry-After %q", r.Header.Get("Retry-After"))
			}
			retry = s
		}
	}

	// 127.0.0.2 is another loopback address of this host: the same client.
	other := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
			return d.DialContext(ctx, network, addr)
		}}}
	audit := func() reply {
		r, err := tryHTTP(other, "GET", in.APIURL+"/v1/audit?limit=1000", "", bearer(in.AdminToken), nil)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	guess := func() reply {
		g := RandomToken(t, "kgadm_guess_")
		guesses = append(guesses, g)
		r, err := tryHTTP(other, "GET", in.APIURL+"/v1/keychains", "", bearer(g), nil)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := guess(); r.Status != http.StatusTooManyRequests {
		t.Fatalf("a wrong token from 127.0.0.2 after 127.0.0.1's failures: %s, want 429", r)
	}

	// The budget refills: once Retry-After has passed, a wrong token is
	// compared again (401).
	var r reply
	eventually(time.Duration(retry+10)*time.Second, 250*time.Millisecond, func() bool {
		r = guess()
		return r.Status == http.StatusUnauthorized
	})
	if r.Status != http.StatusUnauthorized {
		t.Fatalf("after Retry-After (%ds) a wrong token still gets %s, want 401", retry, r)
	}
	var audited bool
	eventually(5*time.Second, 20*time.Millisecond, func() bool {
		r := audit()
		audited = r.Status == http.StatusOK && strings.Contains(string(r.Body), `"admin.auth"`) && strings.Contains(string(r.Body), `"rate_limited"`)
		return audited
	})
	if !audited {
		t.Error("the 429s were not audited")
	}
	outs := map[string]string{"logs": in.Logs(), "audit": string(r.Body)}
	for _, g := range guesses {
		AssertNotContains(t, "a guessed token", g, outs)
	}
}

// TestNextDoorPlaintextAllowedHosts: a plaintext site hands the package's
// code a value only if the secret allows the package's upstream host.
func TestNextDoorPlaintextAllowedHosts(t *testing.T) {
	t.Parallel()
	in := Start(t, Config{ExtraPorts: 1, ExtraSites: `
http://*.plain.test:{{index .Extra 0}} {
	bind 127.0.0.1
	keygate_package {
		suffix plain.test
		mode plaintext
	}
}`})
	code := NewUpstream(t, nil)
	m := testManifest{Name: "@nd/plain", Version: "1.0.0", SHA256: sha256Hex("plain"), Host: "plain", Upstream: code.URL,
		Keys: []keySpec{{Name: "API_KEY", Required: true, Description: "The key."}}}
	in.putPackage(t, m)
	kc, tok := in.newKeychain(t, "plain")
	value := RandomToken(t, "sk_plain_")
	in.setSecret(t, kc, "API_KEY", value, "api.example.com")
	in.grant(t, kc, m.Name, "API_KEY")
	site := "http://127.0.0.1:" + strconv.Itoa(in.Ports.Extra[0])
	host := "plain.plain.test:" + strconv.Itoa(in.Ports.Extra[0])

	r := sendT(t, "GET", site+"/x", host, bearer(tok), nil)
	wantProblem(t, "plaintext to a host the secret does not allow", r, http.StatusForbidden, "host_not_allowed")
	if code.Count() != 0 {
		t.Error("the package's code was called")
	}
	wantAuditedDenials(t, in, "ingress", []string{"host_not_allowed"})

	in.setSecret(t, kc, "API_KEY", value, "api.example.com", "127.0.0.1")
	if r := sendT(t, "GET", site+"/y", host, bearer(tok), nil); r.Status != http.StatusOK {
		t.Fatalf("plaintext with the upstream allowed: %s", r)
	}
	if got := code.Last(t).Header.Get("Keygate-Secret-API-KEY"); got != value {
		t.Error("the package's code did not get the value in plaintext")
	}
}

// TestNextDoorRevocationIsFinal: an invocation token minted before a
// revocation stays void when access is given back.
func TestNextDoorRevocationIsFinal(t *testing.T) {
	t.Parallel()
	in := Start(t, Config{})
	code := NewUpstream(t, nil)
	m := testManifest{Name: "@nd/rev", Version: "1.0.0", SHA256: sha256Hex("rev-a"), Host: "rev", Upstream: code.URL,
		Keys: []keySpec{
			{Name: "API_KEY", Description: "The key.", Hosts: []string{"127.0.0.1"}},
			{Name: "OTHER_KEY", Description: "Another.", Hosts: []string{"127.0.0.1"}},
		}}
	in.putPackage(t, m)
	kc, tok := in.newKeychain(t, "rev")
	in.setSecret(t, kc, "API_KEY", RandomToken(t, "v_"))
	in.setSecret(t, kc, "OTHER_KEY", RandomToken(t, "v_"))
	in.grant(t, kc, m.Name, "API_KEY", "OTHER_KEY")

	steps := []struct {
		name   string
		revoke func()
		regive func()
	}{
		{"grant deleted, then made again",
			func() { in.mustAPI(t, http.StatusNoContent, "DELETE", "/v1/keychains/"+kc+"/grants/"+m.Name, nil) },
			func() { in.grant(t, kc, m.Name, "API_KEY", "OTHER_KEY") }},
		{"key removed, then added again",
			func() { in.grant(t, kc, m.Name, "OTHER_KEY") },
			func() { in.grant(t, kc, m.Name, "API_KEY", "OTHER_KEY") }},
		{"sha256 changed, then changed back",
			func() { b := m; b.SHA256 = sha256Hex("rev-b"); in.putPackage(t, b) },
			func() { in.putPackage(t, m) }},
	}
	for _, s := range steps {
		inv := in.mintInvocation(t, code, m.Host, tok)
		if r := in.callEgress(t, inv, "GET", "/api/before", nil); r.Status != http.StatusOK {
			t.Fatalf("%s: egress before: %s", s.name, r)
		}
		s.revoke()
		s.regive()
		r := in.callEgress(t, inv, "GET", "/api/after", nil)
		if r.Status != http.StatusForbidden {
			t.Errorf("%s: the earlier token: %s, want 403", s.name, r)
		}
		if r := in.callEgress(t, in.mintInvocation(t, code, m.Host, tok), "GET", "/api/new", nil); r.Status != http.StatusOK {
			t.Errorf("%s: a new token: %s", s.name, r)
		}
	}
}
