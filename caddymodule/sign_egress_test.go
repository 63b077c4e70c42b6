package caddymodule_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/sign"
)

const awsValue = `{"access_key_id":"AKIDREALKEY","secret_access_key":"real-secret-access-key","session_token":"real-session-token"}`

// sigv4Gateway is a gateway whose /api/* route signs for service (s3,
// say) in us-east-1, with API_KEY set as AWS credentials, and the
// invocation token a package would get.
func sigv4Gateway(t *testing.T, service string) (*gateway, string) {
	g := startGateway(t, gatewayOptions{egressCfg: "sigv4 {\n\t\t\t\t\tservice " + service + "\n\t\t\t\t\tregion us-east-1\n\t\t\t\t}"})
	s := g.standardSetup()
	g.agent("tools", s.token, nil)
	inv := strings.TrimPrefix(g.pkgUpstream.last(t).Header.Get("Authorization"), "Bearer ")
	// A plain value on a sigv4 route is refused before anything is sent.
	if st, hdr, b := g.egressCall("/api/bucket/key", inv, nil); st != 403 || problem(t, hdr, b)["reason"] != "wrong_secret_kind" {
		t.Fatalf("plain secret on a sigv4 route: %d %s", st, b)
	}
	if n := g.upstream.count(); n != 0 {
		t.Fatalf("%d requests reached the upstream", n)
	}
	g.mustAdmin(204, "PUT", "/v1/keychains/"+s.kc+"/secrets/API_KEY", map[string]any{"value": awsValue, "kind": "aws"})
	return g, inv
}

// verifyReal checks the upstream's last request was signed with the real
// key: the key id, the signature, the session token.
func verifyReal(t *testing.T, g *gateway) (*http.Request, *sign.Signed) {
	t.Helper()
	r := g.upstream.last(t)
	sg, err := sign.ParseSigned(r)
	if err != nil {
		t.Fatal(err)
	}
	if sg.AccessKeyID != "AKIDREALKEY" || r.Header.Get("X-Amz-Security-Token") != "real-session-token" {
		t.Fatalf("signed as %q", sg.AccessKeyID)
	}
	if err := sg.Verify(r, "real-secret-access-key", time.Now()); err != nil {
		t.Fatalf("the upstream's request does not verify with the real key: %v", err)
	}
	return r, sg
}

