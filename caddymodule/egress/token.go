package egress

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"

	"github.com/keygate/keygate/caddymodule/gateway"
	"github.com/keygate/keygate/scrub"
)

// takeToken removes the route's token header from req, the request that
// reverse_proxy forwards and prints in its debug lines, and returns its
// bare value ("" when the route has no token header or the caller did not
// send it). Caddy's own access and error lines for req were built from a
// copy taken before any handler ran, so they are silenced and written anew
// without the token (see tokenLog).
func (t *Transport) takeToken(req *http.Request) *tokenLog {
	if t.TokenHeader == "" {
		return nil
	}
	vals, sent := req.Header[t.TokenHeader]
	if !sent {
		return nil
	}
	delete(req.Header, t.TokenHeader)
	tl := t.silenceCaddyLogs(req)
	if len(vals) > 0 {
		tl.token = strings.TrimSpace(vals[0])
	}
	return tl
}

func (t *Transport) validateTokenHeader() error {
	if t.TokenHeader == "" {
		return nil
	}
	if !scrub.IsToken(t.TokenHeader) {
		return fmt.Errorf("keygate transport: token_header: not a valid header name")
	}
	switch lower := strings.ToLower(t.TokenHeader); {
	case lower == "authorization" || lower == "proxy-authorization":
		return fmt.Errorf("keygate transport: token_header: the token is always accepted in %s; name another header", t.TokenHeader)
	case strings.HasPrefix(lower, "keygate-"):
		return fmt.Errorf("keygate transport: token_header must not be a Keygate-* header")
	}
	return nil
}

func (tl *tokenLog) bareToken() string {
	if tl == nil {
		return ""
	}
	return tl.token
}

func (t *Transport) tokenHeaderHint() string {
	if t.SigV4 != nil {
		return " or as an AWS access key id, with SigV4 (presigned URLs too: signature_version s3v4)"
	}
	if t.TokenHeader == "" {
		return ""
	}
	return " or as the bare value of " + t.TokenHeader
}

// requestToken finds the invocation token of req in Authorization, then in
// Proxy-Authorization. Egress accepts Proxy-Authorization (README, Choices), but
// reverse_proxy drops it as a hop-by-hop header from its copy of the
// request before the transport runs; the caller's original value is still
// read through the request's replacer, which holds the request as it came
// in. It is looked up only when Authorization holds no token.
func requestToken(req *http.Request) (string, bool) {
	if tok, ok := headerToken(first(req.Header, "Authorization")); ok {
		return tok, true
	}
	v := first(req.Header, "Proxy-Authorization")
	if v == "" {
		if repl, ok := req.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
			v, _ = repl.GetString("http.request.header.Proxy-Authorization")
		}
	}
	return headerToken(v)
}

// first is h.Get(name) for a name already in canonical form: the hot path
// looks up fixed names, and Get would canonicalize each one again.
func first(h http.Header, name string) string {
	if v := h[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// tokenProblem explains a refused token. The commonest mistake is to send
// the keychain token (what agents use at ingress) instead of the
// invocation token the package received, so that one is named.
func (t *Transport) tokenProblem(tok string, err error) *gateway.Problem {
	if _, kerr := t.app.Tokens().VerifyKeychainToken(tok); kerr == nil {
		return gateway.Unauthorized("this is a keychain token; egress wants the invocation token that keygate sent to the package in Authorization")
	}
	return gateway.ToProblem(err)
}

// headerToken finds the token in the value of Authorization or
// Proxy-Authorization, where an SDK puts its API key: as Bearer or as
// either half of Basic credentials. Tokens are accepted nowhere else, since
// only these headers are redacted by Caddy's logs.
func headerToken(v string) (string, bool) {
	if v == "" {
		return "", false
	}
	if tok, ok := gateway.BearerToken(v); ok {
		return tok, true
	}
	if user, pass, ok := gateway.BasicCredentials(v); ok {
		if strings.Count(user, ".") == 2 {
			return user, true
		}
		if strings.Count(pass, ".") == 2 {
			return pass, true
		}
	}
	return "", false
}
