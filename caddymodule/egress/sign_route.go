package egress

import (
	"bytes"
	"fmt"
	"io"
	"net/http"

	"github.com/keygate/keygate/caddymodule/gateway"
	"github.com/keygate/keygate/scrub"
	"github.com/keygate/keygate/sign"
	"github.com/keygate/keygate/store"
)

// A route with `sigv4` or `hmac` signs the request it sends with the
// secret instead of putting the secret in it (sign_sigv4.go,
// sign_hmac.go).

// signs reports whether the route signs its requests.
func (t *Transport) signs() bool { return t.SigV4 != nil || t.HMAC != nil }

// provisionSigning prepares the route's signer; its errors name the
// option at fault.
func (t *Transport) provisionSigning() error {
	switch {
	case t.SigV4 != nil && t.HMAC != nil:
		return fmt.Errorf("keygate transport: use one of sigv4 and hmac")
	case t.SigV4 != nil:
		s, err := sign.NewSigV4(t.SigV4.Service, t.SigV4.Region)
		if err != nil {
			return fmt.Errorf("keygate transport: sigv4: service and region must be 1 to 64 lowercase letters, digits and dashes")
		}
		t.sigv4 = s
		t.awsKeys = new(awsKeys)
	case t.HMAC != nil:
		if err := t.HMAC.Prepare(); err != nil {
			return fmt.Errorf("keygate transport: %w", err)
		}
		t.HMAC.Header = http.CanonicalHeaderKey(t.HMAC.Header)
		t.HMAC.TimestampHeader = http.CanonicalHeaderKey(t.HMAC.TimestampHeader)
	}
	return nil
}

// signRefusal carries a problem out of the store's open callback.
type signRefusal struct{ p *gateway.Problem }

func (r *signRefusal) Error() string { return r.p.Detail }

func refuse(p *gateway.Problem) error { return &signRefusal{p} }

// signOut signs out with the secret's value, after taking the caller's
// own credentials off it, and returns the scrubber for the answer.
func (t *Transport) signOut(out *http.Request, meta store.SecretMeta, value []byte) (*scrub.Scrubber, error) {
	h := out.Header
	gateway.StripKeygateHeaders(h)
	delete(h, "Proxy-Authorization")
	// askIdentity sets this after signing: signed, it must not change.
	if t.scrubbing() {
		h["Accept-Encoding"] = []string{"identity"}
	}
	if t.SigV4 != nil {
		return t.signSigV4(out, meta, value)
	}
	delete(h, "Authorization")
	return t.signHMAC(out, value)
}

// maxSignedBody bounds a body read whole to be signed: an HMAC message
// over {body}, or a SigV4 payload hash for a service other than S3.
const maxSignedBody = 1 << 20

// readBody reads out's body whole (at most maxSignedBody) and puts it
// back, so it can be signed and still sent.
func readBody(out *http.Request) ([]byte, error) {
	if out.Body == nil || out.Body == http.NoBody {
		return nil, nil
	}
	b, err := io.ReadAll(io.LimitReader(out.Body, maxSignedBody+1))
	out.Body.Close()
	if err != nil {
		return nil, refuse(gateway.NewProblem(http.StatusBadRequest, "bad_body", "the request body could not be read"))
	}
	if len(b) > maxSignedBody {
		return nil, refuse(gateway.NewProblem(http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("a body to sign may be at most %d bytes", maxSignedBody)))
	}
	out.Body = io.NopCloser(bytes.NewReader(b))
	out.ContentLength = int64(len(b))
	out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	return b, nil
}
