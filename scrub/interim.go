package scrub

import (
	"context"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
)

// Interim makes the outbound request's client trace the scrubber's own.
// A reverse proxy (Caddy's reverse_proxy, net/http/httputil's) puts a
// Got1xxResponse hook on the request that writes each interim (1xx)
// answer's headers to the client at once, before any response handling:
// on the outbound request that hook is replaced by one that hands it the
// headers scrubbed. Any other hook of the caller's trace is dropped with
// it.
func Interim(out *http.Request, sc *Scrubber) *http.Request {
	ctx := out.Context()
	caller := httptrace.ContextClientTrace(ctx)
	if caller == nil || caller.Got1xxResponse == nil {
		// net/http reads interim answers and passes on none.
		return out
	}
	forward := caller.Got1xxResponse
	own := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		scrubbed := http.Header(h).Clone()
		sc.Headers(scrubbed)
		return forward(code, textproto.MIMEHeader(scrubbed))
	}}
	return out.WithContext(httptrace.WithClientTrace(withoutTrace{ctx}, own))
}

// withoutTrace hides the client trace of the context it wraps, so that a
// trace set on top of it is the only one (httptrace.WithClientTrace would
// otherwise call both).
type withoutTrace struct{ context.Context }

func (c withoutTrace) Value(key any) any {
	v := c.Context.Value(key)
	if _, ok := v.(*httptrace.ClientTrace); ok {
		return nil
	}
	return v
}
