package egress

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/keygate/keygate/caddymodule/gateway"
	"github.com/keygate/keygate/oauth"
	"github.com/keygate/keygate/policy"
	"github.com/keygate/keygate/scrub"
	"github.com/keygate/keygate/store"
)

var errHostNotAllowed = errors.New("host not allowed")

// inject puts value into out and removes the invocation token and every
// Keygate-* header, overwriting whatever the caller sent. It returns the
// exact header value sent ("" for a query parameter).
func (t *Transport) inject(out *http.Request, value []byte) (sent string) {
	h := out.Header
	// The caller's own values of the header to set, in out's copy
	// (Header.Clone copies them): reused below instead of a new slice.
	slot := h[t.Header]
	gateway.StripKeygateHeaders(h)
	// The names are canonical: Del would canonicalize them again.
	delete(h, "Authorization")
	delete(h, "Proxy-Authorization")
	switch {
	case t.Header != "":
		// One allocation for the value, not one for string(value) and
		// another for the concatenation.
		var b strings.Builder
		b.Grow(len(t.prefix) + len(value) + len(t.suffix))
		b.WriteString(t.prefix)
		b.Write(value)
		b.WriteString(t.suffix)
		sent = b.String()
		if len(slot) == 1 {
			slot[0] = sent
			h[t.Header] = slot
		} else {
			h[t.Header] = []string{sent}
		}
	case t.BasicAuthUser != "":
		user, pass := t.BasicAuthUser, string(value)
		if user == secretPlaceholder {
			user, pass = pass, ""
		}
		sent = "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
		h["Authorization"] = []string{sent}
	case t.Query != "":
		q := out.URL.Query()
		q.Set(t.Query, string(value))
		out.URL.RawQuery = q.Encode()
	}
	return sent
}

// injectOAuth puts the current access token of an OAuth key into out,
// with the route's template (Authorization: Bearer by default). Between
// refreshes the token comes from the store's sealed copy, as a static
// key's value does; only a token near expiry costs a provider call, one
// per key however many requests wait on it.
func (t *Transport) injectOAuth(req, out *http.Request, c *policy.InvocationClaims, spec store.KeySpec, host, port string) (*scrub.Scrubber, *gateway.Problem) {
	ctx := req.Context()
	m := t.app.OAuth()
	var (
		tok string
		err error
	)
	if t.Scope == scopeApp {
		// An app token's allowed hosts are its key's hosts.
		if !policy.HostAllowed(spec.Hosts, host, port) || !pinHost(req, out, spec.Hosts) {
			return nil, t.deny(c, &policy.Denial{Reason: policy.HostNotAllowed,
				Detail: fmt.Sprintf("key %s may not be sent to %s: not among the package's hosts for it", t.Secret, host)})
		}
		tok, err = m.AppAccessToken(ctx, c.Package, t.Secret)
		if err != nil {
			return nil, t.app.OAuthProblem(err, "", c.Package, t.Secret)
		}
		return t.injectToken(out, tok), nil
	}
	// Check where the token may go before any refresh is spent on it.
	meta, err := t.app.Store().GetSecretMetaContext(ctx, c.Keychain, t.Secret)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, t.notConnected(c, spec)
	case err != nil:
		return nil, gateway.ToProblem(err)
	case !policy.HostAllowed(meta.AllowedHosts, host, port) || !pinHost(req, out, meta.AllowedHosts, spec.Hosts):
		return nil, t.deny(c, &policy.Denial{Reason: policy.HostNotAllowed,
			Detail: fmt.Sprintf("secret %s may not be sent to %s: not among its allowed_hosts", t.Secret, host)})
	}
	tok, err = m.AccessTokenFor(ctx, c.Keychain, c.Package, t.Secret, meta)
	switch {
	case errors.Is(err, oauth.ErrNotConnected):
		return nil, t.notConnected(c, spec)
	case err != nil:
		return nil, t.app.OAuthProblem(err, c.Keychain, c.Package, t.Secret)
	}
	return t.injectToken(out, tok), nil
}

// injectToken injects an access token and returns its scrubber; the
// token's bytes are read by both, changed by neither.
func (t *Transport) injectToken(out *http.Request, tok string) *scrub.Scrubber {
	v := []byte(tok)
	return t.scrubberFor(v, t.inject(out, v))
}

// notConnected is a missing key, as for a static key, with where to
// connect it.
func (t *Transport) notConnected(c *policy.InvocationClaims, spec store.KeySpec) *gateway.Problem {
	return t.deny(c, &policy.Denial{Reason: policy.MissingKeys, Missing: []store.KeySpec{spec},
		Detail: fmt.Sprintf("oauth key %s is not connected", t.Secret)})
}
