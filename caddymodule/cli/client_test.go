package cli

import (
	"net/http"
	"strings"
	"testing"
)

// TestNotTheAPI: a site that is not keygate_api (Caddy's empty 200 on a
// wrong port, or an HTML page) is named as such, not as a JSON error.
func TestNotTheAPI(t *testing.T) {
	tests := []struct {
		name, ctype, body string
		want              string
	}{
		{"empty 200", "", "", "with an empty body"},
		{"html", "text/html", "<html>hi</html>", `with Content-Type "text/html"`},
		{"json-typed junk", "application/json", "{", `with Content-Type "application/json"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeAPI(t)
			f.handler = func(w http.ResponseWriter, r *http.Request) {
				if tc.ctype != "" {
					w.Header().Set("Content-Type", tc.ctype)
				}
				w.Write([]byte(tc.body))
			}
			r := runCLI(t, "", "keychain", "list")
			want := "keygate: keychain list: no keygate API at " + f.srv.URL + ": it answered 200 " + tc.want
			if r.code != 1 || !strings.Contains(r.stderr, want) {
				t.Fatalf("exit %d stderr %q, want 1 and %q", r.code, r.stderr, want)
			}
		})
	}
}
