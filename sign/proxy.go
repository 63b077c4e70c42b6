package sign

import (
	"fmt"
	"net/http"
	"time"
)

// ErrOtherKey: the request is signed with an access key id other than the
// placeholder's (another keychain's placeholder, or a real key).
var ErrOtherKey = fmt.Errorf("signed with another access key id: %w", ErrBadSignature)

// VerifyAndResign is the proxy site's step for a request the client
// signed with placeholder credentials: the signature must be made with
// the placeholder pair and verify (its time within MaxSkew, a presigned
// URL unexpired); req is then re-signed in place with actual for s,
// keeping the client's payload hash and signed headers. An aws-chunked
// body is verified against the client's chain and re-signed chunk by
// chunk as it is read, and its reader fails at the first chunk that
// breaks the chain. req must be as the client sent it and as it will go
// upstream (same method, Host, path and query). A header-signed request
// to a service other than S3 carries no payload hash: the caller sets
// payloadHash (the body's hex SHA-256) for it, "" otherwise. It returns
// the client's signature, for the audit.
func VerifyAndResign(req *http.Request, placeholder, actual Credentials, s *SigV4, payloadHash string, now time.Time) (*Signed, error) {
	sg, err := ParseSigned(req)
	if err != nil {
		return nil, err
	}
	if sg.AccessKeyID != placeholder.AccessKeyID {
		return sg, ErrOtherKey
	}
	if sg.PayloadHash == "" {
		sg.PayloadHash = payloadHash
	}
	if err := sg.Verify(req, placeholder.SecretAccessKey, now); err != nil {
		return sg, err
	}
	if err := s.Resign(req, sg, actual, placeholder.SecretAccessKey); err != nil {
		return sg, err
	}
	return sg, nil
}
