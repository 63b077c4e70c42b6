package sign

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// Resign signs req anew with c, keeping what the client signed: its
// payload hash, its signed headers (plus the session token of c) and,
// for a presigned URL, its validity window. An aws-chunked body with a
// signature chain is re-signed chunk by chunk as it is read; with
// clientSecret set, each incoming chunk is first verified against the
// client's chain, and the body's reader fails at the first that breaks
// it. The caller has checked CheckTime (or Verify) already.
func (s *SigV4) Resign(req *http.Request, sg *Signed, c Credentials, clientSecret string) error {
	if sg.Presigned {
		return s.Presign(req, c, sg.Expires, sg.SignedHeaders, sg.Time)
	}
	if sg.PayloadHash == "" {
		return fmt.Errorf("no payload hash to sign with: %w", ErrMalformed)
	}
	// The new signature keeps the client's time (within MaxSkew of now,
	// which the caller checked): with its signed headers and payload hash
	// that leaves the canonical request as it was, and Verify's hash of
	// it stands. Only a session token, added or taken away, or another
	// host changes it.
	signed := sg.SignedHeaders
	same := sg.canonHost != "" && sg.canonHost == hostOf(req)
	switch has := slices.Contains(signed, "x-amz-security-token"); {
	case c.SessionToken != "":
		req.Header["X-Amz-Security-Token"] = []string{c.SessionToken}
		if !has {
			signed = slices.Insert(slices.Clone(signed), tokenIndex(signed), "x-amz-security-token")
		}
		same = false
	case has:
		delete(req.Header, "X-Amz-Security-Token")
		signed = slices.DeleteFunc(slices.Clone(signed), func(h string) bool { return h == "x-amz-security-token" })
		same = false
	}
	canon := sg.canon
	if !same {
		canonicalHash(&canon, req, hostOf(req), signed, sg.PayloadHash, s.single)
	}
	key := cachedSigningKey(c.SecretAccessKey, sg.amzDate[:8], s.region, s.service)
	sig := signCanonical(key, sg.amzDate, &canon)
	req.Header["Authorization"] = []string{authorization(c.AccessKeyID, key, signed, sig[:])}
	if !sg.Streaming() {
		return nil
	}
	out := NewChain(c.SecretAccessKey, sg.Time, s.region, s.service, string(sig[:]))
	var in *Chain
	if clientSecret != "" {
		in = NewChain(clientSecret, sg.Time, sg.Region, sg.Service, sg.Signature)
	}
	decoded := int64(-1)
	if v := req.Header.Get("X-Amz-Decoded-Content-Length"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("x-amz-decoded-content-length is not a length: %w", ErrMalformed)
		}
		decoded = n
	}
	req.Body = NewChunkResigner(req.Body, in, out, sg.PayloadHash == StreamingPayloadTrailer, decoded)
	return nil
}

// tokenIndex is where x-amz-security-token goes in a sorted header list.
func tokenIndex(signed []string) int {
	i, _ := slices.BinarySearch(signed, "x-amz-security-token")
	return i
}

// authorization is the Authorization value of a signature.
func authorization(keyID string, key *signingKeyEntry, signed []string, sig []byte) string {
	n := len(algorithm) + len(keyID) + len(key.date) + len(key.region) + len(key.service) + len(sig) + 64
	for _, h := range signed {
		n += len(h) + 1
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString(algorithm + " Credential=")
	b.WriteString(keyID)
	b.WriteByte('/')
	b.Write(appendScope(make([]byte, 0, 64), key.date, key.region, key.service))
	b.WriteString(", SignedHeaders=")
	for i, h := range signed {
		if i > 0 {
			b.WriteByte(';')
		}
		b.WriteString(h)
	}
	b.WriteString(", Signature=")
	b.Write(sig)
	return b.String()
}
