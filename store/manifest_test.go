package store

import (
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

const goodManifest = `{
  "name": "@acme/stripe-tools",
  "version": "1.4.0",
  "sha256": "9F2C000000000000000000000000000000000000000000000000000000000001",
  "host": "Stripe-Tools",
  "upstream": "http://127.0.0.1:9001",
  "keys": [
    {"name": "STRIPE_SECRET_KEY", "required": true,
     "description": "Stripe secret key: Dashboard -> Developers -> API keys.",
     "hosts": ["API.stripe.com"]}
  ],
  "app_keys": [{"name": "WEBHOOK_SIGNING_SECRET", "required": false, "description": "..."}]
}`

func TestDecodeManifestGood(t *testing.T) {
	m, err := DecodeManifest([]byte(goodManifest))
	if err != nil {
		t.Fatal(err)
	}
	if m.Host != "stripe-tools" || m.SHA256 != strings.ToLower(m.SHA256) || m.Keys[0].Hosts[0] != "api.stripe.com" {
		t.Fatalf("not normalised: %+v", m)
	}
	if k, ok := m.Key("STRIPE_SECRET_KEY"); !ok || !k.Required {
		t.Fatal("Key lookup failed")
	}
	if _, ok := m.AppKey("WEBHOOK_SIGNING_SECRET"); !ok {
		t.Fatal("AppKey lookup failed")
	}
	if _, ok := m.Key("WEBHOOK_SIGNING_SECRET"); ok {
		t.Fatal("Key found an app key")
	}
}

// edit returns goodManifest with one top-level field replaced (nil removes it).
func edit(t *testing.T, field string, value any) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(goodManifest), &m); err != nil {
		t.Fatal(err)
	}
	if value == nil {
		delete(m, field)
	} else {
		m[field] = value
	}
	b, _ := json.Marshal(m)
	return b
}

func TestDecodeManifestBad(t *testing.T) {
	key := func(name string, hosts ...string) map[string]any {
		return map[string]any{"name": name, "hosts": hosts}
	}
	for _, tc := range []struct {
		name  string
		data  []byte
		field string
	}{
		{"unknown field", []byte(strings.Replace(goodManifest, `"version"`, `"extra": 1, "version"`, 1)), "manifest"},
		{"two objects", []byte(goodManifest + goodManifest), "manifest"},
		{"trailing junk", []byte(goodManifest + "x"), "manifest"},
		{"array", []byte(`[` + goodManifest + `]`), "manifest"},
		{"empty", []byte(``), "manifest"},
		{"not json", []byte(`{"name":`), "manifest"},
		{"too big", []byte(`{"name":"` + strings.Repeat("x", MaxManifestBytes) + `"}`), "manifest"},
		{"wrong type", edit(t, "version", 1), "manifest"},
		{"no name", edit(t, "name", nil), "name"},
		{"unscoped name", edit(t, "name", "stripe-tools"), "name"},
		{"uppercase name", edit(t, "name", "@Acme/stripe"), "name"},
		{"name two slashes", edit(t, "name", "@acme/a/b"), "name"},
		{"name empty part", edit(t, "name", "@acme/"), "name"},
		{"name leading dot", edit(t, "name", "@acme/.x"), "name"},
		{"no version", edit(t, "version", nil), "version"},
		{"version space", edit(t, "version", "1 0"), "version"},
		{"short sha", edit(t, "sha256", "abc"), "sha256"},
		{"non-hex sha", edit(t, "sha256", strings.Repeat("g", 64)), "sha256"},
		{"host with dot", edit(t, "host", "a.b"), "host"},
		{"host empty", edit(t, "host", ""), "host"},
		{"host underscore", edit(t, "host", "a_b"), "host"},
		{"upstream relative", edit(t, "upstream", "/x"), "upstream"},
		{"upstream ftp", edit(t, "upstream", "ftp://h/"), "upstream"},
		{"upstream userinfo", edit(t, "upstream", "http://u:p@h/"), "upstream"},
		{"upstream query", edit(t, "upstream", "http://h/?a=1"), "upstream"},
		{"upstream empty query", edit(t, "upstream", "http://h/?"), "upstream"},
		{"upstream fragment", edit(t, "upstream", "http://h/#f"), "upstream"},
		{"upstream no host", edit(t, "upstream", "http:///x"), "upstream"},
		{"upstream metadata", edit(t, "upstream", "http://169.254.169.254/latest"), "upstream"},
		{"upstream metadata v6", edit(t, "upstream", "http://[fd00:ec2::254]/"), "upstream"},
		{"upstream mapped metadata", edit(t, "upstream", "http://[::ffff:169.254.169.254]/"), "upstream"},
		{"upstream link-local v6", edit(t, "upstream", "http://[fe80::1]:80/"), "upstream"},
		{"upstream metadata name", edit(t, "upstream", "http://Metadata.Google.Internal./"), "upstream"},
		{"upstream unspecified", edit(t, "upstream", "http://0.0.0.0:9001/"), "upstream"},
		{"upstream opaque", edit(t, "upstream", "http:h"), "upstream"},
		{"upstream bad port", edit(t, "upstream", "http://h:99999/"), "upstream"},
		{"bad key name", edit(t, "keys", []any{key("1BAD")}), "keys[0].name"},
		{"duplicate key", edit(t, "keys", []any{key("A"), key("A")}), "keys[1].name"},
		{"key repeats app key", edit(t, "keys", []any{key("WEBHOOK_SIGNING_SECRET")}), "app_keys[0].name"},
		{"bad key host", edit(t, "keys", []any{key("A", "https://x.com")}), "keys[0].hosts[0]"},
		{"wildcard tld", edit(t, "keys", []any{key("A", "*.com")}), "keys[0].hosts[0]"},
		{"long description", edit(t, "keys", []any{map[string]any{"name": "A", "description": strings.Repeat("d", 4097)}}), "keys[0].description"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeManifest(tc.data)
			var ve *ValidationError
			if !errors.As(err, &ve) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want a ValidationError", err)
			}
			if ve.Field != tc.field {
				t.Fatalf("field = %q (%v), want %q", ve.Field, err, tc.field)
			}
		})
	}
}

