package cli

import (
	"net/http"
	"strings"
	"testing"
)

// TestGrantStatusSaysWhatIsMissing: a required key the grant does not
// approve is reported as not approved, not as waiting for a value.
func TestGrantStatusSaysWhatIsMissing(t *testing.T) {
	tests := []struct {
		name      string
		g         grant
		want, not string
	}{
		{"not approved", grant{Status: "missing_keys", Keys: nil, MissingKeys: []string{"A"}}, "not approved: A (keygate grant)", "waiting"},
		{"no value", grant{Status: "missing_keys", Keys: []string{"A"}, MissingKeys: []string{"A"}}, "waiting for values of A (keygate secret set)", "not approved"},
		{"both", grant{Status: "missing_keys", Keys: []string{"B"}, MissingKeys: []string{"A", "B"}}, "not approved: A (keygate grant); waiting for values of B", "\x00"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := statusText(tc.g)
			if !strings.Contains(got, tc.want) || strings.Contains(got, tc.not) {
				t.Fatalf("statusText = %q, want %q and not %q", got, tc.want, tc.not)
			}
		})
	}
}

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
