package sign

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The client's request is AWS's chunked upload example, signed with the
// example key as the placeholder pair; keygate verifies it, chain
// included, and re-signs it with the actual key.
func TestVerifyAndResignChunkedExample(t *testing.T) {
	actual := Credentials{AccessKeyID: "AKIDREAL", SecretAccessKey: "actual-secret"}
	s := mustSigV4(t, "s3", "us-east-1")
	now := exampleTime.Add(time.Minute)
	req := func(body string) *http.Request {
		r := streamingRequest(t, StreamingPayload)
		r.Header.Set("X-Amz-Date", "20130524T000000Z")
		r.Header.Set("X-Amz-Content-Sha256", StreamingPayload)
		r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,Signature="+exampleSeed)
		r.Body = io.NopCloser(strings.NewReader(body))
		return r
	}
	r := req(exampleChunkedBody())
	if err := verifyAndResign(r, exampleCreds.SecretAccessKey, actual, s, now); err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(r.Body)
	if err != nil || len(out) != len(exampleChunkedBody()) {
		t.Fatalf("%d bytes, %v", len(out), err)
	}
	sg, err := ParseSigned(r)
	if err != nil || sg.AccessKeyID != "AKIDREAL" {
		t.Fatalf("%v %v", sg, err)
	}
	if err := sg.Verify(r, "actual-secret", now); err != nil {
		t.Fatal(err)
	}
	in := NewChain("actual-secret", sg.Time, "us-east-1", "s3", sg.Signature)
	if _, err := io.ReadAll(NewChunkResigner(io.NopCloser(bytes.NewReader(out)), in, exampleChain(exampleSeed), false, 66560)); err != nil {
		t.Fatalf("the re-signed chain does not verify with the actual key: %v", err)
	}

	// A chunk that breaks the client's chain fails the body mid-stream.
	broken := []byte(exampleChunkedBody())
	broken[len(broken)-300] = 'b'
	r = req(string(broken))
	if err := verifyAndResign(r, exampleCreds.SecretAccessKey, actual, s, now); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(r.Body); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("broken chain: %v", err)
	}

	// The wrong placeholder secret, a skewed clock.
	if err := verifyAndResign(req(""), "wrong", actual, s, now); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("wrong secret: %v", err)
	}
	if err := verifyAndResign(req(""), exampleCreds.SecretAccessKey, actual, s, exampleTime.Add(16*time.Minute)); !errors.Is(err, ErrSkewed) {
		t.Fatalf("skew: %v", err)
	}
}

func verifyAndResign(r *http.Request, secret string, actual Credentials, s *SigV4, now time.Time) error {
	sg, err := ParseSigned(r)
	if err != nil {
		return err
	}
	return sg.VerifyAndResign(r, secret, actual, s, Onward{}, now)
}

// Onward: the Host the request goes on with and the headers dropped are
// what the new signature covers; it verifies with the real key.
func TestVerifyAndResignOnward(t *testing.T) {
	s := mustSigV4(t, "s3", "us-east-1")
	now := time.Now()
	r := newReq(t, "GET", "https://bucket.example:443/key.txt")
	r.Header.Set("Accept-Encoding", "br")
	if err := s.Sign(r, exampleCreds, EmptyPayload, now); err != nil {
		t.Fatal(err)
	}
	sg, err := ParseSigned(r)
	if err != nil || !strings.Contains(strings.Join(sg.SignedHeaders, ";"), "accept-encoding") {
		t.Fatalf("%v %v", sg, err)
	}
	actual := Credentials{AccessKeyID: "AKIDREAL", SecretAccessKey: "actual-secret"}
	if err := sg.VerifyAndResign(r, exampleCreds.SecretAccessKey, actual, s, Onward{Host: "upstream.example:8443", Drop: []string{"accept-encoding"}}, now); err != nil {
		t.Fatal(err)
	}
	again, err := ParseSigned(r)
	if err != nil || r.Host != "upstream.example:8443" || r.Header.Get("Accept-Encoding") != "" || strings.Contains(strings.Join(again.SignedHeaders, ";"), "accept-encoding") {
		t.Fatalf("host %s, %v, %v", r.Host, again.SignedHeaders, err)
	}
	if err := again.Verify(r, actual.SecretAccessKey, now); err != nil {
		t.Fatal(err)
	}
}
