package gateway

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
)

// What both flows and the API read from, or do to, a request.

// BearerToken reads "Bearer <token>" (scheme case-insensitive).
func BearerToken(h string) (string, bool) {
	const prefix = "bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", false
	}
	tok := strings.TrimSpace(h[len(prefix):])
	return tok, tok != ""
}

// BasicCredentials reads the user and password of an Authorization (or
// Proxy-Authorization) value of the Basic scheme.
func BasicCredentials(v string) (user, pass string, ok bool) {
	const prefix = "basic "
	if len(v) <= len(prefix) || !strings.EqualFold(v[:len(prefix)], prefix) {
		return "", "", false
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v[len(prefix):]))
	if err != nil {
		return "", "", false
	}
	return strings.Cut(string(b), ":")
}

// RequestID names a request in audit events and invocation tokens: a
// random prefix drawn once per process and a counter, so it is unique
// without a trip to the kernel's random source on every request (Caddy's
// {http.request.uuid} costs one).
func RequestID() string {
	return requestIDPrefix + strconv.FormatUint(requestCounter.Add(1), 36)
}

var (
	requestIDPrefix = "r" + RandomID(5) + "-"
	requestCounter  atomic.Uint64
)

// OutboundCopy returns a copy of req that can be changed without touching
// req: its own header map and URL.
func OutboundCopy(req *http.Request) *http.Request {
	// The request and its URL in one allocation: they live as long.
	o := new(struct {
		req http.Request
		url url.URL
	})
	o.req, o.url = *req, *req.URL
	o.req.URL = &o.url
	o.req.Header = req.Header.Clone()
	return &o.req
}

// StripKeygateHeaders removes every Keygate-* header: they are keygate's to
// set and never trusted from a caller.
func StripKeygateHeaders(h http.Header) {
	for k := range h {
		if len(k) >= 8 && strings.EqualFold(k[:8], "keygate-") {
			delete(h, k)
		}
	}
}

// OwnerPageURL links to the owners' page for a keychain and package, when
// the public URL of the API site is known.
func (a *App) OwnerPageURL(kc, pkg string) string {
	if a.PublicURL == "" {
		return ""
	}
	return a.PublicURL + "/ui/keychains/" + url.PathEscape(kc) + "?package=" + url.QueryEscape(pkg)
}
