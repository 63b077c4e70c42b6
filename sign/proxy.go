package sign

import (
	"net/http"
	"slices"
	"time"
)

// Onward says how a verified request goes on: the Host it is sent with
// ("" keeps the client's) and the headers taken out of it and out of the
// new signature (ones the forwarder sets itself, such as Accept-Encoding).
type Onward struct {
	Host string
	Drop []string // lowercase
}

// VerifyAndResign is the proxy site's step for a request the client
// signed with placeholder credentials, sg being its parsed signature
// (whose access key id named the placeholder): the signature must verify
// with the placeholder secret (its time within MaxSkew, a presigned URL
// unexpired); req is then re-signed in place with actual for s, keeping
// the client's payload hash, signed headers and time. An aws-chunked
// body is verified against the client's chain and re-signed chunk by
// chunk as it is read, and its reader fails at the first chunk that
// breaks the chain. req must be as the client sent it (same method,
// Host, path and query). A header-signed request to a service other than
// S3 carries no payload hash: the caller sets sg.PayloadHash (the body's
// hex SHA-256) for it first.
func (sg *Signed) VerifyAndResign(req *http.Request, secret string, actual Credentials, s *SigV4, on Onward, now time.Time) error {
	if err := sg.Verify(req, secret, now); err != nil {
		return err
	}
	for _, h := range on.Drop {
		if i := slices.Index(sg.SignedHeaders, h); i >= 0 {
			sg.SignedHeaders = slices.Delete(slices.Clone(sg.SignedHeaders), i, i+1)
		}
		delete(req.Header, http.CanonicalHeaderKey(h))
	}
	if on.Host != "" {
		req.Host = on.Host
	}
	return s.Resign(req, sg, actual, secret)
}
