package egress

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
	"github.com/keygate/keygate/scrub"
	"github.com/keygate/keygate/store"
)

const (
	// maxApproveBody bounds the body of a call held for approval: it is
	// read whole to be hashed before anything is sent.
	maxApproveBody = 10 << 20
	// maxShownBody: a JSON body under this is shown to the owner.
	maxShownBody = 4 << 10
)

// holdIfAsked holds the call when the owner can still let it through and
// the caller sent Prefer: wait=<s> (deciding again on each change of the
// keychain), or when the manifest's approve rules cover it (every time,
// waiting for the owner's decision). waited says the call was held.
func (t *Transport) holdIfAsked(req *http.Request, headerTok string, ev *store.AuditEvent, host, port string,
	out *http.Request, sc *scrub.Scrubber, approve []store.ApproveRule, prob *gateway.Problem) (*http.Request, *scrub.Scrubber, *gateway.Problem, bool) {
	if prob == nil {
		return t.holdForApproval(req, headerTok, ev, host, port, out, sc, approve)
	}
	if !gateway.Holdable(prob) || ev.Keychain == "" {
		return out, sc, prob, false
	}
	wait, p := t.app.PreferWait(req.Header)
	if p != nil || wait <= 0 {
		return out, sc, cmp.Or(p, prob), false
	}
	rec := store.HeldCall{Keychain: ev.Keychain, Package: ev.Package, Key: t.Secret, Flow: "egress",
		Method: req.Method, Host: host, Path: req.URL.RequestURI(), BodySize: max(req.ContentLength, 0), RequestID: ev.RequestID}
	prob = t.app.HoldRetry(req.Context(), rec, prob, wait, func() *gateway.Problem {
		var p *gateway.Problem
		out, sc, approve, p = t.authorize(req, headerTok, ev, host, port)
		return p
	})
	if prob == nil {
		out, sc, prob, _ = t.holdForApproval(req, headerTok, ev, host, port, out, sc, approve)
	}
	return out, sc, gateway.MarkWaited(prob), true
}

// holdForApproval holds an authorized call that one of its key's approve
// rules (as authorize read them) covers until the owner decides, showing
// them the request. An approved call is authorized again, with the body
// the owner saw: it goes on as things stand at the decision (a grant
// revoked or a value deleted meanwhile stops it; a value rotated is the
// new one), not as they stood when it was held.
func (t *Transport) holdForApproval(req *http.Request, headerTok string, ev *store.AuditEvent, host, port string, out *http.Request, sc *scrub.Scrubber, approve []store.ApproveRule) (*http.Request, *scrub.Scrubber, *gateway.Problem, bool) {
	if len(approve) == 0 || !policy.ApproveMatch(approve, req.Method, host, port, req.URL.Path) {
		return out, sc, nil, false
	}
	wait, p := t.app.PreferWait(req.Header)
	if p != nil {
		return nil, nil, p, false
	}
	if wait <= 0 {
		wait = t.app.HoldWaitMax()
	}
	body, p := readApproveBody(out)
	if p != nil {
		return nil, nil, p, false
	}
	sum := sha256.Sum256(body)
	rec := store.HeldCall{Keychain: ev.Keychain, Package: ev.Package, Key: t.Secret, Flow: "egress",
		Method: req.Method, Host: host, Path: req.URL.RequestURI(), BodySize: int64(len(body)),
		BodySHA256: hex.EncodeToString(sum[:]), RequestID: ev.RequestID}
	if len(body) < maxShownBody && json.Valid(body) {
		rec.Body = json.RawMessage(body)
	}
	rec.Shape = gateway.ShapeOf(rec).ID()
	if p := t.app.HoldApproval(req.Context(), rec, wait); p != nil {
		return nil, nil, gateway.MarkWaited(p), true
	}
	req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	out, sc, _, p = t.authorize(req, headerTok, ev, host, port)
	return out, sc, gateway.MarkWaited(p), true
}

// readApproveBody reads out's body whole and puts it back, so that what
// is sent is exactly what was hashed.
func readApproveBody(out *http.Request) ([]byte, *gateway.Problem) {
	if out.Body == nil || out.Body == http.NoBody {
		return nil, nil
	}
	b, err := io.ReadAll(io.LimitReader(out.Body, maxApproveBody+1))
	out.Body.Close()
	if err != nil {
		return nil, gateway.NewProblem(http.StatusBadRequest, "body_unreadable", "the request body could not be read")
	}
	if len(b) > maxApproveBody {
		return nil, gateway.NewProblem(http.StatusRequestEntityTooLarge, "body_too_large",
			fmt.Sprintf("a call held for the owner's approval may carry at most %d bytes", maxApproveBody))
	}
	out.Body = io.NopCloser(bytes.NewReader(b))
	out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	out.ContentLength = int64(len(b))
	return b, nil
}
