package store

import (
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
		{`{"name": "AWS", "placement": {}}`, "keys[1].placement"},
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
	}
}
