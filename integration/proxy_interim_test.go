package integration

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"testing"
)

// TestProxyNoLeaksInterimAndTrailers: behind the proxy site, an upstream
// that reflects the substituted value in a 103 Early Hints answer and in
// trailers, announced or not, over HTTP/1.1 and HTTP/2 in the tunnel: the
// client gets the placeholder back, never the value.
func TestProxyNoLeaksInterimAndTrailers(t *testing.T) {
	hostile := new(hostileInterim)
	pw := newProxyWorld(t, hostile.ServeHTTP, Config{})
	_, ph := pw.call(t)
	for _, h2 := range []bool{true, false} {
		c := pw.goClient(t, pw.proxyURL)
		if !h2 {
			c.Transport.(*http.Transport).ForceAttemptHTTP2 = false
			c.Transport.(*http.Transport).TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		}
		var b strings.Builder
		interim := 0
		trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			interim++
			fmt.Fprintf(&b, "interim %d: %v\n", code, h)
			return nil
		}}
		req, _ := http.NewRequest("GET", pw.upstreamURL("/x?api_key="+ph), nil)
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
		req.Header.Set("Authorization", "Bearer "+ph)
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		fmt.Fprintf(&b, "status %d\nheaders %v\nbody %s\ntrailers %v\n", res.StatusCode, res.Header, body, res.Trailer)
		ans := b.String()
		if res.StatusCode != http.StatusOK || interim == 0 || !strings.Contains(ans, ph) {
			t.Fatalf("h2 %v: the hostile answer did not come through as the test needs (%d interim): %s", h2, interim, redact(ans))
		}
		if strings.Contains(ans, pw.value) {
			t.Fatalf("h2 %v: the client's answer holds the value:\n%s", h2, redact(ans))
		}
		if len(res.Trailer) < 2 && h2 {
			t.Fatalf("h2: the trailers did not come through: %v", res.Trailer)
		}
	}
	if vals := hostile.values(); len(vals) < 4 || !strings.Contains(strings.Join(vals, " "), pw.value) {
		t.Fatalf("the hostile upstream did not get the value (%d seen)", len(vals))
	}
}
