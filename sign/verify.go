package sign

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Signed is a client's SigV4 signature as its request carries it, in the
// Authorization header or in a presigned URL's query.
type Signed struct {
	AccessKeyID     string
	Region, Service string
	Time            time.Time // X-Amz-Date
	SignedHeaders   []string  // lowercase, as listed
	Signature       string    // lowercase hex
	// PayloadHash is X-Amz-Content-Sha256 (UNSIGNED-PAYLOAD for a
	// presigned URL without one); "" when the client sent none, as
	// services other than S3 do: the caller then hashes the body.
	PayloadHash string
	Presigned   bool
	Expires     time.Duration // presigned only

	// The canonical request's hash as Verify computed it, and the host
	// it was computed for: Resign signs the same bytes anew.
	canon     [sha256.Size * 2]byte
	canonHost string
	amzDate   string // X-Amz-Date as sent
}

// String keeps the key id and signature out of anything printing a
// Signed: in egress the key id is the caller's token.
func (s *Signed) String() string { return "sigv4 signature" }

// Streaming reports whether the body is an aws-chunked stream with a
// chain of chunk signatures.
func (s *Signed) Streaming() bool {
	return s.PayloadHash == StreamingPayload || s.PayloadHash == StreamingPayloadTrailer
}

const maxSignedHeaders = 64

// ParseSigned reads req's SigV4 signature. It returns ErrNotSigned when
// the request has none and ErrMalformed (with the part named) when it
// does not parse.
func ParseSigned(req *http.Request) (*Signed, error) {
	auth := req.Header.Get("Authorization")
	var q url.Values
	if strings.Contains(req.URL.RawQuery, "X-Amz-") {
		q = req.URL.Query()
	}
	inQuery := q.Has("X-Amz-Signature") || q.Has("X-Amz-Algorithm")
	isAuth := strings.HasPrefix(auth, algorithm+" ")
	switch {
	case isAuth && inQuery:
		return nil, fmt.Errorf("both an Authorization header and a presigned query: %w", ErrMalformed)
	case isAuth:
		return parseHeader(req, auth[len(algorithm)+1:])
	case inQuery:
		return parseQuery(q)
	case strings.HasPrefix(auth, "AWS4-"), strings.HasPrefix(auth, "AWS "):
		return nil, fmt.Errorf("unsupported Authorization algorithm: %w", ErrMalformed)
	}
	return nil, ErrNotSigned
}

func parseHeader(req *http.Request, rest string) (*Signed, error) {
	s := &Signed{}
	var cred, signed string
	for part := range strings.SplitSeq(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, fmt.Errorf("authorization: a part is not key=value: %w", ErrMalformed)
		}
		switch k {
		case "Credential":
			cred = v
		case "SignedHeaders":
			signed = v
		case "Signature":
			s.Signature = v
		default:
			return nil, fmt.Errorf("authorization: unknown part: %w", ErrMalformed)
		}
	}
	if err := s.fill(cred, signed, req.Header.Get("X-Amz-Date")); err != nil {
		return nil, err
	}
	s.PayloadHash = req.Header.Get("X-Amz-Content-Sha256")
	return s, nil
}

func parseQuery(q url.Values) (*Signed, error) {
	for _, k := range []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature"} {
		if len(q[k]) != 1 {
			return nil, fmt.Errorf("presigned query: %s must appear once: %w", k, ErrMalformed)
		}
	}
	if q.Get("X-Amz-Algorithm") != algorithm {
		return nil, fmt.Errorf("presigned query: unsupported X-Amz-Algorithm: %w", ErrMalformed)
	}
	s := &Signed{Presigned: true, Signature: q.Get("X-Amz-Signature")}
	if err := s.fill(q.Get("X-Amz-Credential"), q.Get("X-Amz-SignedHeaders"), q.Get("X-Amz-Date")); err != nil {
		return nil, err
	}
	secs, err := strconv.ParseInt(q.Get("X-Amz-Expires"), 10, 64)
	if err != nil || secs < 1 || secs > int64(MaxExpires/time.Second) {
		return nil, fmt.Errorf("presigned query: X-Amz-Expires must be 1 to 604800 seconds: %w", ErrMalformed)
	}
	s.Expires = time.Duration(secs) * time.Second
	s.PayloadHash = UnsignedPayload
	if v := q.Get("X-Amz-Content-Sha256"); v != "" {
		s.PayloadHash = v
	}
	return s, nil
}

