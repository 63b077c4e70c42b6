package integration

import (
	"crypto/tls"
	"net/http"
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
		ans, interim := interimAnswer(t, c, "GET", pw.upstreamURL("/x?api_key="+ph), http.Header{"Authorization": {"Bearer " + ph}})
		if interim == 0 || !strings.Contains(ans, ph) || !strings.Contains(ans, "X-Announced") || !strings.Contains(ans, "X-Unannounced") {
			t.Fatalf("h2 %v: the hostile answer did not come through as the test needs (%d interim): %s", h2, interim, redact(ans))
		}
		if strings.Contains(ans, pw.value) {
			t.Fatalf("h2 %v: the client's answer holds the value:\n%s", h2, redact(ans))
		}
	}
	if vals := hostile.values(); len(vals) < 4 || !strings.Contains(strings.Join(vals, " "), pw.value) {
		t.Fatalf("the hostile upstream did not get the value (%d seen)", len(vals))
	}
}
