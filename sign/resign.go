package sign

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// Resign signs req anew with c, keeping what the client signed: its
// payload hash, its signed headers (plus the session token of c) and,
// for a presigned URL, its validity window. An aws-chunked body with a
// signature chain is re-signed chunk by chunk as it is read; with
// clientSecret set, each incoming chunk is first verified against the
// client's chain, and the body's reader fails at the first that breaks
// it. The caller has checked CheckTime (or Verify) already.
func (s *SigV4) Resign(req *http.Request, sg *Signed, c Credentials, clientSecret string, now time.Time) error {
	if sg.Presigned {
		return s.Presign(req, c, sg.Expires, sg.SignedHeaders, sg.Time)
	}
	if sg.PayloadHash == "" {
		return fmt.Errorf("no payload hash to sign with: %w", ErrMalformed)
	}
	signed := sg.SignedHeaders
	if c.SessionToken != "" && !slices.Contains(signed, "x-amz-security-token") {
		signed = append(slices.Clip(signed), "x-amz-security-token")
	}
	if err := s.sign(req, c, sg.PayloadHash, signed, now); err != nil {
		return err
	}
	if !sg.Streaming() {
		return nil
	}
	seed := signatureOf(req.Header.Get("Authorization"))
	out := NewChain(c.SecretAccessKey, now, s.region, s.service, seed)
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
