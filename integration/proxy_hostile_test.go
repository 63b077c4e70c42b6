package integration

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// rawTunnel is a CONNECT tunnel driven by hand, for what no well-behaved
// client sends.
type rawTunnel struct {
	conn net.Conn
	br   *bufio.Reader
}

// connect sends CONNECT target to proxy and returns the proxy's answer,
// and the open connection when it said 200.
func connect(t testing.TB, proxy, target string, hdr http.Header) (*http.Response, net.Conn) {
	t.Helper()
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(proxy, "http://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n", target, target)
	for k, vs := range hdr {
		for _, v := range vs {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(c, b.String()); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: "CONNECT"})
	if err != nil {
		t.Fatalf("CONNECT %s: %v", target, err)
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		resp.Body = io.NopCloser(strings.NewReader(string(body)))
		c.Close()
		return resp, nil
	}
	if br.Buffered() > 0 {
		t.Fatal("the proxy sent bytes after 200")
	}
	return resp, c
}

// tunnel opens a TLS tunnel through proxy to target, verifying keygate's
// leaf for serverName unless insecure.
func (pw *proxyWorld) tunnel(t testing.TB, proxy, target, serverName string, insecure bool, hdr http.Header) *rawTunnel {
	t.Helper()
	resp, c := connect(t, proxy, target, hdr)
	if c == nil {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("CONNECT %s: %d %s", target, resp.StatusCode, body)
	}
	if serverName == "" {
		serverName, _, _ = net.SplitHostPort(target)
	}
	pem, _ := os.ReadFile(pw.caFile)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	tc := tls.Client(c, &tls.Config{ServerName: serverName, RootCAs: pool, InsecureSkipVerify: insecure, NextProtos: []string{"http/1.1"}})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS in the tunnel: %v", err)
	}
	return &rawTunnel{conn: tc, br: bufio.NewReader(tc)}
}

// do sends one HTTP/1.1 request on the tunnel and reads the answer.
func (rt *rawTunnel) do(t testing.TB, req *http.Request) reply {
	t.Helper()
	if err := req.Write(rt.conn); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(rt.br, req)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return reply{Status: resp.StatusCode, Header: resp.Header, Body: body}
}

