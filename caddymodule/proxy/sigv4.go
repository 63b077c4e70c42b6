package proxy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/keygate/keygate/caddymodule/gateway"
	"github.com/keygate/keygate/policy"
	"github.com/keygate/keygate/scrub"
	"github.com/keygate/keygate/sign"
	"github.com/keygate/keygate/store"
)

// An AWS SDK behind the proxy site signs with a key's placeholder pair:
// the placeholder as access key id and the placeholder secret
// (policy.SigV4Secret) as secret access key. keygate checks that
// signature, so that the payload hash and every signed header stay the
// client's, then signs the request anew with the real key.

// signedKey is a key signed with sigv4, with the AWS credentials its
// secret holds.
type signedKey struct {
	name   string
	creds  sign.Credentials
	signer *sign.SigV4
}

// signedKey builds the substitution of a key whose secret is not a value
// to put in a request as it is: AWS credentials, for a key signed with
// sigv4; anything else is refused.
func (s *substitution) signedKey(ph string, spec store.KeySpec, kind, value string) (*substituted, *gateway.Problem) {
	if spec.Placement == nil || spec.Placement.SigV4 == nil {
		return nil, forbidden("wrong_secret_kind", fmt.Sprintf("secret %s is of kind %s, which the proxy site never puts in a request as it is", spec.Name, kind))
	}
	wrong := forbidden("wrong_secret_kind", fmt.Sprintf("key %s signs with sigv4: its secret must be AWS credentials, set with kind aws", spec.Name))
	if kind != store.SecretKindAWS {
		return nil, wrong
	}
	creds, err := awsCreds.get(value)
	if err != nil {
		return nil, wrong
	}
	signer, err := sign.Cached(spec.Placement.SigV4.Service, spec.Placement.SigV4.Region)
	if err != nil {
		return nil, gateway.ToProblem(err)
	}
	// An echoed real key id or secret goes back as the client's own pair
	// (S3 names the key id in its errors, and a canonical request quotes
	// the session token).
	s.needles = append(s.needles, scrub.Needle{Find: []byte(creds.AccessKeyID), Replace: ph},
		scrub.Needle{Find: []byte(creds.SecretAccessKey), Replace: s.codec.SigV4Secret(ph)})
	if creds.SessionToken != "" {
		s.needles = append(s.needles, scrub.Needle{Find: []byte(creds.SessionToken), Replace: "REDACTED"})
	}
	return &substituted{sigv4: &signedKey{name: spec.Name, creds: creds, signer: signer}}, nil
}

// notSubstituted refuses a placeholder where it would be replaced by a
// value: the placeholder of a key signed with sigv4 (its value is a pair
// of credentials), or any placeholder in a request signed anew, which a
// change would no longer match.
func notSubstituted(sub *substituted) *gateway.Problem {
	if sub.sigv4 != nil {
		p := forbidden("placement_not_allowed", fmt.Sprintf("key %s signs with sigv4: its placeholder stands only as the access key id of a SigV4 signature", sub.sigv4.name))
		p.Key = sub.sigv4.name
		return p
	}
	return forbidden("placement_not_allowed", "a placeholder stands outside the SigV4 signature of a request signed with a placeholder pair; replacing it would break the signature")
}

// sigv4 verifies and re-signs out when its SigV4 signature (Authorization
// or presigned query) is made with a placeholder as access key id. A
// request signed with a key of the client's own passes as any request
// without a placeholder does.
func (s *substitution) sigv4(out *http.Request) *gateway.Problem {
	auth := out.Header.Get("Authorization")
	if !strings.HasPrefix(auth, "AWS4-") && !strings.Contains(out.URL.RawQuery, "X-Amz-") {
		return nil
	}
	sg, err := sign.ParseSigned(out)
	switch {
	case errors.Is(err, sign.ErrNotSigned):
		return nil
	case err != nil:
		if !policy.ContainsPlaceholder(auth) && !policy.ContainsPlaceholder(out.URL.RawQuery) {
			return nil
		}
		return gateway.NewProblem(http.StatusBadRequest, "malformed_signature", "the request's AWS signature does not parse: "+err.Error())
	}
	ph := sg.AccessKeyID
	if !strings.HasPrefix(ph, policy.PlaceholderPrefix) {
		return nil
	}
	sub, ok := s.seen[ph]
	if !ok {
		var p *gateway.Problem
		if sub, p = s.resolve(ph); p != nil {
			return p
		}
		s.seen[ph] = sub
	}
	if sub.sigv4 == nil {
		return forbidden("placement_not_allowed", "a SigV4 signature's access key id is the placeholder of a key whose manifest entry does not sign with sigv4")
	}
	k := sub.sigv4
	if sg.PayloadHash == "" {
		if sg.PayloadHash, err = s.bodyHash(out); err != nil {
			return gateway.ToProblem(err)
		}
	}
	// The scrubber has the transport ask for what it can decode: the
	// client's Accept-Encoding is left out of the new signature.
	on := sign.Onward{Host: s.tgt.authority(), Drop: []string{"accept-encoding"}}
	if err := sg.VerifyAndResign(out, s.codec.SigV4Secret(ph), k.creds, k.signer, on, time.Now()); err != nil {
		return signatureRefusal(err)
	}
	s.signed = true
	return nil
}

