package integration

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// TestProxyExpiredPlaceholder: a placeholder is worth nothing once its
// call's invocation token has expired.
func TestProxyExpiredPlaceholder(t *testing.T) {
	pw := newProxyWorld(t, nil, Config{KeygateOptions: "invocation_ttl 1s"})
	_, ph := pw.call(t)
	// The token's second, and the verifier's clock leeway of 5s.
	time.Sleep(7 * time.Second)
	sent := pw.up.Count()
	c := pw.goClient(t, pw.proxyURL)
	req, _ := http.NewRequest("GET", pw.upstreamURL("/v1/echo"), nil)
	req.Header.Set("Authorization", "Bearer "+ph)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var p problem
	json.Unmarshal(body, &p)
	if resp.StatusCode != http.StatusUnauthorized || p.Reason != "unauthorized" || pw.up.Count() != sent {
		t.Fatalf("an expired placeholder: %d %s, upstream requests %d", resp.StatusCode, body, pw.up.Count()-sent)
	}
}

// TestProxyAbsoluteForm: http:// behind HTTP_PROXY, under the same rules.
func TestProxyAbsoluteForm(t *testing.T) {
	pw := newProxyWorld(t, nil, Config{})
	plain := NewUpstream(t, echoAPI)
	_, ph := pw.call(t)
	c := pw.goClient(t, pw.proxyURL)
	req, _ := http.NewRequest("GET", plain.URL+"/v1/echo?k="+ph, nil)
	req.Header.Set("X-Api-Key", ph)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), ph) || strings.Contains(string(body), pw.value) {
		t.Fatalf("absolute form: %d %s", resp.StatusCode, redact(string(body)))
	}
	if last := plain.Last(t); last.Header.Get("X-Api-Key") != pw.value || last.RawQuery != "k="+pw.value {
		t.Fatal("the upstream did not get the value")
	}
	// A Host header that is not the URL's is ignored (RFC 9112 3.2.2): the
	// request goes to the URL's authority, with it as Host.
	raw := "GET " + plain.URL + "/v1/echo HTTP/1.1\r\nHost: example.com\r\nX-Api-Key: " + ph + "\r\nConnection: close\r\n\r\n"
	r, err := rawHTTP(strings.TrimPrefix(pw.proxyURL, "http://"), []byte(raw))
	if err != nil || r.Status != http.StatusOK {
		t.Fatalf("absolute form with another Host: %v %v", r, err)
	}
	if last := plain.Last(t); last.Host != plain.Addr || last.Header.Get("X-Api-Key") != pw.value {
		t.Fatalf("the upstream got Host %q", last.Host)
	}
}

// TestProxyHTTP2RapidReset: a client that opens and resets streams as
// fast as it can inside a tunnel is bounded; the proxy site serves on.
func TestProxyHTTP2RapidReset(t *testing.T) {
	pw := newProxyWorld(t, nil, Config{})
	target := "localhost:" + pw.up.Port // a pass host: these requests would go out
	resp, conn := connect(t, pw.proxyURL, target, nil)
	if conn == nil {
		t.Fatalf("CONNECT: %d", resp.StatusCode)
	}
	pem, _ := os.ReadFile(pw.caFile)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	tc := tls.Client(conn, &tls.Config{ServerName: "localhost", RootCAs: pool, NextProtos: []string{"h2"}})
	if err := tc.Handshake(); err != nil || tc.ConnectionState().NegotiatedProtocol != "h2" {
		t.Fatalf("h2 in the tunnel: %v %q", err, tc.ConnectionState().NegotiatedProtocol)
	}
	defer tc.Close()
	tc.SetDeadline(time.Now().Add(30 * time.Second))
	io.WriteString(tc, http2.ClientPreface)
	fr := http2.NewFramer(tc, tc)
	fr.WriteSettings()
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	const streams = 5000
	sent := pw.up.Count()
	var werr error
	for i := range streams {
		hb.Reset()
		for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", target}, {":path", "/v1/echo"}} {
			enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
		}
		id := uint32(2*i + 1)
		if werr = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: hb.Bytes(), EndStream: true, EndHeaders: true}); werr != nil {
			break
		}
		if werr = fr.WriteRSTStream(id, http2.ErrCodeCancel); werr != nil {
			break
		}
	}
	// The server may cut the connection (GOAWAY) before all were written;
	// either way it read no more than it chose to.
	time.Sleep(time.Second)
	if n := pw.up.Count() - sent; n > streams/2 {
		t.Errorf("%d of %d reset streams reached the upstream", n, streams)
	}
	// Still serving.
	c := pw.goClient(t, pw.proxyURL)
	r2, err := c.Get("https://" + target + "/v1/echo")
	if err != nil {
		t.Fatalf("after the reset flood: %v", err)
	}
	r2.Body.Close()
	if r2.StatusCode != 200 {
		t.Fatalf("after the reset flood: %d", r2.StatusCode)
	}
	t.Logf("write error after the flood (nil: all written): %v; upstream requests %d", werr, pw.up.Count()-sent)
}

