package store

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestManifestPlacement(t *testing.T) {
	withKey := func(key string) []byte {
		return []byte(strings.Replace(goodManifest, `"hosts": ["API.stripe.com"]}`, `"hosts": ["API.stripe.com"]}, `+key, 1))
	}
	m, err := DecodeManifest(withKey(`{"name": "AWS", "required": true, "hosts": ["*.s3.amazonaws.com"], "placement": {"sigv4": {"service": "s3", "region": "eu-west-1"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	k, ok := m.Key("AWS")
	if !ok || k.Placement == nil || k.Placement.SigV4.Service != "s3" || k.Placement.SigV4.Region != "eu-west-1" {
		t.Fatalf("%+v", k)
	}
	k.Placement.SigV4.Region = "changed"
	if again, _ := m.Key("AWS"); again.Placement.SigV4.Region != "eu-west-1" {
		t.Fatal("Key shares its placement with the manifest")
	}
	for _, tc := range []struct{ key, field string }{
		{`{"name": "AWS", "placement": ["header", "cookie"]}`, "keys[1].placement"},
		{`{"name": "AWS", "placement": {"sigv4": {"region": "us-east-1"}}}`, "keys[1].placement.sigv4.service"},
		{`{"name": "AWS", "placement": {"sigv4": {"service": "S3", "region": "us-east-1"}}}`, "keys[1].placement.sigv4.service"},
		{`{"name": "AWS", "placement": {"sigv4": {"service": "s3", "region": "us east"}}}`, "keys[1].placement.sigv4.region"},
		{`{"name": "AWS", "placement": {"sigv4": {"service": "s3"}}}`, "keys[1].placement.sigv4.region"},
		{`{"name": "AWS", "placement": {"sigv4": {"service": "s3", "region": "x", "extra": 1}}}`, "manifest"},
		{`{"name": "AWS", "placement": {"hmac": {}}}`, "manifest"},
	} {
		_, err := DecodeManifest(withKey(tc.key))
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Field != tc.field {
			t.Errorf("%s: %v, want field %s", tc.key, err, tc.field)
		}
		if tc.field == "manifest" && !strings.Contains(err.Error(), "placement must be") {
			t.Errorf("%s: %v does not say what placement is", tc.key, err)
		}
	}
}

// The list form (where a placeholder may stand, for the proxy site) and
// the object form (how requests are signed) both parse and write back as
// they came.
func TestPlacementForms(t *testing.T) {
	for _, in := range []string{`["header","body"]`, `{"sigv4":{"service":"s3","region":"us-east-1"}}`} {
		var p Placement
		if err := json.Unmarshal([]byte(in), &p); err != nil {
			t.Fatal(err)
		}
		out, _ := json.Marshal(p)
		if string(out) != in {
			t.Fatalf("%s came back as %s", in, out)
		}
	}
	var p *Placement
	if p.AllowsBody() {
		t.Fatal("no placement allows the body")
	}
	if err := json.Unmarshal([]byte(`["body"]`), &p); err != nil || !p.AllowsBody() {
		t.Fatalf("%v %v", p, err)
	}
	for _, bad := range []string{`"body"`, `{"hmac":{}}`, `{"sigv4":1}`, `[1]`} {
		var q Placement
		if json.Unmarshal([]byte(bad), &q) == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
