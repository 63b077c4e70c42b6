package ingress

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/keygate/keygate/caddymodule/gateway"
)

// A webhook body is read only once the URL names a webhook the package
// declares, a keychain that exists and a grant that stands, and then under
// a deadline and a bound on how many bodies one source may be sending at
// once: a sender that opens many slow uploads holds a few buffers, not
// one per connection.
const (
	webhookReadTimeout    = 10 * time.Second
	webhookReadsPerSource = 4
)

// webhookReads counts the bodies being read per client address.
type webhookReads struct {
	mu     sync.Mutex
	active map[string]int
}

// acquire takes a read slot for source; ok is false when it has
// webhookReadsPerSource already.
func (q *webhookReads) acquire(source string) (release func(), ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.active == nil {
		q.active = map[string]int{}
	}
	if q.active[source] >= webhookReadsPerSource {
		return nil, false
	}
	q.active[source]++
	return func() {
		q.mu.Lock()
		defer q.mu.Unlock()
		if q.active[source]--; q.active[source] <= 0 {
			delete(q.active, source)
		}
	}, true
}

// readWebhookBody reads at most limit bytes of r's body under a deadline,
// holding one of the source's read slots while it does.
func (h *PackageHandler) readWebhookBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, *gateway.Problem) {
	source, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
	if source == "" {
		source = r.RemoteAddr
	}
	release, ok := h.hookReads.acquire(source)
	if !ok {
		return nil, gateway.TooManyRequests(time.Second)
	}
	defer release()
	rc := http.NewResponseController(w)
	// Not every writer supports deadlines (HTTP/2 streams may not); the
	// server's own read timeout still bounds those.
	_ = rc.SetReadDeadline(time.Now().Add(webhookReadTimeout))
	defer func() { _ = rc.SetReadDeadline(time.Time{}) }()
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, gateway.NewProblem(http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("a webhook body may be at most %d bytes", limit))
		}
		return nil, gateway.NewProblem(http.StatusBadRequest, "bad_body", "the webhook body could not be read in time")
	}
	return body, nil
}
