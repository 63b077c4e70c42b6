package egress

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/keygate/keygate/caddymodule/gateway"
	"github.com/keygate/keygate/scrub"
	"github.com/keygate/keygate/sign"
	"github.com/keygate/keygate/store"
)

// SigV4Route is the `sigv4 { service <s>; region <r> }` of a route: what
// its requests are signed for.
type SigV4Route struct {
	Service string `json:"service,omitempty"`
	Region  string `json:"region,omitempty"`
}

// sigv4Token is the invocation token an AWS client sends as its access
// key id (AWS_ACCESS_KEY_ID), in Authorization or a presigned URL.
func sigv4Token(req *http.Request) (string, bool) {
	sg, err := sign.ParseSigned(req)
	if err != nil {
		return "", false
	}
	return sg.AccessKeyID, true
}

// takePresignToken takes the invocation token out of a presigned URL,
// where an AWS SDK put it as the access key id (X-Amz-Credential; or
// AWSAccessKeyId in a SigV2 URL, which is refused), so that neither
// reverse_proxy's debug lines nor the access line (written anew, see
// tokenLog) show it. It returns nil for any other request.
func (t *Transport) takePresignToken(req *http.Request) *tokenLog {
	raw := req.URL.RawQuery
	if !strings.Contains(raw, "X-Amz-Credential=") && !strings.Contains(raw, "AWSAccessKeyId=") {
		return nil
	}
	q := req.URL.Query()
	tok, rest, _ := strings.Cut(q.Get("X-Amz-Credential"), "/")
	if q.Has("X-Amz-Credential") {
		q.Set("X-Amz-Credential", redactedToken+"/"+rest)
	}
	if q.Has("AWSAccessKeyId") {
		q.Set("AWSAccessKeyId", redactedToken)
		tok = ""
	}
	req.URL.RawQuery = q.Encode()
	req.RequestURI = req.URL.RequestURI()
	tl := t.silenceCaddyLogs(req)
	tl.token, tl.uri = tok, req.RequestURI
	return tl
}

// signSigV4 signs out with the secret's AWS credentials. A request the
// caller signed (with the token as key id and any secret) is re-signed
// keeping its payload hash and signed headers, an aws-chunked body chunk
// by chunk; a presigned URL is presigned anew for the same window; an
// unsigned request is signed whole, its body as UNSIGNED-PAYLOAD for S3.
func (t *Transport) signSigV4(out *http.Request, meta store.SecretMeta, value []byte) (*scrub.Scrubber, error) {
	if meta.Kind != store.SecretKindAWS {
		return nil, refuse(gateway.NewProblem(http.StatusForbidden, "wrong_secret_kind", fmt.Sprintf("this route signs with sigv4: secret %s must be AWS credentials, set with kind aws", t.Secret)))
	}
	key, err := t.awsKeys.get(value)
	if err != nil {
		return nil, refuse(gateway.NewProblem(http.StatusForbidden, "wrong_secret_kind", fmt.Sprintf("secret %s does not hold AWS credentials", t.Secret)))
	}
	c := key.creds
	now := time.Now()
	sg, err := sign.ParseSigned(out)
	switch {
	case errors.Is(err, sign.ErrNotSigned):
		hash, err := t.payloadHash(out)
		if err == nil {
			err = t.sigv4.Sign(out, c, hash, now)
		}
		if err != nil {
			return nil, err
		}
	case err != nil:
		return nil, refuse(gateway.NewProblem(http.StatusBadRequest, "malformed_signature", "the request's AWS signature does not parse: "+err.Error()))
	default:
		if err := sg.CheckTime(now); err != nil {
			return nil, timeRefusal(err)
		}
		if sg.PayloadHash == "" {
			if sg.PayloadHash, err = t.payloadHash(out); err != nil {
				return nil, err
			}
		}
		if err := t.sigv4.Resign(out, sg, c, ""); err != nil {
			return nil, refuse(gateway.NewProblem(http.StatusBadRequest, "malformed_signature", "the request could not be signed again"))
		}
	}
	return key.sc, nil
}

// awsKeys keeps recent AWS credentials decoded, with the scrubber that
// looks for their key id, secret and session token in answers (S3 names
// the key id in its errors): decoding the JSON and building the scrubber
// cost more than signing. Like scrub.Cache, it holds what the value
// holds anyway, and is emptied when full.
type awsKeys struct {
	mu sync.Mutex
	m  map[string]*awsKey
}

type awsKey struct {
	creds sign.Credentials
	sc    *scrub.Scrubber
}

const awsKeysMax = 64

func (a *awsKeys) get(value []byte) (*awsKey, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if k, ok := a.m[string(value)]; ok {
		return k, nil
	}
	ac, err := store.ParseAWSCredentials(value)
	if err != nil {
		return nil, err
	}
	if a.m == nil || len(a.m) >= awsKeysMax {
		a.m = make(map[string]*awsKey)
	}
	k := &awsKey{
		creds: sign.Credentials{AccessKeyID: ac.AccessKeyID, SecretAccessKey: ac.SecretAccessKey, SessionToken: ac.SessionToken},
		sc: scrub.New(scrub.Needle{Find: []byte(ac.AccessKeyID), Replace: redacted}, scrub.Needle{Find: []byte(ac.SecretAccessKey), Replace: redacted},
			scrub.Needle{Find: []byte(ac.SessionToken), Replace: redacted}),
	}
	a.m[string(value)] = k
	return k, nil
}

// payloadHash is the hash to sign an unsigned body with: none for no
// body, UNSIGNED-PAYLOAD for S3 (which streams), else the body's SHA-256.
func (t *Transport) payloadHash(out *http.Request) (string, error) {
	if out.Body == nil || out.Body == http.NoBody || out.ContentLength == 0 {
		return sign.EmptyPayload, nil
	}
	if sign.SingleEncoded(t.sigv4.Service()) {
		return sign.UnsignedPayload, nil
	}
	b, err := readBody(out)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

func timeRefusal(err error) error {
	if errors.Is(err, sign.ErrExpired) {
		return refuse(gateway.NewProblem(http.StatusForbidden, "presign_expired", "the presigned URL has expired"))
	}
	return refuse(gateway.NewProblem(http.StatusForbidden, "request_time_skewed", "the request's X-Amz-Date is more than 15 minutes from keygate's clock"))
}
