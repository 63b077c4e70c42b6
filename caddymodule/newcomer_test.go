package caddymodule_test

import (
	"strings"
	"testing"
)

// TestEgressNamesAKeychainToken: a keychain token sent to egress is
// refused with a detail that says which token egress wants.
func TestEgressNamesAKeychainToken(t *testing.T) {
	g := startGateway(t, gatewayOptions{})
	s := g.standardSetup()
	st, hdr, body := g.egressCall("/api/x", s.token, nil)
	p := problem(t, hdr, body)
	if st != 401 || !strings.Contains(p["detail"].(string), "keychain token") || !strings.Contains(p["detail"].(string), "invocation token") {
		t.Fatalf("status %d detail %q: want 401 naming the keychain token and the invocation token", st, p["detail"])
	}
}

// TestMissingKeysSetWith: a 428's set_with advises only what is missing:
// the approval when the value is set, both when it is not; and the grant
// it advises keeps the keys already approved.
func TestMissingKeysSetWith(t *testing.T) {
	g := startGateway(t, gatewayOptions{})
	s := g.standardSetup()
	pkg := g.manifest("@acme/tools", "tools",
		map[string]any{"name": "API_KEY", "required": true, "hosts": []string{"127.0.0.1"}},
		map[string]any{"name": "OTHER_KEY", "required": true, "hosts": []string{"127.0.0.1"}},
	)
	g.mustAdmin(200, "PUT", "/v1/packages/@acme/tools", pkg)
	g.mustAdmin(200, "PUT", "/v1/keychains/"+s.kc+"/grants/@acme/tools", map[string]any{"keys": []string{"API_KEY"}})

	setWith := func() string {
		t.Helper()
		st, hdr, body := g.agent("tools", s.token, nil)
		p := problem(t, hdr, body)
		mk, _ := p["missing_keys"].([]any)
		if st != 428 || len(mk) != 1 {
			t.Fatalf("status %d missing %v, want 428 with one key", st, p["missing_keys"])
		}
		return mk[0].(map[string]any)["set_with"].(string)
	}
	// It names the hosts the package sends the key to, so that following it
	// does not end in host_not_allowed.
	want := "keygate secret set " + s.kc + " OTHER_KEY --allow-host 127.0.0.1 && keygate grant " + s.kc + " @acme/tools OTHER_KEY API_KEY"
	if got := setWith(); got != want {
		t.Fatalf("no value: set_with %q, want %q", got, want)
	}
	g.mustAdmin(204, "PUT", "/v1/keychains/"+s.kc+"/secrets/OTHER_KEY",
		map[string]any{"value": "v-" + randHex(t, 8), "allowed_hosts": []string{"127.0.0.1"}})
	want = "keygate grant " + s.kc + " @acme/tools OTHER_KEY API_KEY"
	if got := setWith(); got != want {
		t.Fatalf("value set: set_with %q, want %q", got, want)
	}
}
