package integration

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// TestHostileInput sends what an attacker or a broken client would, at
// every edge: oversized headers and bodies, malformed and forged tokens,
// tokens of the wrong type, Host header tricks, CR/LF/NUL in values (API
// and CLI), and path tricks on the egress route. Each is refused with a
// clear status or harmlessly routed (said where, and why), and keygate
// keeps serving: a health check after each group.
//
// "Harmlessly routed" mostly means Caddy's own answer to a request that no
// route matches: an empty 200, with nothing forwarded anywhere.
func TestHostileInput(t *testing.T) {
	t.Parallel()
	requireCLI(t)
	w := newWorld(t, Config{})
	in := w.in
	other := NewUpstream(t, nil)
	in.putPackage(t, apiKeyManifest("@it/other", "other", other.URL))
	in.grant(t, w.kc, "@it/other", "API_KEY")
	inv := in.mintInvocation(t, w.pkgCode, w.host, w.token)
	ingressPort := strconv.Itoa(in.Ports.Ingress)

	// unrouted checks Caddy's answer when no route matches: an empty 200,
	// and nothing reached any upstream.
	counts := func() [3]int { return [3]int{w.pkgCode.Count(), other.Count(), in.Upstream.Count()} }
	unrouted := func(t *testing.T, what string, r reply, before [3]int) {
		t.Helper()
		if r.Status != http.StatusOK || len(r.Body) != 0 {
			t.Errorf("%s: %s, want Caddy's empty 200 for an unmatched route", what, r)
		}
		if counts() != before {
			t.Errorf("%s: an unmatched request reached an upstream", what)
		}
	}

	t.Run("oversized headers", func(t *testing.T) {
		// Caddy's limit is 16 KiB of request headers (its default
		// max_header_bytes; Go's server allows 4 KiB of slack): past it,
		// the server answers 431 and closes.
		for _, size := range []int{32 << 10, 1 << 20} {
			big := strings.Repeat("a", size)
			for name, u := range map[string]string{"API": in.APIURL, "ingress": in.IngressURL, "egress": in.EgressURL} {
				before := counts()
				req := "GET /api/x HTTP/1.1\r\nHost: " + in.ingressHost(w.host) + "\r\nAuthorization: Bearer " + w.token +
					"\r\nX-Big: " + big + "\r\n\r\n"
				r, err := rawHTTP(hostPort(u), []byte(req))
				if err != nil || r.Status != http.StatusRequestHeaderFieldsTooLarge || counts() != before {
					t.Errorf("%s: a %d-byte header: %v %v, want 431 and nothing forwarded", name, size, r.Status, err)
				}
			}
		}
		// A token over keygate's 8 KiB cap but within Caddy's limit is
		// refused before any decoding (401); a larger one never gets past
		// Caddy (431).
		for size, status := range map[int]int{12 << 10: http.StatusUnauthorized, 100 << 10: http.StatusRequestHeaderFieldsTooLarge} {
			huge := "eyJ" + strings.Repeat("A", size)
			r := in.callIngress(t, w.host, huge, "GET", "/", nil)
			if r.Status != status {
				t.Errorf("ingress, a %d-byte token: %d, want %d", size, r.Status, status)
			}
			r = in.callEgress(t, huge, "GET", "/api/x", nil)
			if r.Status != status {
				t.Errorf("egress, a %d-byte token: %d, want %d", size, r.Status, status)
			}
			if status == http.StatusUnauthorized {
				wantProblem(t, "egress, a token over 8 KiB", r, status, "unauthorized")
			}
		}
		w.healthy(t)
	})

	t.Run("oversized bodies", func(t *testing.T) {
		v := RandomToken(t, "big_")
		for what, c := range map[string]struct{ method, path, body string }{
			"secret over 1 MiB":   {"PUT", "/v1/keychains/" + w.kc + "/secrets/BIG", `{"value":"` + v + strings.Repeat("x", 1<<20) + `"}`},
			"keychain over 1 MiB": {"POST", "/v1/keychains", `{"owner":"` + strings.Repeat("o", 1<<20) + `"}`},
			"manifest over 1 MiB": {"PUT", "/v1/packages/@it/big", `{"name":"@it/big","version":"1","x":"` + strings.Repeat("m", 2<<20) + `"}`},
			"grant over 1 MiB":    {"PUT", "/v1/keychains/" + w.kc + "/grants/@it/other", `{"keys":["` + strings.Repeat("K", 1<<20) + `"]}`},
		} {
			r := in.callAPI(t, c.method, c.path, c.body)
			p := wantProblem(t, what, r, http.StatusRequestEntityTooLarge, "body_too_large")
			if !strings.Contains(p.Detail, "1048576") {
				t.Errorf("%s: detail %q does not give the limit", what, p.Detail)
			}
			if strings.Contains(string(r.Body), v) {
				t.Errorf("%s: the answer echoes the body", what)
			}
		}
		// Nothing was stored.
		r := in.mustAPI(t, http.StatusOK, "GET", "/v1/keychains/"+w.kc+"/secrets", nil)
		if strings.Contains(string(r.Body), "BIG") {
			t.Error("a refused secret was stored")
		}
		in.mustAPI(t, http.StatusNotFound, "GET", "/v1/packages/@it/big", nil)
		// A value over max_value_bytes (8192) is a 400; at the limit it
		// is stored.
		wantProblem(t, "value of 8193 bytes", in.callAPI(t, "PUT", "/v1/keychains/"+w.kc+"/secrets/LONG",
			map[string]string{"value": strings.Repeat("v", 8193)}), http.StatusBadRequest, "invalid")
		in.mustAPI(t, http.StatusNoContent, "PUT", "/v1/keychains/"+w.kc+"/secrets/LONG", map[string]string{"value": strings.Repeat("v", 8192)})
		w.healthy(t)
	})

	t.Run("malformed and forged tokens", func(t *testing.T) {
		for name, tok := range map[string]string{"keychain": w.token, "invocation": inv} {
			parts := strings.Split(tok, ".")
			var hdr map[string]any
			hb, _ := base64.RawURLEncoding.DecodeString(parts[0])
			json.Unmarshal(hb, &hdr)
			enc := func(v any) string { b, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(b) }
			withAlg := func(alg string) string {
				h := map[string]any{}
				for k, v := range hdr {
					h[k] = v
				}
				h["alg"] = alg
				return enc(h)
			}
			claims := jwtPayload(t, tok)
			claims["keys"] = []string{"API_KEY", "EVERYTHING"}
			claims["sub"] = "kc_aaaaaaaaaaaaaaaaaaaaaaaaaa"
			flipped := []byte(parts[2])
			flipped[3] ^= 1
			forged := map[string]string{
				"alg none":                  withAlg("none") + "." + parts[1] + ".",
				"alg none, no signature":    withAlg("none") + "." + parts[1],
				"alg NONE":                  withAlg("NONE") + "." + parts[1] + ".",
				"alg HS512":                 withAlg("HS512") + "." + parts[1] + "." + parts[2],
				"alg RS256":                 withAlg("RS256") + "." + parts[1] + "." + parts[2],
				"wrong signature":           parts[0] + "." + parts[1] + "." + string(flipped),
				"signature of another part": parts[0] + "." + parts[1] + "." + parts[0],
				"tampered claims":           parts[0] + "." + enc(claims) + "." + parts[2],
				"truncated":                 tok[:len(tok)-10],
				"header and payload only":   parts[0] + "." + parts[1],
				"extra part":                tok + "." + parts[2],
				"10 KiB token":              parts[0] + "." + strings.Repeat("QUFB", 2560) + "." + parts[2],
				"not base64":                "!!!." + parts[1] + "." + parts[2],
				"JSON, not base64":          `{"alg":"none"}.{}.`,
				"unknown kid":               enc(map[string]any{"alg": "HS256", "typ": "JWT", "kid": "sk_nope"}) + "." + parts[1] + "." + parts[2],
			}
			for what, tok := range forged {
				what = name + " token, " + what
				noteSensitive(tok)
				wantProblem(t, "ingress: "+what, in.callIngress(t, w.host, tok, "GET", "/", nil), http.StatusUnauthorized, "unauthorized")
				wantProblem(t, "egress: "+what, in.callEgress(t, tok, "GET", "/api/x", nil), http.StatusUnauthorized, "unauthorized")
			}
		}
		// Real tokens, validly signed by another keygate (another signing
		// key): refused.
		elsewhere := newWorld(t, Config{})
		otherInv := elsewhere.in.mintInvocation(t, elsewhere.pkgCode, elsewhere.host, elsewhere.token)
		elsewhere.in.Stop()
		wantProblem(t, "ingress: another keygate's keychain token", in.callIngress(t, w.host, elsewhere.token, "GET", "/", nil), http.StatusUnauthorized, "unauthorized")
		wantProblem(t, "egress: another keygate's invocation token", in.callEgress(t, otherInv, "GET", "/api/x", nil), http.StatusUnauthorized, "unauthorized")
		w.healthy(t)
	})

	t.Run("tokens in the wrong place", func(t *testing.T) {
		before := counts()
		wantProblem(t, "keychain token on egress", in.callEgress(t, w.token, "GET", "/api/x", nil), http.StatusUnauthorized, "unauthorized")
		wantProblem(t, "invocation token on ingress", in.callIngress(t, w.host, inv, "GET", "/", nil), http.StatusUnauthorized, "unauthorized")
		wantProblem(t, "admin token on ingress", in.callIngress(t, w.host, in.AdminToken, "GET", "/", nil), http.StatusUnauthorized, "unauthorized")
		wantProblem(t, "admin token on egress", in.callEgress(t, in.AdminToken, "GET", "/api/x", nil), http.StatusUnauthorized, "unauthorized")
		for what, tok := range map[string]string{"keychain token": w.token, "invocation token": inv} {
			wantProblem(t, what+" on the API", sendT(t, "GET", in.APIURL+"/v1/keychains", "", bearer(tok), nil), http.StatusUnauthorized, "unauthorized")
		}
		// Basic credentials holding a keychain token on egress.
		basic := http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(w.token+":"))}}
		wantProblem(t, "keychain token as basic auth on egress", in.callEgress(t, "", "GET", "/api/x", basic), http.StatusUnauthorized, "unauthorized")
		if counts() != before {
			t.Error("a token in the wrong place reached an upstream")
		}
		w.healthy(t)
	})

	t.Run("Host tricks at ingress", func(t *testing.T) {
		raw := func(head string) reply {
			t.Helper()
			r, err := rawHTTP(hostPort(in.IngressURL), []byte(head+"\r\nAuthorization: Bearer "+w.token+"\r\nConnection: close\r\n\r\n"))
			if err != nil {
				t.Fatalf("%q: %v", head, err)
			}
			return r
		}
		// Hosts that are not <label>.pkg.test: the site's host matcher
		// does not match them, so keygate_package never runs and nothing
		// is forwarded.
		for _, h := range []string{
			"tools.pkg.test.evil.com", // suffix is not at the end
			"evil.com",                // another host altogether
			"TOOLS.PKG.TEST.",         // Caddy's matcher does not strip the root dot
			"tools.pkg.test.:" + ingressPort,
			"a.tools.pkg.test", // * is one label
			"tools..pkg.test",
			"pkg.test",
			"127.0.0.1:" + ingressPort,
			"[::1]",
		} {
			before := counts()
			unrouted(t, "Host "+h, raw("GET /x HTTP/1.1\r\nHost: "+h), before)
		}
		// X-Forwarded-Host is never trusted: not to reach a package...
		before := counts()
		unrouted(t, "X-Forwarded-Host to reach a package", raw("GET /x HTTP/1.1\r\nHost: evil.com\r\nX-Forwarded-Host: tools.pkg.test"), before)
		// ...nor to switch to another one: the Host header decides.
		r := raw("GET /x HTTP/1.1\r\nHost: tools.pkg.test\r\nX-Forwarded-Host: other.pkg.test")
		if r.Status != http.StatusOK || counts() != [3]int{before[0] + 1, before[1], before[2]} {
			t.Errorf("X-Forwarded-Host to switch packages: %s; want tools, not other", r)
		}
		// Case and port do not change the package: DNS names are case
		// insensitive, and the port is the listener's business. Harmless:
		// the same package, with the same checks.
		for _, h := range []string{"TOOLS.PKG.TEST", "Tools.Pkg.Test:1", "tools.pkg.test:" + ingressPort} {
			before := counts()
			r := raw("GET /x HTTP/1.1\r\nHost: " + h)
			if r.Status != http.StatusOK || counts() != [3]int{before[0] + 1, before[1], before[2]} {
				t.Errorf("Host %s: %s; want the tools package", h, r)
			}
		}
		// An empty label passes the site matcher; keygate says 404.
		wantProblem(t, "Host .pkg.test", raw("GET /x HTTP/1.1\r\nHost: .pkg.test"), http.StatusNotFound, "unknown_package")
		// Malformed: Go's server refuses them.
		for _, head := range []string{
			"GET /x HTTP/1.1\r\nHost: tools.pkg.test@evil.com",
			"GET /x HTTP/1.1\r\nHost: tools.pkg.test\r\nHost: other.pkg.test",
			"GET /x HTTP/1.1\r\nHost: tools.pkg.test\x00.evil.com",
			"GET /x HTTP/1.1\r\nHost: ",
		} {
			before := counts()
			if r := raw(head); r.Status != http.StatusBadRequest || counts() != before {
				t.Errorf("%q: %d, want 400 and nothing forwarded", head, r.Status)
			}
		}
		// An absolute-form request target wins over Host (RFC 9112 3.2.2):
		// the package named in the target is the one asked for, with the
		// same checks. Harmless.
		before = counts()
		r = raw("GET http://tools.pkg.test/x HTTP/1.1\r\nHost: evil.com")
		if r.Status != http.StatusOK || counts() != [3]int{before[0] + 1, before[1], before[2]} {
			t.Errorf("absolute-form target: %s", r)
		}
		before = counts()
		unrouted(t, "absolute-form to another host", raw("GET http://evil.com/x HTTP/1.1\r\nHost: tools.pkg.test"), before)
		w.healthy(t)
	})

	t.Run("forged Keygate headers at ingress", func(t *testing.T) {
		// Every spelling of a Keygate-* header an agent sends is dropped;
		// the package's code sees only the one keygate set. (Underscore
		// spellings matter: CGI-style servers read Keygate_Keys and
		// Keygate-Keys as the same variable.)
		r, err := rawHTTP(hostPort(in.IngressURL), []byte("GET /forged HTTP/1.1\r\nHost: tools.pkg.test\r\nAuthorization: Bearer "+w.token+
			"\r\nKeygate-Keys: EVERYTHING\r\nKEYGATE-KEYS: X\r\nKeygate_Keys: Y\r\nkeygate_secret_api_key: forged\r\n"+
			"Keygate-Secret-API_KEY: forged\r\nKeygate-Invocation: forged\r\nConnection: close\r\n\r\n"))
		if err != nil || r.Status != http.StatusOK {
			t.Fatalf("ingress with forged headers: %v %v", r.Status, err)
		}
		got := w.pkgCode.Last(t)
		for name, vals := range got.Header {
			lower := strings.ToLower(name)
			keygates := (name == "Keygate-Keys" && len(vals) == 1 && vals[0] == "API_KEY") ||
				(name == "Keygate-Placeholder-Api-Key" && len(vals) == 1 && strings.HasPrefix(vals[0], "kgph_"))
			if strings.HasPrefix(lower, "keygate") && !keygates {
				t.Errorf("the package's code got %s: %q", name, vals)
			}
		}
		// A second package may not take the first one's host.
		wantProblem(t, "a package with a host in use", in.callAPI(t, "PUT", "/v1/packages/@evil/tools",
			apiKeyManifest("@evil/tools", w.host, other.URL)), http.StatusConflict, "conflict")
		w.healthy(t)
	})

	t.Run("CR, LF and NUL in values", func(t *testing.T) {
		in.mustAPI(t, http.StatusNoContent, "PUT", "/v1/keychains/"+w.kc+"/secrets/CTRL", map[string]any{"value": "first", "allowed_hosts": []string{"127.0.0.1"}})
		for what, c := range map[string]struct {
			method, path string
			body         any
			field        string
		}{
			"value with CRLF":         {"PUT", "/v1/keychains/" + w.kc + "/secrets/CTRL", map[string]string{"value": "a\r\nX-Injected: 1"}, "value"},
			"value with LF":           {"PUT", "/v1/keychains/" + w.kc + "/secrets/CTRL", map[string]string{"value": "a\nb"}, "value"},
			"value with NUL":          {"PUT", "/v1/keychains/" + w.kc + "/secrets/CTRL", map[string]string{"value": "a\x00b"}, "value"},
			"allowed host with CRLF":  {"PUT", "/v1/keychains/" + w.kc + "/secrets/CTRL", map[string]any{"value": "ok", "allowed_hosts": []string{"127.0.0.1\r\nevil.com"}}, "allowed_hosts[0]"},
			"allowed host with NUL":   {"PUT", "/v1/keychains/" + w.kc + "/secrets/CTRL", map[string]any{"value": "ok", "allowed_hosts": []string{"127.0.0.1\x00"}}, "allowed_hosts[0]"},
			"secret name with CRLF":   {"PUT", "/v1/keychains/" + w.kc + "/secrets/CT%0D%0ARL", map[string]string{"value": "ok"}, "name"},
			"secret name with NUL":    {"PUT", "/v1/keychains/" + w.kc + "/secrets/CT%00RL", map[string]string{"value": "ok"}, "name"},
			"owner with CRLF":         {"POST", "/v1/keychains", map[string]string{"owner": "a\r\nb"}, "owner"},
			"owner with NUL":          {"POST", "/v1/keychains", map[string]string{"owner": "a\x00b"}, "owner"},
			"keychain name with CRLF": {"POST", "/v1/keychains", map[string]string{"owner": "ok", "name": "n\r\nX: y"}, "name"},
			"package host with CRLF": {"PUT", "/v1/packages/@it/ctrl", func() testManifest {
				m := apiKeyManifest("@it/ctrl", "ct\r\nrl", other.URL)
				return m
			}(), "host"},
			"package upstream with CRLF": {"PUT", "/v1/packages/@it/ctrl", apiKeyManifest("@it/ctrl", "ctrl", other.URL+"/\r\nX: y"), "upstream"},
			"package version with CRLF": {"PUT", "/v1/packages/@it/ctrl", func() testManifest {
				m := apiKeyManifest("@it/ctrl", "ctrl", other.URL)
				m.Version = "1\r\n"
				return m
			}(), "version"},
		} {
			p := wantProblem(t, what, in.callAPI(t, c.method, c.path, c.body), http.StatusBadRequest, "invalid")
			if p.Field != c.field {
				t.Errorf("%s: field %q, want %q", what, p.Field, c.field)
			}
		}
		// Nothing changed: CTRL is still version 1, no keychain "a\r\nb",
		// no package.
		r := in.mustAPI(t, http.StatusOK, "GET", "/v1/keychains/"+w.kc+"/secrets", nil)
		var secrets []struct {
			Name         string
			Version      int
			AllowedHosts []string `json:"allowed_hosts"`
		}
		json.Unmarshal(r.Body, &secrets)
		for _, s := range secrets {
			if s.Name == "CTRL" && (s.Version != 1 || len(s.AllowedHosts) != 1 || s.AllowedHosts[0] != "127.0.0.1") {
				t.Errorf("a refused write changed CTRL: %+v", s)
			}
		}
		in.mustAPI(t, http.StatusNotFound, "GET", "/v1/packages/@it/ctrl", nil)

		// The CLI: each refused with a one-line reason, exit 1.
		for what, c := range map[string]struct {
			stdin string
			args  []string
		}{
			"value with CR":          {"a\rb\n", []string{"secret", "set", w.kc, "CTRL"}},
			"value with NUL":         {"a\x00b\n", []string{"secret", "set", w.kc, "CTRL"}},
			"value with inner LF":    {"a\nb\n", []string{"secret", "set", w.kc, "CTRL"}},
			"secret name with CRLF":  {"ok\n", []string{"secret", "set", w.kc, "CT\r\nRL"}},
			"owner with CRLF":        {"", []string{"keychain", "create", "--owner", "a\r\nb"}},
			"keychain id with CRLF":  {"", []string{"secret", "list", w.kc + "\r\n"}},
			"package name with CRLF": {"", []string{"grant", w.kc, "@it/other\r\n", "API_KEY"}},
		} {
			r := in.CLI(c.stdin, c.args...)
			if r.Code != 1 || strings.Count(r.Stderr, "\n") != 1 || !strings.HasPrefix(r.Stderr, "keygate: ") || r.Stdout != "" {
				t.Errorf("CLI, %s: want exit 1 with a one-line reason: %s", what, redactResult(r))
			}
		}
		r = in.mustAPI(t, http.StatusOK, "GET", "/v1/keychains/"+w.kc+"/secrets", nil)
		json.Unmarshal(r.Body, &secrets)
		for _, s := range secrets {
			if s.Name == "CTRL" && s.Version != 1 {
				t.Errorf("a refused CLI write changed CTRL: %+v", s)
			}
		}

		// Raw header values: a bare CR or a NUL is refused by Go's server
		// (400); an obsolete folded line is unfolded into one value, which
		// then is no valid token (401).
		for what, c := range map[string]struct {
			hdr    string
			status int
		}{
			"CR in a header":     {"Authorization: Bearer " + inv + "\rX-Injected: 1", http.StatusBadRequest},
			"NUL in a header":    {"Authorization: Bearer " + inv + "\x00", http.StatusBadRequest},
			"NUL in another one": {"X-A: a\x00b\r\nAuthorization: Bearer " + inv, http.StatusBadRequest},
			"folded header":      {"Authorization: Bearer " + inv + "\r\n extra", http.StatusUnauthorized},
		} {
			before := in.Upstream.Count()
			r, err := rawHTTP(hostPort(in.EgressURL), []byte("GET /api/x HTTP/1.1\r\nHost: 127.0.0.1\r\n"+c.hdr+"\r\nConnection: close\r\n\r\n"))
			if err != nil || r.Status != c.status || in.Upstream.Count() != before {
				t.Errorf("egress, %s: %v %v, want %d and nothing forwarded", what, r.Status, err, c.status)
			}
		}
		w.healthy(t)
	})

	t.Run("CLI allow-host with CRLF", func(t *testing.T) {
		r := in.CLI("value\n", "secret", "set", w.kc, "CTRL", "--allow-host", "127.0.0.1\r\nevil.com")
		if r.Code == 0 || strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 {
			t.Fatalf("CR/LF in --allow-host: exit %d, stderr %q; want a one-line refusal", r.Code, r.Stderr)
		}
	})

	t.Run("path tricks at egress", func(t *testing.T) {
		raw := func(target string) reply {
			t.Helper()
			r, err := rawHTTP(hostPort(in.EgressURL), []byte("GET "+target+" HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "+inv+"\r\nConnection: close\r\n\r\n"))
			if err != nil {
				t.Fatalf("%q: %v", target, err)
			}
			return r
		}
		otherBefore, pkgBefore := other.Count(), w.pkgCode.Count()
		// Caddy matches routes on the cleaned, decoded path: these do not
		// fall under /api/*, so no route matches and nothing is sent.
		for _, p := range []string{"/api/../admin", "/api/%2e%2e/admin", "/api/%2e%2e%2fadmin", "/api/..%2f..%2fadmin", "/api", "*"} {
			before := counts()
			unrouted(t, "egress "+p, raw(p), before)
		}
		// These do fall under /api/* once cleaned or decoded (the path
		// matcher is case-insensitive and decodes %2f): they go to the
		// route's one upstream, the only host the value may go to, with
		// the path the upstream gets shown. Harmless: a path cannot change
		// where the value is sent; the dialed host is checked on every
		// request.
		for p, want := range map[string]string{
			"//api/x":                   "/x",
			"/api//x":                   "/x",
			"/api/%2Fx":                 "//x",
			"/API/x":                    "/x",
			"/%61pi/x":                  "/x",
			"/api%2fx":                  "/x",
			"/./api/x":                  "/x",
			"/x/../api/y":               "/y",
			"/api/x?u=http://evil.com/": "/x",
			"http://evil.com/api/x":     "/x", // absolute form: the host in it is not dialed
		} {
			before := in.Upstream.Count()
			r := raw(p)
			if r.Status != http.StatusOK || in.Upstream.Count() != before+1 {
				t.Errorf("egress %s: %s, want 200 from the route's upstream", p, r)
				continue
			}
			got := in.Upstream.Last(t)
			if got.Path != want || got.Header.Get("Authorization") != "Bearer "+w.value {
				t.Errorf("egress %s: the upstream got path %q (want %q) or not the configured header", p, got.Path, want)
			}
		}
		if other.Count() != otherBefore || w.pkgCode.Count() != pkgBefore {
			t.Error("a path trick reached another upstream")
		}
		w.healthy(t)
	})
}
