package sign

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// The example credentials and time of AWS's S3 SigV4 documentation
// (docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html,
// sigv4-query-string-auth.html, sigv4-streaming.html).
var (
	exampleCreds = Credentials{AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}
	exampleTime  = time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)
)

func mustSigV4(t testing.TB, service, region string) *SigV4 {
	t.Helper()
	s, err := NewSigV4(service, region)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newReq(t testing.TB, method, rawURL string) *http.Request {
	t.Helper()
	r, err := http.NewRequest(method, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// AWS's "GET Object" example.
func TestSignHeaderExample(t *testing.T) {
	r := newReq(t, "GET", "https://examplebucket.s3.amazonaws.com/test.txt")
	r.Header.Set("Range", "bytes=0-9")
	if err := mustSigV4(t, "s3", "us-east-1").Sign(r, exampleCreds, EmptyPayload, exampleTime); err != nil {
		t.Fatal(err)
	}
	want := "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
	if got := r.Header.Get("Authorization"); got != want {
		t.Fatalf("Authorization:\n got %s\nwant %s", got, want)
	}
	sg, err := ParseSigned(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := sg.Verify(r, exampleCreds.SecretAccessKey, exampleTime.Add(time.Minute)); err != nil {
		t.Fatalf("verify: %v", err)
	}
	if err := sg.Verify(r, "wrong", exampleTime); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("wrong secret: %v", err)
	}
	r.Header.Set("Range", "bytes=0-10")
	if err := sg.Verify(r, exampleCreds.SecretAccessKey, exampleTime); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("changed signed header: %v", err)
	}
}

// streamingRequest is the request of AWS's chunked upload example.
func streamingRequest(t testing.TB, payloadHash string) *http.Request {
	r := newReq(t, "PUT", "https://s3.amazonaws.com/examplebucket/chunkObject.txt")
	r.Header.Set("X-Amz-Storage-Class", "REDUCED_REDUNDANCY")
	r.Header.Set("Content-Encoding", "aws-chunked")
	r.Header.Set("X-Amz-Decoded-Content-Length", "66560")
	r.ContentLength = 66824
	return r
}

func TestSignStreamingSeedExample(t *testing.T) {
	r := streamingRequest(t, StreamingPayload)
	if err := mustSigV4(t, "s3", "us-east-1").Sign(r, exampleCreds, StreamingPayload, exampleTime); err != nil {
		t.Fatal(err)
	}
	want := "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class, Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
	if got := r.Header.Get("Authorization"); got != want {
		t.Fatalf("Authorization:\n got %s\nwant %s", got, want)
	}
}

// A client's signature is kept to its own signed headers: a header added
// on the way (as a proxy adds X-Forwarded-For) is neither verified nor
// signed.
func TestVerifyAndResignKeepSignedHeaders(t *testing.T) {
	placeholder := Credentials{AccessKeyID: "AKIDPLACEHOLDER", SecretAccessKey: "placeholder-secret"}
	actual := Credentials{AccessKeyID: "AKIDREAL", SecretAccessKey: "actual-secret", SessionToken: "session-token"}
	s := mustSigV4(t, "s3", "us-east-1")
	now := time.Now()
	r := newReq(t, "PUT", "http://127.0.0.1:9000/bucket/a%20b/key.txt?x-id=PutObject")
	r.Header.Set("Content-Type", "text/plain")
	r.ContentLength = 5
	if err := s.Sign(r, placeholder, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", now); err != nil {
		t.Fatal(err)
	}
	r.Header.Set("X-Forwarded-For", "10.0.0.1")
	sg, err := ParseSigned(r)
	if err != nil {
		t.Fatal(err)
	}
	if sg.AccessKeyID != placeholder.AccessKeyID || sg.Service != "s3" || sg.Region != "us-east-1" {
		t.Fatalf("parsed %+v", *sg)
	}
	if err := sg.Verify(r, placeholder.SecretAccessKey, now); err != nil {
		t.Fatalf("verify: %v", err)
	}
	if err := s.Resign(r, sg, actual, ""); err != nil {
		t.Fatal(err)
	}
	again, err := ParseSigned(r)
	if err != nil {
		t.Fatal(err)
	}
	if again.AccessKeyID != "AKIDREAL" || strings.Join(again.SignedHeaders, ";") != "content-length;content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token" {
		t.Fatalf("re-signed %s with %v", again.AccessKeyID, again.SignedHeaders)
	}
	if again.PayloadHash != sg.PayloadHash || r.Header.Get("X-Amz-Security-Token") != "session-token" {
		t.Fatal("payload hash or session token not as expected")
	}
	if err := again.Verify(r, actual.SecretAccessKey, now); err != nil {
		t.Fatalf("re-signed request does not verify: %v", err)
	}
	if err := again.Verify(r, placeholder.SecretAccessKey, now); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("re-signed request verifies with the placeholder: %v", err)
	}
}

// S3 signs the path as sent; other services escape it once more. Both
// round-trip, and they differ for a path with an escape in it.
func TestPathEncoding(t *testing.T) {
	now := time.Now()
	sigs := map[string]string{}
	for _, svc := range []string{"s3", "execute-api"} {
		r := newReq(t, "GET", "https://example.com/a%20b/c%2Fd")
		if err := mustSigV4(t, svc, "eu-west-1").Sign(r, exampleCreds, EmptyPayload, now); err != nil {
			t.Fatal(err)
		}
		sg, err := ParseSigned(r)
		if err != nil {
			t.Fatal(err)
		}
		sg.PayloadHash = EmptyPayload
		if err := sg.Verify(r, exampleCreds.SecretAccessKey, now); err != nil {
			t.Fatalf("%s: %v", svc, err)
		}
		sigs[svc] = sg.Signature
	}
	if !SingleEncoded("s3") || SingleEncoded("execute-api") {
		t.Fatal("SingleEncoded")
	}
	if sigs["s3"] == sigs["execute-api"] {
		t.Fatal("the two encodings signed alike")
	}
}

// AWS's presigned URL example.
func TestPresignExample(t *testing.T) {
	r := newReq(t, "GET", "https://examplebucket.s3.amazonaws.com/test.txt")
	if err := mustSigV4(t, "s3", "us-east-1").Presign(r, exampleCreds, 24*time.Hour, nil, exampleTime); err != nil {
		t.Fatal(err)
	}
	q := r.URL.Query()
	if got, want := q.Get("X-Amz-Signature"), "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"; got != want {
		t.Fatalf("signature %s, want %s", got, want)
	}
	sg, err := ParseSigned(r)
	if err != nil {
		t.Fatal(err)
	}
	if !sg.Presigned || sg.Expires != 24*time.Hour {
		t.Fatalf("parsed %+v", *sg)
	}
	if err := sg.Verify(r, exampleCreds.SecretAccessKey, exampleTime.Add(time.Hour)); err != nil {
		t.Fatalf("verify: %v", err)
	}
	if err := sg.Verify(r, exampleCreds.SecretAccessKey, exampleTime.Add(25*time.Hour)); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired: %v", err)
	}
	if err := sg.Verify(r, exampleCreds.SecretAccessKey, exampleTime.Add(-16*time.Minute)); !errors.Is(err, ErrSkewed) {
		t.Fatalf("from the future: %v", err)
	}
	// Re-presigned with other credentials, the window stays the client's.
	other := Credentials{AccessKeyID: "AKIDOTHER", SecretAccessKey: "other"}
	if err := mustSigV4(t, "s3", "us-east-1").Resign(r, sg, other, ""); err != nil {
		t.Fatal(err)
	}
	again, err := ParseSigned(r)
	if err != nil {
		t.Fatal(err)
	}
	if again.AccessKeyID != "AKIDOTHER" || !again.Time.Equal(exampleTime) || again.Expires != 24*time.Hour {
		t.Fatalf("re-presigned %+v", *again)
	}
	if err := again.Verify(r, "other", exampleTime.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
}

func TestClockSkew(t *testing.T) {
	r := newReq(t, "GET", "https://examplebucket.s3.amazonaws.com/test.txt")
	if err := mustSigV4(t, "s3", "us-east-1").Sign(r, exampleCreds, EmptyPayload, exampleTime); err != nil {
		t.Fatal(err)
	}
	sg, err := ParseSigned(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []time.Duration{-15 * time.Minute, 15 * time.Minute} {
		if err := sg.CheckTime(exampleTime.Add(d)); err != nil {
			t.Fatalf("%v: %v", d, err)
		}
	}
	for _, d := range []time.Duration{-15*time.Minute - time.Second, 15*time.Minute + time.Second} {
		if err := sg.Verify(r, exampleCreds.SecretAccessKey, exampleTime.Add(d)); !errors.Is(err, ErrSkewed) {
			t.Fatalf("%v: %v", d, err)
		}
	}
}

func TestParseSignedRefusals(t *testing.T) {
	good := "AWS4-HMAC-SHA256 Credential=AKID/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + strings.Repeat("a", 64)
	cases := map[string]struct{ auth, date, query string }{
		"no date":             {auth: good},
		"bad date":            {auth: good, date: "2013-05-24"},
		"date not credential": {auth: good, date: "20130525T000000Z"},
		"short credential":    {auth: strings.Replace(good, "AKID/", "", 1), date: "20130524T000000Z"},
		"no key id":           {auth: strings.Replace(good, "AKID/", "/", 1), date: "20130524T000000Z"},
		"bad terminator":      {auth: strings.Replace(good, "aws4_request", "aws5_request", 1), date: "20130524T000000Z"},
		"upper signature":     {auth: strings.Replace(good, strings.Repeat("a", 64), strings.Repeat("A", 64), 1), date: "20130524T000000Z"},
		"short signature":     {auth: strings.Replace(good, strings.Repeat("a", 64), "abc", 1), date: "20130524T000000Z"},
		"no host":             {auth: strings.Replace(good, "host;", "", 1), date: "20130524T000000Z"},
		"upper header":        {auth: strings.Replace(good, "host;", "host;X-Foo;", 1), date: "20130524T000000Z"},
		"unknown part":        {auth: good + ", Extra=1", date: "20130524T000000Z"},
		"bad region":          {auth: strings.Replace(good, "us-east-1", "US_EAST", 1), date: "20130524T000000Z"},
		"both":                {auth: good, date: "20130524T000000Z", query: "X-Amz-Signature=" + strings.Repeat("a", 64)},
		"sigv2":               {auth: "AWS AKID:abc"},
		"query expires":       {query: "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=604801&X-Amz-SignedHeaders=host&X-Amz-Signature=" + strings.Repeat("a", 64)},
		"query twice":         {query: "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Algorithm=AWS4-HMAC-SHA256"},
	}
	for name, c := range cases {
		r := newReq(t, "GET", "https://example.com/?"+c.query)
		if c.auth != "" {
			r.Header.Set("Authorization", c.auth)
		}
		if c.date != "" {
			r.Header.Set("X-Amz-Date", c.date)
		}
		if _, err := ParseSigned(r); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := ParseSigned(newReq(t, "GET", "https://example.com/")); !errors.Is(err, ErrNotSigned) {
		t.Fatalf("unsigned: %v", err)
	}
	r := newReq(t, "GET", "https://example.com/")
	r.Header.Set("Authorization", good)
	r.Header.Set("X-Amz-Date", "20130524T000000Z")
	sg, err := ParseSigned(r)
	if err != nil {
		t.Fatal(err)
	}
	if s := (&url.URL{}).String() + sg.String(); strings.Contains(s, "AKID") {
		t.Fatal("String shows the key id")
	}
}
