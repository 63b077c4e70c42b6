package ownerpage

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/keygate/keygate/caddymodule/gateway"
)

func TestSessionCookieFlags(t *testing.T) {
	for _, tc := range []struct {
		name      string
		tls       bool
		publicURL string
		secure    bool
	}{
		{"plain HTTP", false, "", false},
		{"TLS at Caddy", true, "", true},
		{"TLS at a proxy in front", false, "https://keys.example", true},
	} {
		h := &Page{app: &gateway.App{PublicURL: tc.publicURL}}
		r := httptest.NewRequest("GET", "http://keys.example/ui/login", nil)
		if tc.tls {
			r.TLS = &tls.ConnectionState{}
		}
		w := httptest.NewRecorder()
		h.setSessionCookie(w, r, "id", time.Now().Add(time.Hour))
		c := w.Result().Cookies()[0]
		if c.Secure != tc.secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/ui" {
			t.Errorf("%s: cookie %+v", tc.name, c)
		}
	}
}
