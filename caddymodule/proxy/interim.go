package proxy

import (
	"net/http"

	"github.com/keygate/keygate/scrub"
)

// interimScrubbed sends through rt with the request's 1xx hook (the one
// httputil.ReverseProxy sets to forward Early Hints at once) handed the
// interim headers scrubbed: they reach the client before any response
// handling. Trailers are scrubbed with the body (scrub.Response).
type interimScrubbed struct {
	rt http.RoundTripper
	sc *scrub.Scrubber
}

func (t interimScrubbed) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.rt.RoundTrip(scrub.Interim(req, t.sc))
}

// scrubbedTransport is rt, scrubbing interim answers when sc has values.
func scrubbedTransport(rt http.RoundTripper, sc *scrub.Scrubber) http.RoundTripper {
	if sc == nil {
		return rt
	}
	return interimScrubbed{rt: rt, sc: sc}
}
