package sign

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// The canonical request keygate computes for a header-signed request is
// the SDK's: what the SDK signs verifies, and what keygate signs anew is
// what the SDK signs for the same request, time and key. The requests
// cover the parts where canonicalisation bites: encoded and repeated
// query values, "+", paths with spaces and escapes (S3 single-encodes,
// other services double-encode), repeated headers with runs of spaces,
// a body length, the default port.
func TestCanonicalMatchesSDK(t *testing.T) {
	actual := Credentials{AccessKeyID: "AKIDACTUAL", SecretAccessKey: "actual/secret+key"}
	for _, tc := range []struct{ service, method, url string }{
		{"s3", "GET", "https://bucket.s3.amazonaws.com/key.txt"},
		{"s3", "GET", "https://127.0.0.1:9000/bucket?list-type=2&prefix=a%20b&delimiter=%2F"},
		{"s3", "PUT", "https://127.0.0.1:9000/bucket/a%20b%2Bc/%E2%82%AC.txt?x-id=PutObject"},
		{"s3", "GET", "https://host/bucket?b=2&a=1&a=0&c=&d&e=x+y&f=%7E~"},
		{"s3", "GET", "https://host:443/bucket/key?uploads"},
		{"execute-api", "POST", "https://api.example.com/stage/a%20b/c?q=1&q=0"},
		{"sts", "POST", "https://sts.amazonaws.com/"},
		{"dynamodb", "POST", "https://dynamodb.us-east-1.amazonaws.com"},
	} {
		s := mustSigV4(t, tc.service, "us-east-1")
		r := newReq(t, tc.method, tc.url)
		r.Header.Add("X-Amz-Meta-Note", "  two   spaces  ")
		r.Header.Add("X-Amz-Meta-Note", "second")
		r.Header.Set("Content-Type", "application/octet-stream")
		if tc.method != "GET" {
			r.ContentLength = 17
		}
		if err := s.Sign(r, exampleCreds, UnsignedPayload, exampleTime); err != nil {
			t.Fatal(err)
		}
		sg, err := ParseSigned(r)
		if err != nil {
			t.Fatal(err)
		}
		if sg.PayloadHash == "" {
			sg.PayloadHash = UnsignedPayload
		}
		now := exampleTime.Add(time.Minute)
		if err := sg.Verify(r, "wrong", now); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("%s: a wrong secret verified: %v", tc.url, err)
		}
		if err := sg.Verify(r, exampleCreds.SecretAccessKey, now); err != nil {
			t.Fatalf("%s: the SDK's signature does not verify: %v", tc.url, err)
		}
		want := r.Clone(r.Context())
		if err := s.Resign(r, sg, actual, ""); err != nil {
			t.Fatal(err)
		}
		if err := s.sign(want, actual, sg.PayloadHash, sg.SignedHeaders, sg.Time); err != nil {
			t.Fatal(err)
		}
		if got, exp := r.Header.Get("Authorization"), want.Header.Get("Authorization"); got != exp {
			t.Fatalf("%s: signed anew\n%s\nthe SDK\n%s", tc.url, got, exp)
		}
		// With a session token, the token is signed too.
		tok := actual
		tok.SessionToken = "session/token"
		r2 := want.Clone(want.Context())
		sg2, _ := ParseSigned(r2)
		if sg2.PayloadHash == "" {
			sg2.PayloadHash = UnsignedPayload
		}
		if err := s.Resign(r2, sg2, tok, ""); err != nil {
			t.Fatal(err)
		}
		w2 := want.Clone(want.Context())
		w2.Header.Set("X-Amz-Security-Token", tok.SessionToken)
		if err := s.sign(w2, tok, sg2.PayloadHash, append(sg2.SignedHeaders[:len(sg2.SignedHeaders):len(sg2.SignedHeaders)], "x-amz-security-token"), sg2.Time); err != nil {
			t.Fatal(err)
		}
		if got, exp := r2.Header.Get("Authorization"), w2.Header.Get("Authorization"); got != exp || !strings.Contains(got, "x-amz-security-token") {
			t.Fatalf("%s with a token: signed anew\n%s\nthe SDK\n%s", tc.url, got, exp)
		}
	}
}
