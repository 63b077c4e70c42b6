package proxy

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/keygate/keygate/caddymodule/gateway"
	"github.com/keygate/keygate/policy"
	"github.com/keygate/keygate/scrub"
	"github.com/keygate/keygate/store"
)

// forward sends one request to its target: placeholders substituted (or,
// without any, only to pass_hosts), audited before anything leaves, the
// answer's echoed values turned back into placeholders as it streams.
func (h *Handler) forward(w http.ResponseWriter, r *http.Request, tgt *target, auth *policy.InvocationClaims, rt http.RoundTripper) {
	start := time.Now()
	ev := store.AuditEvent{Actor: "package", Action: gateway.ActionProxy, RequestID: gateway.RequestID(), Method: r.Method, Host: tgt.host, Path: r.URL.Path}
	if auth != nil {
		ev.Keychain, ev.Package = auth.Keychain, auth.Package
	}
	at, prob := h.prepare(r, tgt, auth, &ev, nil)
	at, prob, waited := h.holdIfAsked(r, tgt, auth, &ev, at, prob)
	out, sub := at.out, at.sub
	if prob == nil && len(sub.seen) == 0 && !policy.HostAllowed(h.PassHosts, tgt.host, tgt.port) {
		prob = forbidden("host_not_allowed", fmt.Sprintf("%s is not among this proxy site's pass_hosts, and the request holds no placeholder", tgt.host))
	}
	if prob = h.app.Settle(r.Context(), gateway.ActionProxy, ev, prob, start); prob != nil {
		gateway.WriteProblem(w, prob)
		return
	}
	h.app.NoteSubstituted(len(sub.seen))
	var sc *scrub.Scrubber
	if len(sub.needles) > 0 {
		sc = h.scrubbers.Get(sub.needles...)
		// The transport then asks for gzip and decodes it itself, so the
		// answer comes back in a form the scrubber reads.
		delete(out.Header, "Accept-Encoding")
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme, pr.Out.URL.Host = tgt.scheme, tgt.authority()
			pr.Out.Host = tgt.authority()
		},
		Transport:     scrubbedTransport(rt, sc),
		FlushInterval: -1,
		ErrorLog:      h.shared.upstreamLog,
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			if sub.signed && h.chunkRefusal(r.Context(), w, ev, err) {
				return
			}
			h.logger.Debug("upstream failed", zap.String("host", tgt.host), zap.Error(err))
			reason, detail := "upstream_unavailable", "the upstream could not be reached or did not answer in time"
			if errors.Is(err, scrub.ErrEncoding) {
				reason, detail = "unscrubbable_encoding", "the upstream answered in a content encoding keygate cannot search for values"
			}
			if errors.Is(err, errBodyPlaceholder) || sub.cut() {
				h.recordCut(r, ev)
				gateway.WriteProblem(w, unsearchable("a placeholder in a streamed request body, which keygate does not substitute in: the request was cut before it left"))
				return
			}
			gateway.WriteProblem(w, gateway.NewProblem(http.StatusBadGateway, reason, detail))
		},
		ModifyResponse: func(res *http.Response) error {
			if waited {
				res.Header.Set(gateway.PreferenceApplied, "wait")
			}
			if sc == nil {
				return nil
			}
			if res.StatusCode == http.StatusSwitchingProtocols {
				// WebSocket frames pass unchanged; the headers are scrubbed.
				if n := sc.Headers(res.Header); n > 0 {
					h.recordScrubbed(r, ev, n)
				}
				return nil
			}
			sb, err := sc.Response(res)
			res.Body = &auditedBody{ReadCloser: res.Body, count: sb.Count, done: func(n int) { h.recordScrubbed(r, ev, n) }}
			return err
		},
	}
	rp.ServeHTTP(w, out)
}

// recordScrubbed audits how many echoed values an answer had.
func (h *Handler) recordScrubbed(r *http.Request, ev store.AuditEvent, n int) {
	h.app.NoteScrubbed("proxy", n)
	_ = h.app.RecordChange(r.Context(), gateway.Change{Actor: ev.Actor, Action: gateway.ActionProxyScrubbed, Keychain: ev.Keychain,
		Package: ev.Package, Keys: ev.Keys, Reason: fmt.Sprintf("scrubbed: %d", n), RequestID: ev.RequestID})
}

// auditedBody reports the replacement count once, when the body closes.
type auditedBody struct {
	io.ReadCloser
	count func() int
	done  func(int)
	once  sync.Once
}

func (b *auditedBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(func() {
		if n := b.count(); n > 0 {
			b.done(n)
		}
	})
	return err
}