func newReq(t testing.TB, method, url, host string, hdr http.Header, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body == "" {
		req.Body, req.ContentLength = nil, 0
	}
	if host != "" {
		req.Host = host
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	return req
}

// TestProxyHostile: every request that would send a value (or a
// placeholder) where it may not go is refused before anything leaves,
// and audited; nothing of the value, the placeholder or the token reaches
// a log line, the audit or the data directory.
func TestProxyHostile(t *testing.T) {
	pw := newProxyWorld(t, nil, Config{
		GlobalOptions: "debug\n\tlog {\n\t\tlevel DEBUG\n\t}\n\tlog debugfile {\n\t\toutput file {{.Dir}}/debug.log\n\t\tlevel DEBUG\n\t}",
	})
	tok, ph := pw.call(t)
	up := "127.0.0.1:" + pw.up.Port
	other := "localhost:" + pw.up.Port // the same upstream under a name the key may not go to
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("user:"+ph))
	var errs errList

	refused := func(what string, r reply, status int, reason string) {
		t.Helper()
		if r.Status != status {
			errs.add("%s: got %d, want %d: %s", what, r.Status, status, redact(string(r.Body)))
			return
		}
		var p problem
		if err := json.Unmarshal(r.Body, &p); err != nil || (reason != "" && p.Reason != reason) {
			errs.add("%s: reason %q, want %q (%s)", what, p.Reason, reason, redact(string(r.Body)))
		}
	}
	sent := pw.up.Count()
	nothingSent := func(what string) {
		t.Helper()
		if n := pw.up.Count(); n != sent {
			errs.add("%s: the upstream received %d requests", what, n-sent)
			sent = n
		}
	}

	t.Run("placeholder to a host its key may not go to", func(t *testing.T) {
		rt := pw.tunnel(t, pw.proxyURL, other, "localhost", false, nil)
		defer rt.conn.Close()
		for name, req := range map[string]*http.Request{
			"header":     newReq(t, "GET", "https://"+other+"/v1/echo", "", http.Header{"Authorization": {"Bearer " + ph}}, ""),
			"x-api-key":  newReq(t, "GET", "https://"+other+"/v1/echo", "", http.Header{"X-Api-Key": {ph}}, ""),
			"query":      newReq(t, "GET", "https://"+other+"/v1/echo?key="+ph, "", nil, ""),
			"basic auth": newReq(t, "GET", "https://"+other+"/v1/echo", "", http.Header{"Authorization": {basic}}, ""),
			"json body":  newReq(t, "POST", "https://"+other+"/v1/echo", "", http.Header{"Content-Type": {"application/json"}}, `{"key":"`+ph+`"}`),
		} {
			refused(name, rt.do(t, req), http.StatusForbidden, "")
			nothingSent(name)
		}
		// Without a placeholder the same host is a pass host: the tunnel
		// still works.
		if r := rt.do(t, newReq(t, "GET", "https://"+other+"/v1/echo", "", nil, "")); r.Status != 200 {
			errs.add("a pass host without placeholder: %s", r)
		}
		sent = pw.up.Count()
	})

	t.Run("placeholder in a body of a key without body placement", func(t *testing.T) {
		rt := pw.tunnel(t, pw.proxyURL, up, "", false, nil)
		defer rt.conn.Close()
		r := rt.do(t, newReq(t, "POST", "https://"+up+"/v1/echo", "", http.Header{"Content-Type": {"application/json"}}, `{"key":"`+ph+`"}`))
		refused("json body", r, http.StatusForbidden, "placement_not_allowed")
		nothingSent("json body")
	})

	t.Run("SNI or Host differing from CONNECT", func(t *testing.T) {
		rt := pw.tunnel(t, pw.proxyURL, up, "localhost", true, nil)
		r := rt.do(t, newReq(t, "GET", "https://"+up+"/v1/echo", "", http.Header{"Authorization": {"Bearer " + ph}}, ""))
		rt.conn.Close()
		refused("SNI", r, http.StatusMisdirectedRequest, "misdirected")
		nothingSent("SNI")

		rt = pw.tunnel(t, pw.proxyURL, up, "", false, nil)
		defer rt.conn.Close()
		ok := rt.do(t, newReq(t, "GET", "https://"+up+"/v1/echo", "", http.Header{"Authorization": {"Bearer " + ph}}, ""))
		if ok.Status != 200 {
			errs.add("first request on the tunnel: %s", ok)
		}
		sent = pw.up.Count()
		// The second request on the kept-alive tunnel aims elsewhere.
		r = rt.do(t, newReq(t, "GET", "https://"+other+"/v1/echo", other, http.Header{"Authorization": {"Bearer " + ph}}, ""))
		refused("Host", r, http.StatusMisdirectedRequest, "misdirected")
		nothingSent("Host")
	})

	t.Run("CONNECT to addresses keygate does not dial", func(t *testing.T) {
		for _, c := range []struct{ proxy, target, what string }{
			{pw.strict, up, "loopback"},
			{pw.strict, "localhost:" + pw.up.Port, "a name resolving to loopback"},
			{pw.strict, "10.1.2.3:443", "a private address"},
			{pw.strict, "[::1]:" + pw.up.Port, "IPv6 loopback"},
			{pw.strict, "169.254.10.1:443", "link-local"},
			{pw.proxyURL, "169.254.169.254:80", "the metadata address (even where private upstreams are allowed)"},
			{pw.proxyURL, "[::ffff:169.254.169.254]:80", "the metadata address, IPv4-mapped"},
		} {
			resp, c2 := connect(t, c.proxy, c.target, nil)
			if c2 != nil {
				c2.Close()
			}
			body, _ := io.ReadAll(resp.Body)
			refused(c.what, reply{Status: resp.StatusCode, Body: body}, http.StatusForbidden, "upstream_not_allowed")
		}
		nothingSent("CONNECT")
	})

	t.Run("forged placeholders", func(t *testing.T) {
		rt := pw.tunnel(t, pw.proxyURL, up, "", false, nil)
		defer rt.conn.Close()
		mid := len(ph) / 2
		flip := "A"
		if ph[mid] == 'A' {
			flip = "B"
		}
		for name, forged := range map[string]string{
			"one character changed": ph[:mid] + flip + ph[mid+1:],
			"made up":               "kgph_" + base64.RawURLEncoding.EncodeToString([]byte(strings.Repeat("x", 120))),
			"truncated":             ph[:len(ph)-4],
		} {
			r := rt.do(t, newReq(t, "GET", "https://"+up+"/v1/echo", "", http.Header{"Authorization": {"Bearer " + forged}}, ""))
			refused(name, r, http.StatusForbidden, "placeholder_invalid")
		}
		nothingSent("forged")
	})

	t.Run("proxy_auth", func(t *testing.T) {
		resp, c := connect(t, pw.authed, up, nil)
		if c != nil {
			c.Close()
		}
		if resp.StatusCode != http.StatusProxyAuthRequired || resp.Header.Get("Proxy-Authenticate") == "" {
			errs.add("CONNECT without Proxy-Authorization: %d", resp.StatusCode)
		}
		bad := http.Header{"Proxy-Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("keygate:not-a-token"))}}
		if resp, c := connect(t, pw.authed, up, bad); c != nil || resp.StatusCode != http.StatusProxyAuthRequired {
			errs.add("CONNECT with a bad token: %d", resp.StatusCode)
		}
		// Another keychain's call, granted the same package: its
		// placeholder is refused in a tunnel opened with this token.
		kc2, tok2 := pw.in.newKeychain(t, "other")
		pw.in.setSecret(t, kc2, "API_KEY", RandomToken(t, "sk_other_"))
		pw.in.grant(t, kc2, pw.pkgName, "API_KEY")
		saved := pw.token
		pw.token = tok2
		_, ph2 := pw.call(t)
		pw.token = saved
		auth := http.Header{"Proxy-Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("keygate:"+tok))}}
		rt := pw.tunnel(t, pw.authed, up, "", false, auth)
		defer rt.conn.Close()
		r := rt.do(t, newReq(t, "GET", "https://"+up+"/v1/echo", "", http.Header{"Authorization": {"Bearer " + ph2}}, ""))
		refused("another keychain's placeholder", r, http.StatusForbidden, "placeholder_not_yours")
		nothingSent("another keychain's placeholder")
		if r := rt.do(t, newReq(t, "GET", "https://"+up+"/v1/echo", "", http.Header{"Authorization": {"Bearer " + ph}}, "")); r.Status != 200 {
			errs.add("the token's own placeholder: %s", r)
		}
		sent = pw.up.Count()
	})

	t.Run("revoked grant", func(t *testing.T) {
		_, ph3 := pw.call(t)
		pw.in.mustAPI(t, http.StatusNoContent, "DELETE", "/v1/keychains/"+pw.kc+"/grants/"+pw.pkgName, nil)
		rt := pw.tunnel(t, pw.proxyURL, up, "", false, nil)
		defer rt.conn.Close()
		r := rt.do(t, newReq(t, "GET", "https://"+up+"/v1/echo", "", http.Header{"Authorization": {"Bearer " + ph3}}, ""))
		refused("revoked", r, http.StatusForbidden, "no_grant")
		nothingSent("revoked")
		pw.in.grant(t, pw.kc, pw.pkgName, "API_KEY")
		r = rt.do(t, newReq(t, "GET", "https://"+up+"/v1/echo", "", http.Header{"Authorization": {"Bearer " + ph3}}, ""))
		refused("granted again: the old call stays void", r, http.StatusForbidden, "no_grant")
		nothingSent("granted again")
	})

	t.Run("echoes in gzip and SSE", func(t *testing.T) {
		_, ph4 := pw.call(t)
		c := pw.goClient(t, pw.proxyURL)
		for _, path := range []string{"/v1/gzip", "/v1/sse", "/v1/echo"} {
			req, _ := http.NewRequest("GET", pw.upstreamURL(path), nil)
			req.Header.Set("Authorization", "Bearer "+ph4)
			req.Header.Set("Accept-Encoding", "gzip, br")
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || strings.Contains(string(body), pw.value) || !strings.Contains(string(body), ph4) {
				errs.add("%s: %d, value echoed: %v, placeholder back: %v", path, resp.StatusCode, strings.Contains(string(body), pw.value), strings.Contains(string(body), ph4))
			}
		}
		sent = pw.up.Count()
	})

	t.Run("a client that refuses the CA", func(t *testing.T) {
		c := pw.goClient(t, pw.proxyURL)
		c.Transport.(*http.Transport).TLSClientConfig.RootCAs = x509.NewCertPool()
		req, _ := http.NewRequest("GET", pw.upstreamURL("/v1/echo"), nil)
		req.Header.Set("Authorization", "Bearer "+ph)
		if resp, err := c.Do(req); err == nil {
			resp.Body.Close()
			errs.add("a client without keygate's CA got an answer")
		}
		nothingSent("refused CA")
	})

	t.Run("CONNECT flood and slow handshakes", func(t *testing.T) {
		auth := http.Header{"Proxy-Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("keygate:"+tok))}}
		var open []net.Conn
		for range 4 {
			// Each says CONNECT and then never starts TLS.
			_, c := connect(t, pw.authed, up, auth)
			if c == nil {
				t.Fatal("a CONNECT within the limit was refused")
			}
			open = append(open, c)
		}
		resp, c := connect(t, pw.authed, up, auth)
		if c != nil {
			c.Close()
		}
		if resp.StatusCode != http.StatusTooManyRequests {
			errs.add("the fifth tunnel of one client: %d, want 429", resp.StatusCode)
		}
		for _, c := range open {
			c.Close()
		}
		// Closing them frees the slots.
		if !eventually(5*time.Second, 50*time.Millisecond, func() bool {
			resp, c := connect(t, pw.authed, up, auth)
			if c != nil {
				c.Close()
			}
			return resp.StatusCode == http.StatusOK
		}) {
			errs.add("the tunnels' slots were not freed")
		}
	})

	errs.report(t, "hostile proxy requests")

	// Every refusal was audited, as a denial (the audit queue writes
	// them a moment later).
	denials := 0
	eventually(10*time.Second, 100*time.Millisecond, func() bool {
		denials = 0
		for _, e := range pw.auditEvents(t) {
			if e["decision"] == "deny" {
				denials++
			}
		}
		return denials >= 20
	})
	if denials < 20 {
		t.Errorf("%d proxy denials audited", denials)
	}
	needles := map[string]string{}
	leakNeedles(needles, "the value", pw.value)
	leakNeedles(needles, "the placeholder", ph)
	leakNeedles(needles, "the invocation token", tok)
	raw, _ := json.Marshal(pw.auditEvents(t))
	for what, n := range needles {
		AssertNotContains(t, what, n, map[string]string{"audit": string(raw), "logs": pw.in.Logs(), "cli": pw.in.CLIOutput()})
	}
	pw.in.Stop()
	scanTree(t, pw.in.Dir, needles)
}
