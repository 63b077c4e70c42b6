package egress

import (
	"fmt"
	"net/http"
	"strings"
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
	if !validHeaderName(t.TokenHeader) {
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

// validHeaderName reports whether name is an RFC 9110 token.
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return true
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
