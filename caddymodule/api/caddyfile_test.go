package api

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/keygate/keygate/caddymodule/ownerpage"
)

func TestUnmarshalOwnerOptions(t *testing.T) {
	good := `keygate_api {
		max_body_bytes 4096
		owner_link_ttl 5m
		owner_session_ttl 2h
		owner_issuer https://platform.example {
			audience keygate
			jwks_file /etc/keygate/jwks.json
			algorithms EdDSA ES256
			leeway 10s
		}
	}`
	var h APIHandler
	if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(good)); err != nil {
		t.Fatal(err)
	}
	if h.LoginLinkTTL != caddy.Duration(5*time.Minute) || h.SessionTTL != caddy.Duration(2*time.Hour) || h.MaxBodyBytes != 4096 {
		t.Fatalf("parsed %+v", h)
	}
	want := ownerpage.OwnerIssuer{Issuer: "https://platform.example", Audience: "keygate", JWKSFile: "/etc/keygate/jwks.json",
		Algorithms: []string{"EdDSA", "ES256"}, Leeway: caddy.Duration(10 * time.Second)}
	got, _ := json.Marshal(h.Issuer)
	exp, _ := json.Marshal(want)
	if string(got) != string(exp) {
		t.Fatalf("issuer %s, want %s", got, exp)
	}
	js, _ := json.Marshal(&h)
	if !strings.Contains(string(js), `"owner_issuer":{"issuer":"https://platform.example"`) || !strings.Contains(string(js), `"owner_link_ttl":300000000000`) {
		t.Fatalf("JSON %s", js)
	}

	for _, bad := range []struct{ in, want string }{
		{"keygate_api {\n owner_issuer\n}", "want 'owner_issuer <issuer>"},
		{"keygate_api {\n owner_issuer i {\n public_key_file /k\n }\n}", "audience"},
		{"keygate_api {\n owner_issuer i {\n audience a\n }\n}", "exactly one"},
		{"keygate_api {\n owner_issuer i {\n audience a\n public_key_file /k\n algorithms HS256\n }\n}", `"HS256" is not accepted`},
		{"keygate_api {\n owner_issuer i {\n audience a\n public_key_file /k\n colour blue\n }\n}", `unrecognized owner_issuer option "colour"`},
		{"keygate_api {\n owner_link_ttl soon\n}", "owner_link_ttl"},
		{"keygate_api {\n nonsense 1\n}", `unrecognized keygate_api option "nonsense"`},
	} {
		var h APIHandler
		err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(bad.in))
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: error %v, want one containing %q", bad.in, err, bad.want)
		}
	}
}

// TestMaxBodyBytesSizes: sizes read as Caddy reads them, and the
// Caddyfile refuses exactly what Validate refuses in JSON.
func TestMaxBodyBytesSizes(t *testing.T) {
	for _, tc := range []struct {
		arg  string
		want int64
		err  string
	}{
		{"4096", 4096, ""},
		{"2048kb", 2048000, ""},
		{"64KiB", 65536, ""},
		{"1MB", 1000000, ""},
		{"1023", 0, "at least 1024"},
		{"lots", 0, "want a size"},
		{"-5", 0, "want a size"},
		{"2048 kb", 0, "wrong argument count"},
	} {
		var h APIHandler
		err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("keygate_api {\n max_body_bytes " + tc.arg + "\n}"))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err = %v, want one containing %q", tc.arg, err, tc.err)
			}
			continue
		}
		if err != nil || h.MaxBodyBytes != tc.want {
			t.Errorf("%s: %d, %v; want %d", tc.arg, h.MaxBodyBytes, err, tc.want)
		}
	}
	for _, n := range []int64{-1, 10, 1023} {
		h := APIHandler{MaxBodyBytes: n}
		if err := h.Validate(); err == nil || !strings.Contains(err.Error(), "max_body_bytes must be at least 1024") {
			t.Errorf("JSON max_body_bytes %d: %v", n, err)
		}
	}
	if err := (&APIHandler{MaxBodyBytes: 1024}).Validate(); err != nil {
		t.Error(err)
	}
}
