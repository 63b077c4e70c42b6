package proxy

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/keygate/keygate/caddymodule/gateway"
	"github.com/keygate/keygate/policy"
	"github.com/keygate/keygate/store"
)

// Held calls on the proxy site, as at egress: a request with Prefer:
// wait=<s> whose answer the owner can still change is held and prepared
// again on each change of its keychain; one that an approve rule of a
// substituted key covers is held every time until the owner decides.

// maxShownBody: a JSON body under this is shown to the owner.
const maxShownBody = 4 << 10

// attempt is one preparation of a request: its outbound copy, the
// substitution made in it, and what that substitution read of the body.
type attempt struct {
	out *http.Request
	sub *substitution
	tap *bodyTap
}

// prepare makes the outbound copy of r and substitutes its placeholders.
// body, when set, is r's body read before (a held call is prepared again
// after each change).
func (h *Handler) prepare(r *http.Request, tgt *target, auth *policy.InvocationClaims, ev *store.AuditEvent, body []byte) (*attempt, *gateway.Problem) {
	out := gateway.OutboundCopy(r)
	gateway.StripKeygateHeaders(out.Header)
	delete(out.Header, "Proxy-Authorization")
	at := &attempt{out: out}
	if body != nil {
		out.Body, out.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	}
	if out.Body != nil && out.Body != http.NoBody {
		at.tap = &bodyTap{src: out.Body, max: h.MaxBody}
		out.Body = at.tap
	}
	codec, err := h.placeholderCodec()
	at.sub = &substitution{h: h, ctx: r.Context(), codec: codec, tgt: tgt, auth: auth, ev: ev, seen: map[string]*substituted{}}
	if err != nil {
		return at, gateway.ToProblem(err)
	}
	p := at.sub.sigv4(out)
	if p == nil {
		p = at.sub.apply(out)
	}
	if at.tap != nil {
		at.tap.off = true
	}
	return at, p
}

// holdIfAsked holds the request when its owner can still let it through
// and the caller sent Prefer: wait=<s>, or when an approve rule covers it.
// waited says it was held.
func (h *Handler) holdIfAsked(r *http.Request, tgt *target, auth *policy.InvocationClaims, ev *store.AuditEvent, at *attempt, prob *gateway.Problem) (*attempt, *gateway.Problem, bool) {
	if prob == nil {
		return h.holdForApproval(r, tgt, auth, ev, at)
	}
	if !gateway.Holdable(prob) || ev.Keychain == "" {
		return at, prob, false
	}
	wait, p := h.app.PreferWait(r.Header)
	if p != nil || wait <= 0 {
		return at, cmp.Or(p, prob), false
	}
	body, p := at.original()
	if p != nil {
		return at, p, false
	}
	if body == nil {
		body = []byte{}
	}
	rec := store.HeldCall{Keychain: ev.Keychain, Package: ev.Package, Key: prob.Key, Flow: "proxy", Method: r.Method,
		Host: tgt.host, Path: at.sub.shownURI(r), BodySize: int64(len(body)), RequestID: ev.RequestID}
	prob = h.app.HoldRetry(r.Context(), rec, prob, wait, func() *gateway.Problem {
		var p *gateway.Problem
		at, p = h.prepare(r, tgt, auth, ev, body)
		return p
	})
	if prob == nil {
		at, prob, _ = h.holdForApproval(r, tgt, auth, ev, at)
	}
	return at, gateway.MarkWaited(prob), true
}

