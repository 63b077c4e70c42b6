package sign

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func FuzzParseSigned(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKID/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature="+strings.Repeat("a", 64), "20130524T000000Z", "")
	f.Add("", "", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature="+strings.Repeat("b", 64))
	f.Add("AWS4-HMAC-SHA256 Credential=/////, SignedHeaders=;;, Signature=", "x", "a=%zz")
	f.Fuzz(func(t *testing.T, auth, date, query string) {
		r, err := http.NewRequest("GET", "https://example.com/", nil)
		if err != nil {
			t.Skip()
		}
		r.URL.RawQuery = query
		r.Header.Set("Authorization", auth)
		r.Header.Set("X-Amz-Date", date)
		sg, err := ParseSigned(r)
		if err != nil {
			return
		}
		if sg.AccessKeyID == "" || len(sg.Signature) != 64 || sg.Region == "" || sg.Service == "" {
			t.Fatalf("accepted %+v", *sg)
		}
		_ = sg.Verify(r, "secret", sg.Time)
	})
}

func FuzzChunkResigner(f *testing.F) {
	f.Add([]byte(exampleChunkedBody()[:200]), false)
	f.Add([]byte("5;chunk-signature="+strings.Repeat("a", 64)+"\r\nhello\r\n0;chunk-signature="+strings.Repeat("a", 64)+"\r\nx-amz-checksum-crc32:AAAA\r\nx-amz-trailer-signature:"+strings.Repeat("c", 64)+"\r\n\r\n"), true)
	f.Fuzz(func(t *testing.T, body []byte, trailer bool) {
		r := NewChunkResigner(io.NopCloser(bytes.NewReader(body)), nil, exampleChain(exampleSeed), trailer, -1)
		out, err := io.ReadAll(r)
		if err == nil && len(out) != len(body) {
			t.Fatalf("re-signed %d bytes into %d", len(body), len(out))
		}
	})
}

func FuzzHMACMessage(f *testing.F) {
	f.Add("{timestamp}{method}{path}?{query}{body}")
	f.Add(`{method}\n{path}{`)
	f.Fuzz(func(t *testing.T, msg string) {
		h := HMAC{Message: msg, Header: "X-Sig", TimestampHeader: "X-Ts"}
		if h.Prepare() != nil {
			return
		}
		h.Sign([]byte("k"), HMACRequest{Method: "GET", Path: "/", Query: "a=1", Body: []byte("b"), Time: time.Unix(1, 0)})
	})
}