// fill parses the credential ("<key id>/<date>/<region>/<service>/aws4_request"),
// the signed header list and the time.
func (s *Signed) fill(cred, signed, amzDate string) error {
	parts := strings.Split(cred, "/")
	n := len(parts)
	if n < 5 || parts[n-1] != "aws4_request" {
		return fmt.Errorf("credential must be <key id>/<date>/<region>/<service>/aws4_request: %w", ErrMalformed)
	}
	s.AccessKeyID = strings.Join(parts[:n-4], "/")
	if s.AccessKeyID == "" {
		return fmt.Errorf("credential has no access key id: %w", ErrMalformed)
	}
	s.Region, s.Service = parts[n-3], parts[n-2]
	if checkScopeName("region", s.Region) != nil || checkScopeName("service", s.Service) != nil {
		return fmt.Errorf("credential: region and service must be lowercase names: %w", ErrMalformed)
	}
	t, err := time.Parse(amzDateFormat, amzDate)
	if err != nil {
		return fmt.Errorf("X-Amz-Date must be YYYYMMDDTHHMMSSZ: %w", ErrMalformed)
	}
	if parts[n-4] != t.Format("20060102") {
		return fmt.Errorf("credential date is not the date of X-Amz-Date: %w", ErrMalformed)
	}
	s.Time, s.amzDate = t, amzDate
	if !isLowerHex(s.Signature, 64) {
		return fmt.Errorf("signature must be 64 lowercase hex digits: %w", ErrMalformed)
	}
	if signed == "" {
		return fmt.Errorf("signed headers are empty: %w", ErrMalformed)
	}
	s.SignedHeaders = strings.Split(signed, ";")
	if len(s.SignedHeaders) > maxSignedHeaders {
		return fmt.Errorf("more than %d signed headers: %w", maxSignedHeaders, ErrMalformed)
	}
	for _, h := range s.SignedHeaders {
		if !isHeaderToken(h) {
			return fmt.Errorf("signed headers must be lowercase header names: %w", ErrMalformed)
		}
	}
	if !slices.Contains(s.SignedHeaders, "host") {
		return fmt.Errorf("signed headers must include host: %w", ErrMalformed)
	}
	return nil
}

// CheckTime refuses a header-signed request more than MaxSkew from now,
// and a presigned URL dated in the future beyond MaxSkew or expired.
func (s *Signed) CheckTime(now time.Time) error {
	d := now.Sub(s.Time)
	switch {
	case s.Presigned && d < -MaxSkew:
		return ErrSkewed
	case s.Presigned && d > s.Expires:
		return ErrExpired
	case !s.Presigned && (d > MaxSkew || d < -MaxSkew):
		return ErrSkewed
	}
	return nil
}

// Verify checks the signature with the client's secret: the request must
// be exactly what the client signed (method, path, query, signed headers)
// and its time within bounds. A header-signed request from a service
// other than S3 needs PayloadHash set by the caller first.
func (s *Signed) Verify(req *http.Request, secret string, now time.Time) error {
	if err := s.CheckTime(now); err != nil {
		return err
	}
	if s.PayloadHash == "" {
		return fmt.Errorf("no payload hash to verify with: %w", ErrMalformed)
	}
	if !s.Presigned {
		s.canonHost = hostOf(req)
		canonicalHash(&s.canon, req, s.canonHost, s.SignedHeaders, s.PayloadHash, SingleEncoded(s.Service))
		got := signCanonical(cachedSigningKey(secret, s.amzDate[:8], s.Region, s.Service), s.amzDate, &s.canon)
		if !hmac.Equal(got[:], []byte(s.Signature)) {
			s.canonHost = ""
			return ErrBadSignature
		}
		return nil
	}
	signer, err := cachedSigner(s.Service, s.Region)
	if err != nil {
		return err
	}
	c := Credentials{AccessKeyID: s.AccessKeyID, SecretAccessKey: secret}
	clone := *req
	u := *req.URL
	clone.URL = &u
	clone.Header = make(http.Header, len(s.SignedHeaders)+3)
	for _, name := range s.SignedHeaders {
		if v, ok := req.Header[http.CanonicalHeaderKey(name)]; ok {
			clone.Header[http.CanonicalHeaderKey(name)] = v
		}
	}
	if tok := u.Query().Get("X-Amz-Security-Token"); tok != "" {
		c.SessionToken = tok
	}
	if err := signer.Presign(&clone, c, s.Expires, s.SignedHeaders, s.Time); err != nil {
		return err
	}
	got := clone.URL.Query().Get("X-Amz-Signature")
	if !hmac.Equal([]byte(got), []byte(s.Signature)) {
		return ErrBadSignature
	}
	return nil
}

// hostOf is the host header a request is sent with.
func hostOf(req *http.Request) string {
	if req.Host != "" {
		return req.Host
	}
	return req.URL.Host
}

// signers caches one signer per service and region seen, so that their
// derived keys are reused; the names are checked, and the cache bounded.
var signers struct {
	sync.Mutex
	m map[string]*SigV4
}

const maxCachedSigners = 256

// Cached is the signer for service in region, shared by every caller
// that asks for the same two (so that its derived keys are reused).
func Cached(service, region string) (*SigV4, error) { return cachedSigner(service, region) }

func cachedSigner(service, region string) (*SigV4, error) {
	k := service + "/" + region
	signers.Lock()
	defer signers.Unlock()
	if s, ok := signers.m[k]; ok {
		return s, nil
	}
	s, err := NewSigV4(service, region)
	if err != nil {
		return nil, err
	}
	if signers.m == nil || len(signers.m) >= maxCachedSigners {
		signers.m = map[string]*SigV4{}
	}
	signers.m[k] = s
	return s, nil
}

func isLowerHex[T string | []byte](s T, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// isHeaderToken reports whether h is a lowercase RFC 9110 token.
func isHeaderToken(h string) bool { return validName(h) && strings.ToLower(h) == h }