func TestEgressSigV4(t *testing.T) {
	g, inv := sigv4Gateway(t, "s3")
	client := sign.Credentials{AccessKeyID: inv, SecretAccessKey: "anything"}
	// The egress site's own signer: the client signs for keygate's host.
	s, err := sign.NewSigV4("s3", "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	send := func(r *http.Request) (int, []byte) {
		t.Helper()
		res, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, b
	}

	t.Run("header signed by the client", func(t *testing.T) {
		body := "hello"
		sum := sha256.Sum256([]byte(body))
		r, _ := http.NewRequest("PUT", g.egress+"/api/bucket/key.txt", strings.NewReader(body))
		r.Header.Set("Content-Type", "text/plain")
		if err := s.Sign(r, client, hex.EncodeToString(sum[:]), time.Now()); err != nil {
			t.Fatal(err)
		}
		if st, b := send(r); st != 200 {
			t.Fatalf("%d %s", st, b)
		}
		up, sg := verifyReal(t, g)
		if sg.PayloadHash != hex.EncodeToString(sum[:]) || !strings.Contains(strings.Join(sg.SignedHeaders, ";"), "content-type") {
			t.Fatalf("payload hash or signed headers not the client's: %v", sg.SignedHeaders)
		}
		if b, _ := io.ReadAll(up.Body); string(b) != body {
			t.Fatalf("body %q", b)
		}
	})

	t.Run("the caller's Host and session token are not signed for", func(t *testing.T) {
		r, _ := http.NewRequest("GET", g.egress+"/api/bucket/key.txt", nil)
		r.Host = "evil.example.com"
		r.Header.Set("X-Amz-Security-Token", "caller-token")
		if err := s.Sign(r, client, sign.EmptyPayload, time.Now()); err != nil {
			t.Fatal(err)
		}
		if st, b := send(r); st != 200 {
			t.Fatalf("%d %s", st, b)
		}
		up, _ := verifyReal(t, g)
		if up.Host != strings.TrimPrefix(g.upstream.srv.URL, "http://") {
			t.Fatalf("signed for host %q", up.Host)
		}
	})

	t.Run("unsigned request", func(t *testing.T) {
		if st, _, b := g.egressCall("/api/bucket/other", inv, nil); st != 200 {
			t.Fatalf("%d %s", st, b)
		}
		if _, sg := verifyReal(t, g); sg.PayloadHash != sign.UnsignedPayload {
			t.Fatalf("payload hash %q", sg.PayloadHash)
		}
	})

	t.Run("aws-chunked upload re-signed", func(t *testing.T) {
		data := bytes.Repeat([]byte("0123456789abcdef"), 9000) // 144000 bytes: three chunks
		r, _ := http.NewRequest("PUT", g.egress+"/api/bucket/big", nil)
		r.Header.Set("Content-Encoding", "aws-chunked")
		r.Header.Set("X-Amz-Decoded-Content-Length", "144000")
		r.ContentLength = sign.ChunkedLength(int64(len(data)), 65536)
		now := time.Now()
		if err := s.Sign(r, client, sign.StreamingPayload, now); err != nil {
			t.Fatal(err)
		}
		sg, _ := sign.ParseSigned(r)
		chain := sign.NewChain(client.SecretAccessKey, now, "us-east-1", "s3", sg.Signature)
		r.Body = sign.NewChunkResigner(io.NopCloser(sign.FrameChunked(bytes.NewReader(data), 65536)), nil, chain, false, -1)
		if st, b := send(r); st != 200 {
			t.Fatalf("%d %s", st, b)
		}
		up, usg := verifyReal(t, g)
		body, _ := io.ReadAll(up.Body)
		in := sign.NewChain("real-secret-access-key", usg.Time, "us-east-1", "s3", usg.Signature)
		decoded := new(bytes.Buffer)
		check := sign.NewChunkResigner(io.NopCloser(bytes.NewReader(body)), in, sign.NewChain("x", now, "us-east-1", "s3", usg.Signature), false, 144000)
		if _, err := io.Copy(decoded, check); err != nil {
			t.Fatalf("the upstream's chunk chain does not verify with the real key: %v", err)
		}
		if !bytes.Contains(decoded.Bytes(), data[:65536]) {
			t.Fatal("data changed")
		}
	})

	t.Run("presigned GET", func(t *testing.T) {
		r, _ := http.NewRequest("GET", g.egress+"/api/bucket/key.txt", nil)
		if err := s.Presign(r, client, time.Hour, nil, time.Now()); err != nil {
			t.Fatal(err)
		}
		if st, b := send(r); st != 200 {
			t.Fatalf("%d %s", st, b)
		}
		up := g.upstream.last(t)
		sg, err := sign.ParseSigned(up)
		if err != nil || !sg.Presigned || sg.AccessKeyID != "AKIDREALKEY" {
			t.Fatalf("%v %v", sg, err)
		}
		if err := sg.Verify(up, "real-secret-access-key", time.Now()); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("clock skew refused", func(t *testing.T) {
		before := g.upstream.count()
		r, _ := http.NewRequest("GET", g.egress+"/api/bucket/key.txt", nil)
		if err := s.Sign(r, client, sign.EmptyPayload, time.Now().Add(-16*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if st, b := send(r); st != 403 || !strings.Contains(string(b), "request_time_skewed") {
			t.Fatalf("%d %s", st, b)
		}
		expired, _ := http.NewRequest("GET", g.egress+"/api/bucket/key.txt", nil)
		if err := s.Presign(expired, client, time.Hour, nil, time.Now().Add(-2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if st, b := send(expired); st != 403 || !strings.Contains(string(b), "presign_expired") {
			t.Fatalf("%d %s", st, b)
		}
		if g.upstream.count() != before {
			t.Fatal("a skewed or expired request reached the upstream")
		}
	})

	t.Run("malformed signature refused", func(t *testing.T) {
		r, _ := http.NewRequest("GET", g.egress+"/api/bucket/key.txt", nil)
		r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+inv+"/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=zz")
		r.Header.Set("X-Amz-Date", "20260101T000000Z")
		if st, b := send(r); st != 401 && st != 400 {
			t.Fatalf("%d %s", st, b)
		}
	})

	// Neither the real key id, secret and session token nor the token
	// (a presigned URL carried it in its query) are logged. The route's
	// strip_prefix prints the request at DEBUG before keygate sees it (as
	// for token_header routes, a route must not rewrite before keygate):
	// its lines are left out.
	var logs strings.Builder
	for line := range strings.SplitSeq(g.logs(), "\n") {
		if !strings.Contains(line, `"logger":"http.handlers.rewrite"`) {
			logs.WriteString(line + "\n")
		}
	}
	if !strings.Contains(logs.String(), `X-Amz-Credential=REDACTED`) {
		t.Error("no access line with the presigned URL's credential redacted")
	}
	for _, v := range []string{"AKIDREALKEY", "real-secret-access-key", "real-session-token", inv} {
		if strings.Contains(logs.String(), v) {
			t.Errorf("the log holds %s", v)
		}
	}
}

func TestEgressHMAC(t *testing.T) {
	cfg := "hmac {\n\t\t\t\t\tmessage \"{timestamp}{method}{path}?{query}{body}\"\n\t\t\t\t\theader X-Signature\n\t\t\t\t\tencoding base64\n\t\t\t\t\ttimestamp_header X-Timestamp\n\t\t\t\t}"
	g := startGateway(t, gatewayOptions{egressCfg: cfg})
	s := g.standardSetup()
	g.agent("tools", s.token, nil)
	inv := strings.TrimPrefix(g.pkgUpstream.last(t).Header.Get("Authorization"), "Bearer ")
	if st, _, b := g.egressCall("/api/v1/orders?a=1", inv, nil); st != 200 {
		t.Fatalf("%d %s", st, b)
	}
	r := g.upstream.last(t)
	h := sign.HMAC{Message: "{timestamp}{method}{path}?{query}{body}", Header: "X-Signature", Encoding: "base64", TimestampHeader: "X-Timestamp"}
	if err := h.Prepare(); err != nil {
		t.Fatal(err)
	}
	secs, err := strconv.ParseInt(r.Header.Get("X-Timestamp"), 10, 64)
	if err != nil || time.Since(time.Unix(secs, 0)) > time.Minute {
		t.Fatalf("timestamp %q", r.Header.Get("X-Timestamp"))
	}
	when := time.Unix(secs, 0)
	body, _ := io.ReadAll(r.Body)
	want, _ := h.Sign([]byte(s.secret), sign.HMACRequest{Method: "POST", Path: "/v1/orders", Query: "a=1", Body: body, Time: when})
	if got := r.Header.Get("X-Signature"); got != want || string(body) != `{"amount":1}` {
		t.Fatalf("signature %q, want %q (body %q)", got, want, body)
	}
	if r.Header.Get("Authorization") != "" || strings.Contains(r.URL.RawQuery, s.secret) {
		t.Fatal("the token or the secret went upstream")
	}
}

// Binance's form: the signature appended to the query the message was
// made over, a caller's own "signature" dropped first.
func TestEgressHMACQuery(t *testing.T) {
	g := startGateway(t, gatewayOptions{egressCfg: "hmac {\n\t\t\t\t\tmessage \"{query}{body}\"\n\t\t\t\t\tquery signature\n\t\t\t\t}"})
	s := g.standardSetup()
	g.agent("tools", s.token, nil)
	inv := strings.TrimPrefix(g.pkgUpstream.last(t).Header.Get("Authorization"), "Bearer ")
	if st, _, b := g.egressCall("/api/v3/order?symbol=LTCBTC&signature=forged&timestamp=1", inv, nil); st != 200 {
		t.Fatalf("%d %s", st, b)
	}
	r := g.upstream.last(t)
	h := sign.HMAC{Message: "{query}{body}", Query: "signature"}
	if err := h.Prepare(); err != nil {
		t.Fatal(err)
	}
	want, _ := h.Sign([]byte(s.secret), sign.HMACRequest{Query: "symbol=LTCBTC&timestamp=1", Body: []byte(`{"amount":1}`)})
	if r.URL.RawQuery != "symbol=LTCBTC&timestamp=1&signature="+want {
		t.Fatalf("query %q", r.URL.RawQuery)
	}
}

// A service other than S3 takes no UNSIGNED-PAYLOAD: an unsigned body is
// hashed, and the path escaped once more.
func TestEgressSigV4OtherService(t *testing.T) {
	g, inv := sigv4Gateway(t, "sts")
	if st, _, b := g.egressCall("/api/a%20b/", inv, nil); st != 200 {
		t.Fatalf("%d %s", st, b)
	}
	r := g.upstream.last(t)
	sg, err := sign.ParseSigned(r)
	if err != nil || sg.Service != "sts" {
		t.Fatalf("%v %v", sg, err)
	}
	body, _ := io.ReadAll(r.Body)
	sum := sha256.Sum256(body)
	sg.PayloadHash = hex.EncodeToString(sum[:])
	if err := sg.Verify(r, "real-secret-access-key", time.Now()); err != nil || string(body) != `{"amount":1}` {
		t.Fatalf("%v (body %q)", err, body)
	}
}
