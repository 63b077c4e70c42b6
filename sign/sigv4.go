package sign

import (
	"context"
	"fmt"
	"hash/maphash"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Payload hashes with a meaning of their own (x-amz-content-sha256).
const (
	EmptyPayload             = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	UnsignedPayload          = "UNSIGNED-PAYLOAD"
	StreamingPayload         = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	StreamingPayloadTrailer  = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	StreamingUnsignedTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
)

const (
	// MaxSkew is how far a header-signed request's time may be from now,
	// as AWS allows.
	MaxSkew = 15 * time.Minute
	// MaxExpires is the longest validity of a presigned URL AWS accepts.
	MaxExpires = 7 * 24 * time.Hour

	amzDateFormat = "20060102T150405Z"
	algorithm     = "AWS4-HMAC-SHA256"
)

// Credentials are an AWS access key, with a session token for temporary
// credentials.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
}

func (c Credentials) aws() aws.Credentials {
	return aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken}
}

// String keeps the secret parts out of anything that prints Credentials.
func (c Credentials) String() string { return "aws credentials" }

// GoString is String, for %#v.
func (c Credentials) GoString() string { return c.String() }

// SigV4 signs requests for one service in one region. It is safe for
// concurrent use.
type SigV4 struct {
	service, region string
	single          bool

	mu      sync.Mutex
	seed    maphash.Seed
	signers map[uint64]*keySigner
}

// keySigner is the SDK signer of one access key. The SDK's signer caches
// the derived key by access key id alone, not by secret: shared between
// secrets, a secret replaced under the same key id (or a wrong secret
// given to Verify) would be signed with the other. So each signer serves
// exactly one key id and secret.
type keySigner struct {
	id, secret string
	signer     *v4.Signer
}

const maxKeySigners = 256

// NewSigV4 returns the signer for service in region.
func NewSigV4(service, region string) (*SigV4, error) {
	if err := checkScopeName("service", service); err != nil {
		return nil, err
	}
	if err := checkScopeName("region", region); err != nil {
		return nil, err
	}
	return &SigV4{service: service, region: region, single: SingleEncoded(service), seed: maphash.MakeSeed()}, nil
}

// signer returns the SDK signer for c.
func (s *SigV4) signer(c Credentials) *v4.Signer {
	k := maphash.String(s.seed, c.AccessKeyID)*31 + maphash.String(s.seed, c.SecretAccessKey)
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.signers[k]; ok && e.id == c.AccessKeyID && e.secret == c.SecretAccessKey {
		return e.signer
	}
	if s.signers == nil || len(s.signers) >= maxKeySigners {
		s.signers = make(map[uint64]*keySigner)
	}
	// S3 encodes the canonical path once, every other service twice.
	sg := v4.NewSigner(func(o *v4.SignerOptions) {
		o.DisableURIPathEscaping = s.single
		o.DisableHeaderHoisting = true
	})
	s.signers[k] = &keySigner{id: c.AccessKeyID, secret: c.SecretAccessKey, signer: sg}
	return sg
}

// Service is the signing name of the service.
func (s *SigV4) Service() string { return s.service }

// Region is the signing region.
func (s *SigV4) Region() string { return s.region }

// SingleEncoded reports whether the service canonicalises its path as
// sent (S3 and its variants) rather than escaping it once more.
func SingleEncoded(service string) bool {
	switch service {
	case "s3", "s3-object-lambda", "s3-outposts", "s3express":
		return true
	}
	return false
}

func checkScopeName(field, v string) error {
	if v == "" || len(v) > 64 {
		return fmt.Errorf("%s must be 1 to 64 characters: %w", field, ErrMalformed)
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return fmt.Errorf("%s must be lowercase letters, digits and dashes: %w", field, ErrMalformed)
		}
	}
	return nil
}

// Sign signs req in place with its headers (all but those AWS leaves out)
// and payloadHash: it sets Authorization, X-Amz-Date, X-Amz-Security-Token
// for temporary credentials, X-Amz-Content-Sha256 for S3, and the Host
// exactly as signed.
func (s *SigV4) Sign(req *http.Request, c Credentials, payloadHash string, t time.Time) error {
	return s.sign(req, c, payloadHash, nil, t)
}

