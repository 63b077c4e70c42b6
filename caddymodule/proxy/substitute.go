package proxy

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/keygate/keygate/caddymodule/gateway"
	"github.com/keygate/keygate/policy"
	"github.com/keygate/keygate/scrub"
	"github.com/keygate/keygate/store"
)

// substitution puts values in place of the placeholders of one request.
// Every placeholder in it must be of one call (and of the proxy
// identity's call where there is one), and its key allowed for the host
// dialed; the first that is not stops the request before anything is sent.
type substitution struct {
	h     *Handler
	ctx   context.Context // the request's (apply takes it): store reads and an OAuth refresh end with it
	codec *policy.Placeholders
	tgt   *target
	auth  *policy.InvocationClaims
	ev    *store.AuditEvent
	seen  map[string]*substituted
	call  string // TokenID of the first placeholder
	// signed: the request is SigV4-signed anew (sigv4.go), and nothing
	// more may change in it.
	signed bool
	// needles turn values echoed in the answer back into placeholders.
	needles []scrub.Needle
	guards  []*placeholderGuard // on bodies that go out unsearched
}

type substituted struct {
	value string
	body  bool // the key's placeholder may stand in a body
	spec  store.KeySpec
	// sigv4 is set for a key signed with sigv4 (sigv4.go): its
	// placeholder is an access key id, never replaced by the value.
	sigv4 *signedKey
}

// problemError carries a refusal through ReplacePlaceholders.
type problemError struct{ p *gateway.Problem }

func (e *problemError) Error() string { return e.p.Error() }

func refusal(err error) *gateway.Problem {
	var pe *problemError
	if errors.As(err, &pe) {
		return pe.p
	}
	return gateway.ToProblem(err)
}

// value resolves one placeholder.
func (s *substitution) value(ph string, inBody bool) (string, error) {
	sub, ok := s.seen[ph]
	if !ok {
		var p *gateway.Problem
		if sub, p = s.resolve(ph); p != nil {
			return "", &problemError{p}
		}
		s.seen[ph] = sub
	}
	if sub.sigv4 != nil || s.signed {
		return "", &problemError{notSubstituted(sub)}
	}
	if inBody && !sub.body {
		return "", &problemError{forbidden("placement_not_allowed", "a placeholder stands in the body, and its key's manifest entry does not list \"body\" in placement")}
	}
	return sub.value, nil
}

func (s *substitution) resolve(ph string) (*substituted, *gateway.Problem) {
	c, err := s.codec.Parse(ph)
	switch {
	case errors.Is(err, policy.ErrPlaceholderExpired):
		return nil, gateway.Unauthorized("a placeholder of a call that has ended: a new call hands out new placeholders")
	case err != nil:
		return nil, forbidden("placeholder_invalid", "a string shaped like a placeholder that keygate did not mint: "+err.Error())
	}
	if s.call == "" {
		s.call = c.TokenID
		s.ev.Keychain, s.ev.Package = c.Keychain, c.Package
	} else if c.TokenID != s.call {
		return nil, forbidden("placeholder_mixed", "placeholders of different calls in one request")
	}
	if s.auth != nil && (s.auth.Keychain != c.Keychain || s.auth.ID != c.TokenID) {
		return nil, forbidden("placeholder_not_yours", "a placeholder of another call than the Proxy-Authorization token's")
	}
	spec, p := s.h.recheck(s.ctx, &c)
	if p != nil {
		return nil, p
	}
	if !slices.Contains(s.ev.Keys, spec.Name) {
		s.ev.Keys = append(s.ev.Keys, spec.Name)
	}
	notAllowed := forbidden("host_not_allowed", fmt.Sprintf("key %s may not be sent to %s", spec.Name, s.tgt.host))
	notAllowed.Key = spec.Name
	if len(spec.Hosts) > 0 && !policy.HostAllowed(spec.Hosts, s.tgt.host, s.tgt.port) {
		return nil, notAllowed
	}
	if p := cleartextRefusal(s.tgt, spec.Name); p != nil {
		return nil, p
	}
	if spec.OAuth != nil {
		value, p := s.oauthValue(&c, spec, notAllowed)
		if p != nil {
			return nil, p
		}
		s.needles = append(s.needles, scrub.Needle{Find: []byte(value), Replace: ph})
		return &substituted{value: value, body: spec.AllowsBody(), spec: spec}, nil
	}
	var value, kind string
	open := func(meta store.SecretMeta, v []byte) error {
		if !policy.HostAllowed(meta.AllowedHosts, s.tgt.host, s.tgt.port) {
			return errHostNotAllowed
		}
		value, kind = string(v), meta.Kind
		return nil
	}
	st := s.h.app.Store()
	if c.App {
		err = st.OpenAppSecretContext(s.ctx, c.Package, spec.Name, open)
	} else {
		err = st.OpenSecretContext(s.ctx, c.Keychain, spec.Name, open)
	}
	switch {
	case errors.Is(err, errHostNotAllowed):
		return nil, notAllowed
	case errors.Is(err, store.ErrNotFound):
		return nil, s.missing(&c, spec, fmt.Sprintf("secret %s has no value", spec.Name))
	case err != nil:
		return nil, gateway.ToProblem(err)
	}
	if kind != "" || (spec.SignsWithSigV4()) {
		return s.signedKey(ph, spec, kind, value)
	}
	s.needles = append(s.needles, scrub.Needle{Find: []byte(value), Replace: ph})
	return &substituted{value: value, body: spec.AllowsBody(), spec: spec}, nil
}