func TestValidateManifestAcceptsEdges(t *testing.T) {
	for _, up := range []string{"https://pkg.internal:8443/base/path", "http://[::1]:9001", "HTTP://h"} {
		m := testManifest("@a/b", "b")
		m.Upstream = up
		if err := ValidateManifest(&m); err != nil {
			t.Errorf("upstream %q: %v", up, err)
		}
	}
	m := testManifest("@a-1/b.c_d~e", "b")
	m.Keys[0].Description = strings.Repeat("d", 4096)
	if err := ValidateManifest(&m); err != nil {
		t.Fatal(err)
	}
}

func TestUpstreamAddrClass(t *testing.T) {
	for ip, want := range map[string]string{
		"169.254.169.254": UpstreamMetadata, "::ffff:169.254.169.254": UpstreamMetadata, "fe80::1": UpstreamMetadata,
		"0.0.0.0": UpstreamMetadata, "::": UpstreamMetadata, "224.0.0.1": UpstreamMetadata, "100.100.100.200": UpstreamMetadata,
		"127.0.0.1": UpstreamLoopback, "127.8.9.10": UpstreamLoopback, "::1": UpstreamLoopback,
		"10.1.2.3": UpstreamPrivate, "172.16.0.1": UpstreamPrivate, "192.168.1.1": UpstreamPrivate, "fd12::1": UpstreamPrivate, "100.64.0.1": UpstreamPrivate,
		"93.184.216.34": UpstreamPublic, "2606:4700::1111": UpstreamPublic, "172.32.0.1": UpstreamPublic,
		// IPv6 forms that carry an IPv4 address, which a NAT64 gateway,
		// a 6to4 relay or the host itself may route to: classed as it.
		"64:ff9b::a9fe:a9fe": UpstreamMetadata, "64:ff9b::7f00:1": UpstreamLoopback, "64:ff9b::a00:1": UpstreamPrivate,
		"64:ff9b::5db8:d822": UpstreamPublic, "64:ff9b:1::1": UpstreamPrivate,
		"::a9fe:a9fe": UpstreamMetadata, "::7f00:1": UpstreamLoopback, "::a00:1": UpstreamPrivate,
		"2002:a9fe:a9fe::1": UpstreamMetadata, "2002:7f00:1::1": UpstreamLoopback, "2002:c0a8:101::1": UpstreamPrivate,
		"2002:5db8:d822::1": UpstreamPublic, "fec0::1": UpstreamPrivate,
	} {
		if got := UpstreamAddrClass(netip.MustParseAddr(ip)); got != want {
			t.Errorf("%s: %s, want %s", ip, got, want)
		}
	}
}