// holdForApproval holds a request that an approve rule of one of its
// substituted keys covers until the owner decides, showing them the
// request as the caller sent it: placeholders, never values. An approved
// request is substituted anew.
func (h *Handler) holdForApproval(r *http.Request, tgt *target, auth *policy.InvocationClaims, ev *store.AuditEvent, at *attempt) (*attempt, *gateway.Problem, bool) {
	key := at.sub.approveKey(r.Method, tgt, r.URL.Path)
	if key == "" {
		return at, nil, false
	}
	wait, p := h.app.PreferWait(r.Header)
	if p != nil {
		return at, p, false
	}
	if wait <= 0 {
		wait = h.app.HoldWaitMax()
	}
	body, p := at.original()
	if p != nil {
		return at, p, false
	}
	sum := sha256.Sum256(body)
	rec := store.HeldCall{Keychain: ev.Keychain, Package: ev.Package, Key: key, Flow: "proxy", Method: r.Method,
		Host: tgt.host, Path: at.sub.shownURI(r), BodySize: int64(len(body)), BodySHA256: hex.EncodeToString(sum[:]), RequestID: ev.RequestID}
	if len(body) < maxShownBody && json.Valid(body) {
		rec.Body = json.RawMessage(body)
	}
	rec.Shape = gateway.ShapeOf(rec).ID()
	if p := h.app.HoldApproval(r.Context(), rec, wait); p != nil {
		return at, gateway.MarkWaited(p), true
	}
	// The owner approved what they were shown; what the call may do is
	// decided again now (a grant revoked or a value deleted during the
	// hold stops it), from the body they saw.
	at, p = h.prepare(r, tgt, auth, ev, body)
	return at, p, true
}

// approveKey is the substituted key whose approve rules cover the
// request (the first by name when several do), or "".
func (s *substitution) approveKey(method string, tgt *target, path string) string {
	key := ""
	for _, sub := range s.seen {
		name := sub.spec.Name
		if (key == "" || name < key) && len(sub.spec.Approve) > 0 && policy.ApproveMatch(sub.spec.Approve, method, tgt.host, tgt.port, path) {
			key = name
		}
	}
	return key
}

// shownURI is the request's path and query with every placeholder shown
// as its key's name: the owner sees what the call does, and the record,
// the webhook and the shape hold no placeholder (whose call ends soon,
// so the same request of a later call has the same shape).
func (s *substitution) shownURI(r *http.Request) string {
	uri, _, _ := policy.ReplacePlaceholders(r.URL.RequestURI(), func(ph string) (string, error) {
		if sub, ok := s.seen[ph]; ok {
			return "{" + sub.spec.Name + "}", nil
		}
		return "{placeholder}", nil
	})
	return uri
}

// original is the request body as the caller sent it (placeholders in
// place), read whole up to max_body. A body the substitution did not read
// is read here and put back for sending.
func (at *attempt) original() ([]byte, *gateway.Problem) {
	t := at.tap
	if t == nil {
		return nil, nil
	}
	if !t.eof {
		b, err := io.ReadAll(io.LimitReader(t.src, t.max-int64(len(t.seen))+1))
		t.src.Close()
		if err != nil {
			return nil, gateway.NewProblem(http.StatusBadRequest, "bad_body", "the request body could not be read")
		}
		whole := append(t.seen, b...)
		t.seen, t.eof = whole, true
		if at.out.Body == t {
			at.out.Body = io.NopCloser(bytes.NewReader(whole))
			at.out.ContentLength = int64(len(whole))
			at.out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(whole)), nil }
		}
	}
	if t.over || int64(len(t.seen)) > t.max {
		return nil, gateway.NewProblem(http.StatusRequestEntityTooLarge, "body_too_large",
			fmt.Sprintf("a call held for its owner may carry at most %d bytes", t.max))
	}
	return t.seen, nil
}

// bodyTap keeps what is read of a body while the substitution reads it
// (off afterwards: a body streamed to the upstream is not kept).
type bodyTap struct {
	src  io.ReadCloser
	seen []byte
	max  int64
	eof  bool
	over bool // more than max was read
	off  bool
}

func (t *bodyTap) Read(p []byte) (int, error) {
	n, err := t.src.Read(p)
	if !t.off {
		if int64(len(t.seen)+n) > t.max {
			t.over = true
		} else {
			t.seen = append(t.seen, p[:n]...)
		}
		t.eof = err == io.EOF
	}
	return n, err
}

func (t *bodyTap) Close() error { return t.src.Close() }