// signatureRefusal is the answer to a client's signature that keygate
// does not accept.
func signatureRefusal(err error) *gateway.Problem {
	switch {
	case errors.Is(err, sign.ErrSkewed):
		return forbidden("request_time_skewed", "the request's X-Amz-Date is more than 15 minutes from keygate's clock")
	case errors.Is(err, sign.ErrExpired):
		return forbidden("presign_expired", "the presigned URL has expired")
	case errors.Is(err, sign.ErrBadSignature):
		return gateway.ProblemAt(gateway.FlowProxy, "bad_signature", "the request's SigV4 signature does not verify with the placeholder secret access key of its access key id")
	}
	return gateway.NewProblem(http.StatusBadRequest, "malformed_signature", "the request's AWS signature does not parse: "+err.Error())
}

// bodyHash is the payload hash of a request whose signature names none,
// as services other than S3 sign: the body's SHA-256, read whole (bounded
// by max_body) and put back.
func (s *substitution) bodyHash(out *http.Request) (string, error) {
	if out.Body == nil || out.Body == http.NoBody {
		return sign.EmptyPayload, nil
	}
	b, err := io.ReadAll(io.LimitReader(out.Body, s.h.MaxBody+1))
	out.Body.Close()
	if err != nil {
		return "", gateway.NewProblem(http.StatusBadRequest, "bad_body", "the request body could not be read")
	}
	if int64(len(b)) > s.h.MaxBody {
		return "", gateway.NewProblem(http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("a SigV4-signed body without X-Amz-Content-Sha256 above %d bytes cannot be hashed", s.h.MaxBody))
	}
	out.Body = io.NopCloser(bytes.NewReader(b))
	out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// chunkRefusal answers and audits an upload whose aws-chunked body failed
// keygate's reader mid-stream (a chunk breaking the client's signature
// chain, or bad framing): the transport has cut the upstream connection
// there, so the object is not completed. It reports false for any other
// upstream error.
func (h *Handler) chunkRefusal(ctx context.Context, w http.ResponseWriter, ev store.AuditEvent, err error) bool {
	var p *gateway.Problem
	switch {
	case errors.Is(err, sign.ErrBadSignature):
		p = gateway.ProblemAt(gateway.FlowProxy, "bad_signature", "a chunk of the aws-chunked body breaks the client's signature chain; the upload was cut off there")
	case errors.Is(err, sign.ErrMalformed), errors.Is(err, sign.ErrTooLarge):
		p = gateway.NewProblem(http.StatusBadRequest, "malformed_signature", "the aws-chunked body breaks its framing; the upload was cut off there")
	default:
		return false
	}
	p = h.app.Settle(ctx, gateway.ActionProxy, ev, p, time.Now())
	gateway.WriteProblem(w, p)
	return true
}

// awsCreds keeps recent AWS credentials decoded: decoding the JSON costs
// more than signing. It holds what the values hold anyway, and is
// emptied when full.
var awsCreds credsCache

type credsCache struct {
	mu sync.Mutex
	m  map[string]sign.Credentials
}

const credsCacheMax = 64

func (c *credsCache) get(value string) (sign.Credentials, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if k, ok := c.m[value]; ok {
		return k, nil
	}
	ac, err := store.ParseAWSCredentials([]byte(value))
	if err != nil {
		return sign.Credentials{}, err
	}
	if c.m == nil || len(c.m) >= credsCacheMax {
		c.m = make(map[string]sign.Credentials)
	}
	k := sign.Credentials{AccessKeyID: ac.AccessKeyID, SecretAccessKey: ac.SecretAccessKey, SessionToken: ac.SessionToken}
	c.m[value] = k
	return k, nil
}
