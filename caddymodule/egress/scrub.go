package egress

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"unsafe"

	"github.com/keygate/keygate/caddymodule/gateway"
	"github.com/keygate/keygate/scrub"
	"github.com/keygate/keygate/store"
)

// redacted is what every occurrence of an injected value becomes in an answer.
const redacted = "[redacted by keygate]"

// scrubbing reports whether the route scrubs its answers: on unless it
// says `scrub off`.
func (t *Transport) scrubbing() bool { return t.Scrub == nil || *t.Scrub }

// scrubberFor returns the scrubber for one request: it looks for the
// value injected and for the exact header value that carried it (a
// template's or the Basic credentials). With scrubbing off it still
// scrubs the answer's headers (see scrubResponse). The route's cache
// builds it once per value and header.
func (t *Transport) scrubberFor(value []byte, sent string) *scrub.Scrubber {
	// []byte(sent) would copy the header to the heap on every request;
	// the cache only reads its needles and copies them before keeping them.
	return t.scrubbers.Get(scrub.Needle{Find: value, Replace: redacted},
		scrub.Needle{Find: unsafe.Slice(unsafe.StringData(sent), len(sent)), Replace: redacted})
}

// askIdentity asks the upstream for an answer the scrubber can read as it
// streams; a gzip or deflate answer sent anyway is decoded.
func (t *Transport) askIdentity(out *http.Request, sc *scrub.Scrubber) {
	if sc != nil && t.scrubbing() {
		out.Header["Accept-Encoding"] = []string{"identity"}
	}
}

// scrubResponse scrubs res's headers now and its body and trailers
// (announced or not) as the caller reads it. When the body is closed, a
// response that had anything replaced is audited with the count; nothing
// of the value goes into the audit.
func (t *Transport) scrubResponse(req *http.Request, res *http.Response, sc *scrub.Scrubber, ev store.AuditEvent) (*http.Response, error) {
	if sc == nil {
		return res, nil
	}
	audited := &auditedBody{app: t.app, req: req, change: gateway.Change{Actor: ev.Actor, Action: gateway.ActionEgressScrubbed,
		Keychain: ev.Keychain, Package: ev.Package, Keys: ev.Keys, RequestID: ev.RequestID}}
	if !t.scrubbing() {
		// scrub off hands the body over as sent, but Caddy writes the
		// answer's headers and trailers into its access and debug lines,
		// so a value echoed in them would be logged: those are scrubbed
		// still.
		audited.counted = sc.HeadersOnly(res)
		res.Body = audited
		return res, nil
	}
	sb, err := sc.Response(res)
	switch {
	case errors.Is(err, scrub.ErrEncoding):
		sb.Close()
		return gateway.ProblemResponse(req, gateway.NewProblem(http.StatusBadGateway, "unscrubbable_encoding",
			"the upstream answered in a content encoding keygate cannot scrub; it was asked for identity")), nil
	case err != nil:
		// A short answer read whole failed: reverse_proxy answers 502.
		sb.Close()
		return nil, err
	}
	audited.counted = sb
	res.Body = audited
	return res, nil
}

// countedBody is a scrubbed body that tells how many replacements it made.
type countedBody interface {
	io.ReadCloser
	Count() int
}

// auditedBody audits the replacement count once, when the body closes, as
// an egress.scrubbed change joined to the request's egress event.
type auditedBody struct {
	counted countedBody
	app     *gateway.App
	req     *http.Request
	change  gateway.Change
	once    sync.Once
}

func (b *auditedBody) Read(p []byte) (int, error) { return b.counted.Read(p) }

func (b *auditedBody) Close() error {
	err := b.counted.Close()
	b.once.Do(func() {
		if n := b.counted.Count(); n > 0 {
			b.app.NoteScrubbed("egress", n)
			b.change.Reason = fmt.Sprintf("scrubbed: %d", n)
			// Best effort: the answer is already on its way.
			_ = b.app.RecordChange(b.req.Context(), b.change)
		}
	})
	return err
}

var _ io.ReadCloser = (*auditedBody)(nil)