var errHostNotAllowed = errors.New("host not allowed")

// apply substitutes in out (the outbound copy of a request): the query,
// every header, and the body (bodies.go). The path may hold no
// placeholder: nothing is substituted there.
func (s *substitution) apply(out *http.Request) *gateway.Problem {
	s.ctx = out.Context()
	if policy.ContainsPlaceholder(out.URL.Path) || policy.ContainsPlaceholder(out.URL.RawPath) {
		return forbidden("placement_not_allowed", "a placeholder stands in the URL path; put it in a header, the query or (where its key allows) the body")
	}
	if policy.ContainsPlaceholder(out.URL.RawQuery) {
		q, _, err := policy.ReplacePlaceholders(out.URL.RawQuery, func(ph string) (string, error) {
			v, err := s.value(ph, false)
			return url.QueryEscape(v), err
		})
		if err != nil {
			return refusal(err)
		}
		out.URL.RawQuery = q
	}
	if hiddenPlaceholder(bodyForm, []byte(out.URL.RawQuery)) {
		return forbidden("placement_not_allowed", "a percent-encoded placeholder in the query: write it as it is")
	}
	for name, vals := range out.Header {
		for i, v := range vals {
			nv, p := s.header(v)
			if p != nil {
				return p
			}
			if strings.IndexByte(nv, '%') >= 0 && hiddenPlaceholder(bodyForm, []byte(nv)) {
				// A cookie or a header an upstream URL-decodes would
				// carry the placeholder on; only plain ones are substituted.
				return forbidden("placement_not_allowed", "a percent-encoded placeholder in a header: write it as it is")
			}
			vals[i] = nv
		}
		if policy.ContainsPlaceholder(name) {
			return forbidden("placement_not_allowed", "a placeholder stands in a header name")
		}
	}
	return s.body(out)
}

// header substitutes in one header value, inside Basic credentials too.
func (s *substitution) header(v string) (string, *gateway.Problem) {
	if user, pass, ok := gateway.BasicCredentials(v); ok && (policy.ContainsPlaceholder(user) || policy.ContainsPlaceholder(pass)) {
		cred, _, err := policy.ReplacePlaceholders(user+":"+pass, func(ph string) (string, error) { return s.value(ph, false) })
		if err != nil {
			return "", refusal(err)
		}
		enc := "Basic " + base64.StdEncoding.EncodeToString([]byte(cred))
		s.needles = append(s.needles, scrub.Needle{Find: []byte(enc), Replace: v})
		return enc, nil
	}
	if !policy.ContainsPlaceholder(v) {
		return v, nil
	}
	nv, _, err := policy.ReplacePlaceholders(v, func(ph string) (string, error) { return s.value(ph, false) })
	if err != nil {
		return "", refusal(err)
	}
	if strings.ContainsAny(nv, "\r\n\x00") {
		return "", forbidden("bad_value", "the key's value cannot stand in a header")
	}
	return nv, nil
}

// jsonInner is v escaped for the inside of a JSON string.
func jsonInner(v string) string {
	b, _ := json.Marshal(v)
	return string(b[1 : len(b)-1])
}
