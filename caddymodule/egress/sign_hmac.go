package egress

import (
	"net/http"
	"time"

	"github.com/keygate/keygate/scrub"
	"github.com/keygate/keygate/sign"
)

// signHMAC puts the HMAC of the route's message, keyed with the secret,
// in the route's header or query parameter, with the timestamp the
// message holds in its header.
func (t *Transport) signHMAC(out *http.Request, value []byte) (*scrub.Scrubber, error) {
	h := t.HMAC
	var body []byte
	if h.UsesBody() {
		var err error
		if body, err = readBody(out); err != nil {
			return nil, err
		}
	}
	if h.Query != "" {
		out.URL.RawQuery = sign.WithoutParam(out.URL.RawQuery, h.Query)
	}
	sig, ts := h.Sign(value, sign.HMACRequest{Method: out.Method, Path: out.URL.EscapedPath(), Query: out.URL.RawQuery, Body: body, Time: time.Now()})
	if h.TimestampHeader != "" {
		out.Header[h.TimestampHeader] = []string{ts}
	}
	if h.Header != "" {
		out.Header[h.Header] = []string{sig}
	} else {
		if out.URL.RawQuery != "" {
			out.URL.RawQuery += "&"
		}
		out.URL.RawQuery += h.Query + "=" + sig
	}
	return t.scrubberFor(value, ""), nil
}
