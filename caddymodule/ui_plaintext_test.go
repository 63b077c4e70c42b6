package caddymodule_test

import (
	"regexp"
	"strings"
	"testing"
)

// keyRow is the owners' page table row of one key of a package.
func keyRow(t *testing.T, page, key string) string {
	t.Helper()
	m := regexp.MustCompile(`(?s)<tr>\s*<td><code>` + key + `</code>.*?</tr>`).FindString(page)
	if m == "" {
		t.Fatalf("no row for key %s on the page", key)
	}
	return m
}

const plaintextNote = "sent to the package's code in plaintext"

// TestOwnerPagePlaintext: with a plaintext package site configured, the
// owners' page says which granted values reach the package's code, exactly
// those whose allowed_hosts include the package's upstream host; without
// one it says so of none.
func TestOwnerPagePlaintext(t *testing.T) {
	for _, mode := range []string{"plaintext", "sealed"} {
		t.Run(mode, func(t *testing.T) {
			g := startGateway(t, gatewayOptions{mode: mode, publicURL: true})
			s := g.standardSetup() // API_KEY allows 127.0.0.1, the package's upstream host
			kc := s.kc
			g.mustAdmin(204, "PUT", "/v1/keychains/"+kc+"/secrets/ELSEWHERE_KEY",
				map[string]any{"value": "v_" + randHex(t, 8), "allowed_hosts": []string{"api.example.com"}})
			g.mustAdmin(204, "PUT", "/v1/keychains/"+kc+"/secrets/UNGRANTED_KEY",
				map[string]any{"value": "v_" + randHex(t, 8), "allowed_hosts": []string{"127.0.0.1"}})
			g.mustAdmin(200, "PUT", "/v1/packages/@acme/tools", g.manifest("@acme/tools", "tools",
				map[string]any{"name": "API_KEY", "required": true, "description": "d"},
				map[string]any{"name": "ELSEWHERE_KEY", "description": "d"},
				map[string]any{"name": "UNGRANTED_KEY", "description": "d"},
			))
			g.mustAdmin(200, "PUT", "/v1/keychains/"+kc+"/grants/@acme/tools",
				map[string]any{"keys": []string{"API_KEY", "ELSEWHERE_KEY"}})

			c := g.newOwnerClient()
			c.signIn(kc)
			st, _, page := c.get("/ui/keychains/" + kc)
			if st != 200 {
				t.Fatalf("owners' page: %d", st)
			}
			want := map[string]bool{"API_KEY": mode == "plaintext", "ELSEWHERE_KEY": false, "UNGRANTED_KEY": false}
			for key, plain := range want {
				if got := strings.Contains(keyRow(t, page, key), plaintextNote); got != plain {
					t.Errorf("%s: says plaintext %v, want %v", key, got, plain)
				}
			}
			if mode != "plaintext" {
				return
			}
			// What the page says is what happens: API_KEY reaches the
			// package's code; ELSEWHERE_KEY stops the call.
			if st, _, b := g.agent("tools", s.token, nil); st != 403 || !strings.Contains(string(b), "ELSEWHERE_KEY") {
				t.Errorf("plaintext with a key not allowed on the upstream: %d %s, want 403 naming ELSEWHERE_KEY", st, b)
			}
			g.mustAdmin(200, "PUT", "/v1/keychains/"+kc+"/grants/@acme/tools", map[string]any{"keys": []string{"API_KEY"}})
			if st, _, b := g.agent("tools", s.token, nil); st != 200 {
				t.Fatalf("plaintext with API_KEY only: %d %s", st, b)
			}
			if g.pkgUpstream.last(t).Header.Get("Keygate-Secret-API-KEY") != s.secret {
				t.Error("the package's code did not get API_KEY in plaintext")
			}
		})
	}
}