// TestProxyBodyPlacement: a key whose manifest entry says "placement":
// ["body"] has its placeholder replaced in JSON and form bodies (escaped
// for each), and nowhere else in the body is anything changed.
func TestProxyBodyPlacement(t *testing.T) {
	pw := newProxyWorld(t, nil, Config{})
	// The value needs escaping in both encodings.
	ph, value := pw.bodyKey(t)
	c := pw.goClient(t, pw.proxyURL)
	for _, tc := range []struct{ ctype, body, want string }{
		{"application/json", `{"api_key":"` + ph + `","n":1}`, `{"api_key":` + mustJSON(value) + `,"n":1}`},
		{"application/x-www-form-urlencoded", "n=1&api_key=" + ph, "n=1&api_key=" + url.QueryEscape(value)},
	} {
		req, _ := http.NewRequest("POST", pw.upstreamURL("/v1/echo"), strings.NewReader(tc.body))
		req.Header.Set("Content-Type", tc.ctype)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || strings.Contains(string(body), value) {
			t.Fatalf("%s: %d %s", tc.ctype, resp.StatusCode, redact(string(body)))
		}
		if got := string(pw.up.Last(t).Body); got != tc.want {
			t.Fatalf("%s: the upstream got another body (%d bytes, want %d)", tc.ctype, len(got), len(tc.want))
		}
	}
}

// bodyKey registers @it/body, whose key BODY_KEY has body placement and a
// value that needs escaping in JSON, forms and XML, and returns the
// placeholder of a call into it and the value.
func (pw *proxyWorld) bodyKey(t *testing.T) (ph, value string) {
	t.Helper()
	value = RandomToken(t, `sk_"body"&+/<`)
	noteSensitive(value)
	pw.in.setSecret(t, pw.kc, "BODY_KEY", value)
	m := map[string]any{"name": "@it/body", "version": "1.0.0", "sha256": sha256Hex("@it/body/v1"), "host": "body", "upstream": pw.pkgCode.URL,
		"keys": []map[string]any{{"name": "BODY_KEY", "required": true, "hosts": []string{"127.0.0.1"}, "placement": []string{"body"}}}}
	if r := pw.in.callAPI(t, "PUT", "/v1/packages/@it/body", m); r.Status != http.StatusCreated {
		t.Fatalf("put package: %s", r)
	}
	pw.in.grant(t, pw.kc, "@it/body", "BODY_KEY")
	path := "/call/" + RandomToken(t, "")
	if r := pw.in.callIngress(t, "body", pw.token, "GET", path, nil); r.Status != http.StatusOK {
		t.Fatalf("ingress: %s", r)
	}
	for _, req := range pw.pkgCode.Requests() {
		if req.Path == path {
			ph = req.Header.Get("Keygate-Placeholder-BODY-KEY")
		}
	}
	if ph == "" {
		t.Fatal("no placeholder")
	}
	return ph, value
}

func mustJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestProxySlowHandshake: a client that says CONNECT and then never starts
// TLS is cut off once the handshake's time is up, freeing its slot.
func TestProxySlowHandshake(t *testing.T) {
	pw := newProxyWorld(t, nil, Config{})
	resp, c := connect(t, pw.proxyURL, "127.0.0.1:"+pw.up.Port, nil)
	if c == nil {
		t.Fatalf("CONNECT: %d", resp.StatusCode)
	}
	defer c.Close()
	// Far beyond the handshake's 10s: only a connection left open reaches it.
	c.SetReadDeadline(time.Now().Add(60 * time.Second))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	switch {
	case err == nil:
		t.Fatal("the proxy sent something to a client that never started TLS")
	case errors.As(err, &ne) && ne.Timeout():
		t.Fatal("the proxy kept the connection of a client that never started TLS")
	}
}