// sign signs the headers named in signed (lowercase, as SignedHeaders
// lists them), or all of them when signed is nil. The SDK signs every
// header of the request it is given, so it is given a copy holding only
// those, and its result is copied back.
func (s *SigV4) sign(req *http.Request, c Credentials, payloadHash string, signed []string, t time.Time) error {
	h := req.Header
	delete(h, "Authorization")
	delete(h, "X-Amz-Date")
	delete(h, "X-Amz-Security-Token")
	if s.single || h["X-Amz-Content-Sha256"] != nil {
		h["X-Amz-Content-Sha256"] = []string{payloadHash}
	}
	clone := *req
	u := *req.URL
	clone.URL = &u
	if signed == nil {
		clone.Header = h.Clone()
	} else {
		clone.Header = make(http.Header, len(signed)+3)
		for _, name := range signed {
			ck := textproto.CanonicalMIMEHeaderKey(name)
			if v, ok := h[ck]; ok {
				clone.Header[ck] = v
			}
		}
		if v, ok := h["X-Amz-Content-Sha256"]; ok {
			clone.Header["X-Amz-Content-Sha256"] = v
		}
		if !slices.Contains(signed, "content-length") {
			clone.ContentLength = 0
		}
	}
	if err := s.signer(c).SignHTTP(context.Background(), c.aws(), &clone, payloadHash, s.service, s.region, t); err != nil {
		return fmt.Errorf("sigv4: %w", err)
	}
	for _, k := range []string{"Authorization", "X-Amz-Date", "X-Amz-Security-Token"} {
		if v, ok := clone.Header[k]; ok {
			h[k] = v
		}
	}
	req.Host = clone.Host
	return nil
}

// Presign turns req into a presigned request valid for expires from t:
// it replaces req's URL query with the signed one. Only the headers named
// in signed (all but host are then the caller's to send) are signed; nil
// signs the host alone.
func (s *SigV4) Presign(req *http.Request, c Credentials, expires time.Duration, signed []string, t time.Time) error {
	if expires <= 0 || expires > MaxExpires {
		return fmt.Errorf("presign: expiry must be 1 s to 7 days: %w", ErrMalformed)
	}
	clone := *req
	u := *req.URL
	q := u.Query()
	for k := range q {
		if isPresignParam(k) {
			delete(q, k)
		}
	}
	q.Set("X-Amz-Expires", strconv.FormatInt(int64(expires/time.Second), 10))
	u.RawQuery = q.Encode()
	clone.URL = &u
	clone.Header = make(http.Header, len(signed))
	for _, name := range signed {
		ck := textproto.CanonicalMIMEHeaderKey(name)
		if v, ok := req.Header[ck]; ok {
			clone.Header[ck] = v
		}
	}
	clone.ContentLength = 0
	signedURL, _, err := s.signer(c).PresignHTTP(context.Background(), c.aws(), &clone, UnsignedPayload, s.service, s.region, t)
	if err != nil {
		return fmt.Errorf("presign: %w", err)
	}
	su, err := url.Parse(signedURL)
	if err != nil {
		return fmt.Errorf("presign: %w", err)
	}
	req.URL.RawQuery = su.RawQuery
	req.Host = clone.Host
	return nil
}

// isPresignParam reports whether a query parameter belongs to a SigV4
// presigned URL's signature (X-Amz-Expires included).
func isPresignParam(k string) bool {
	switch k {
	case "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
		"X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Security-Token":
		return true
	}
	return false
}

// scope is the credential scope of a signature made at t.
func scope(t time.Time, region, service string) string {
	return t.UTC().Format("20060102") + "/" + region + "/" + service + "/aws4_request"
}

// ValidScopeName reports whether v can be the service or region of a
// credential scope.
func ValidScopeName(v string) bool { return checkScopeName("", v) == nil }
