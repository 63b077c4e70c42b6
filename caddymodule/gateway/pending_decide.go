package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/keygate/keygate/oauth"
	"github.com/keygate/keygate/policy"
	"github.com/keygate/keygate/store"
)

// The owner's side of held calls: listing and deciding, from the API, the
// CLI (through the API) and the owners' page.

// HeldDecision is an owner's decision on one held call.
type HeldDecision struct {
	Refuse bool
	// For approves this exact shape for a time; 0 approves once.
	For time.Duration
	// Shape, when the decider names it, must be the shape shown: an
	// approval is never broader than what the owner saw.
	Shape *policy.Shape
}

// maxShapeApproval bounds "approve this shape for a time".
const maxShapeApproval = 30 * 24 * time.Hour

// ListHeld lists the calls of keychain kc waiting for its owner, on every
// node.
func (a *App) ListHeld(kc string) ([]store.HeldCall, error) {
	return a.Store().ListHeld(kc)
}

// ShapeOf is the exact shape of a held approve call.
func ShapeOf(h store.HeldCall) policy.Shape {
	return policy.Shape{Package: h.Package, Key: h.Key, Method: h.Method, Host: h.Host, Path: h.Path, BodySHA256: h.BodySHA256}
}

// DecideHeld applies d to held call id of keychain kc, once: the call's
// record is taken in one transaction, so a replayed decision, or one for
// another keychain's call, finds nothing (404). The decision is audited,
// naming the call's request id and body hash, and sent to the node that
// holds the call.
func (a *App) DecideHeld(ctx context.Context, actor, kc, id string, d HeldDecision) (store.HeldCall, error) {
	if d.For < 0 || d.For > maxShapeApproval {
		return store.HeldCall{}, NewProblem(http.StatusBadRequest, "invalid", "the approval's duration must be between 1s and 720h")
	}
	rec, err := a.Store().GetHeld(kc, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.HeldCall{}, heldNotFound(id)
	}
	if err != nil {
		return store.HeldCall{}, err
	}
	if !d.Refuse {
		if rec.Kind != heldApprove {
			return store.HeldCall{}, NewProblem(http.StatusConflict, "not_approvable",
				"this call waits for a value or a grant: set the value or approve the grant, and it goes on")
		}
		if d.Shape != nil && d.Shape.ID() != rec.Shape {
			p := NewProblem(http.StatusBadRequest, "shape_mismatch", "the shape named is not the shape of this call; an approval covers exactly the shape shown")
			p.Field = "shape"
			return store.HeldCall{}, p
		}
	}
	taken, err := a.Store().TakeHeld(kc, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.HeldCall{}, heldNotFound(id)
	}
	if err != nil {
		return store.HeldCall{}, err
	}
	action, word, reason := ActionHeldApprove, "once", "once"
	switch {
	case d.Refuse:
		action, word, reason = ActionHeldRefuse, "refuse", "refused"
	case d.For > 0:
		word, reason = "shape", "shape for "+d.For.String()
		until := a.Now().Add(d.For).UTC()
		if err := a.Store().PutShapeApproval(kc, taken.Shape, store.ShapeApproval{RequestID: taken.RequestID, Expires: until}); err != nil {
			return store.HeldCall{}, err
		}
	}
	if taken.BodySHA256 != "" {
		reason += " body_sha256 " + taken.BodySHA256
	}
	var keys []string
	if taken.Key != "" {
		keys = []string{taken.Key}
	}
	ev := store.AuditEvent{Actor: actor, Action: action, Keychain: kc, Package: taken.Package, Keys: keys,
		Decision: "ok", Reason: reason, RequestID: taken.RequestID, Host: taken.Host}
	auditErr := a.shared.audit.record(ctx, ev)
	// The call is released whatever the audit sink says: its record is
	// taken, so it could otherwise only time out.
	if err := a.shared.held.send(strings.Join([]string{sigDecision, kc, id, word}, " ")); err != nil {
		return taken, fmt.Errorf("sending the decision to the other nodes: %w", err)
	}
	a.metrics.heldDecision(word)
	return taken, auditErr
}

func heldNotFound(id string) *Problem {
	return NewProblem(http.StatusNotFound, "not_found", fmt.Sprintf("no call %q is waiting for this keychain's owner (decided, timed out, or never held here)", id))
}

// heldChangeActions are the changes that may let a held call go on: a
// value set, a grant made, an OAuth connection confirmed (the one OAuth
// event that stores a token for the owner).
var heldChangeActions = map[string]bool{ActionSecretPut: true, ActionGrantPut: true, oauth.EventConfirm: true}

// keychainChanged releases, on every node, the calls of kc held for a
// value or a grant, to decide again.
func (a *App) keychainChanged(action, kc string) {
	if kc == "" || !heldChangeActions[action] || a.shared == nil {
		return
	}
	if err := a.shared.held.send(sigChanged + " " + kc); err != nil {
		a.logger.Warn("telling the other nodes of a change for held calls failed; theirs wait until their time runs out")
	}
}
