package caddymodule_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// TestAdminAPIStrictKeys: a repeated key, or a key that differs from a
// field's name only in case, is 400 and changes nothing, at any depth.
func TestAdminAPIStrictKeys(t *testing.T) {
	g := startGateway(t, gatewayOptions{})
	kc, _ := g.newKeychain("alice", "")
	secret := "/v1/keychains/" + kc + "/secrets/API_KEY"
	for _, body := range []string{
		`{"value":"a","value":"b"}`,
		`{"value":"a","VALUE":"b"}`,
		`{"Value":"a"}`,
		`{"value":"a","allowed_hosts":["x.example"],"Allowed_Hosts":["y.example"]}`,
	} {
		st, b := g.admin("PUT", secret, body)
		if st != 400 || !strings.Contains(string(b), `"invalid"`) || strings.Contains(string(b), `"b"`) {
			t.Errorf("%s: status %d: %s", body, st, b)
		}
	}
	if slices.Contains(g.secretNames(kc), "API_KEY") {
		t.Fatal("a refused body stored the secret")
	}
	m := g.manifest("@acme/strict", "strict", map[string]any{"name": "API_KEY", "required": true})
	raw, _ := json.Marshal(m)
	nested := strings.Replace(string(raw), `"required":true`, `"required":true,"Required":false`, 1)
	top := strings.Replace(string(raw), `"host":"strict"`, `"host":"strict","HOST":"other"`, 1)
	for _, body := range []string{nested, top} {
		if st, b := g.admin("PUT", "/v1/packages/@acme/strict", body); st != 400 {
			t.Errorf("manifest %s: status %d: %s", body, st, b)
		}
	}
	if st, _ := g.admin("GET", "/v1/packages/@acme/strict", nil); st != 404 {
		t.Fatal("a refused manifest was stored")
	}
	// Well-formed bodies still go through.
	g.mustAdmin(204, "PUT", secret, `{"value":"sk_strict","allowed_hosts":["127.0.0.1"]}`)
	g.mustAdmin(201, "PUT", "/v1/packages/@acme/strict", string(raw))
}
