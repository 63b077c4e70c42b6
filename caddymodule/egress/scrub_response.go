package egress

import (
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"net/http"
	"sync"

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
// scrubs the answer's headers (see scrubResponse).
func (t *Transport) scrubberFor(value []byte, sent string) *scrub.Scrubber {
	return t.scrubbers.get(value, sent)
}

// scrubberCache keeps the scrubbers of recent values: building one
// (every encoding of every needle) costs far more than an egress request.
// It is keyed by a seeded hash of value and header, checked against both
// on a hit, and emptied when full rather than tracking use.
type scrubberCache struct {
	mu   sync.Mutex
	seed maphash.Seed
	m    map[uint64]*scrubberEntry
}

// scrubberEntry holds its value and header only to tell a hash collision
// from a hit; the scrubber holds them as needles anyway.
type scrubberEntry struct {
	value, sent string
	sc          *scrub.Scrubber
}

const scrubberCacheMax = 1024

func (c *scrubberCache) get(value []byte, sent string) *scrub.Scrubber {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.seed = maphash.MakeSeed()
	}
	key := maphash.Bytes(c.seed, value)*31 + maphash.String(c.seed, sent)
	if e, ok := c.m[key]; ok && e.sent == sent && e.value == string(value) {
		return e.sc
	}
	if c.m == nil || len(c.m) >= scrubberCacheMax {
		c.m = make(map[uint64]*scrubberEntry)
	}
	sc := scrub.New(scrub.Needle{Find: value, Replace: redacted}, scrub.Needle{Find: []byte(sent), Replace: redacted})
	c.m[key] = &scrubberEntry{value: string(value), sent: sent, sc: sc}
	return sc
}

// askIdentity asks the upstream for an answer the scrubber can read as it
// streams; a gzip or deflate answer sent anyway is decoded.
func (t *Transport) askIdentity(out *http.Request, sc *scrub.Scrubber) {
	if sc != nil && t.scrubbing() {
		out.Header["Accept-Encoding"] = []string{"identity"}
	}
}

// scrubResponse scrubs res's headers now and its body as the caller reads
// it. When the body is closed, a response that had anything replaced is
// audited with the count; nothing of the value goes into the audit.
func (t *Transport) scrubResponse(req *http.Request, res *http.Response, sc *scrub.Scrubber, ev store.AuditEvent) (*http.Response, error) {
	if sc == nil {
		return res, nil
	}
	if !t.scrubbing() {
		// scrub off hands the body over as sent, but Caddy writes the
		// answer's headers into its access and debug lines, so a value
		// echoed in a header would be logged: those are scrubbed still.
		if n := sc.Headers(res.Header); n > 0 {
			_ = t.app.RecordChange(req.Context(), ev.Actor, "egress.scrubbed", ev.Keychain, ev.Package, fmt.Sprintf("scrubbed: %d", n), ev.Keys)
		}
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
	res.Body = &auditedBody{Body: sb, audit: func(n int) {
		// Best effort: the answer is already on its way.
		_ = t.app.RecordChange(req.Context(), ev.Actor, "egress.scrubbed", ev.Keychain, ev.Package, fmt.Sprintf("scrubbed: %d", n), ev.Keys)
	}}
	return res, nil
}

// auditedBody audits the replacement count once, when the body closes.
type auditedBody struct {
	*scrub.Body
	audit func(n int)
	once  sync.Once
}

func (b *auditedBody) Close() error {
	err := b.Body.Close()
	b.once.Do(func() {
		if n := b.Count(); n > 0 {
			b.audit(n)
		}
	})
	return err
}

var _ io.ReadCloser = (*auditedBody)(nil)
