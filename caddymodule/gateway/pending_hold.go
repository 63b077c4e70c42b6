package gateway

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/keygate/keygate/policy"
	"github.com/keygate/keygate/store"
)

// What the flows call to hold a call (see pending.go).

// PreferenceApplied is the header that says a call waited (RFC 7240).
const PreferenceApplied = "Preference-Applied"

// PreferWait reads the caller's Prefer: wait=<s>, at most
// approval_wait_max; 0 when the caller did not ask to wait.
func (a *App) PreferWait(h http.Header) (time.Duration, *Problem) {
	secs, ok, err := policy.PreferWait(h.Values("Prefer"))
	if err != nil {
		p := NewProblem(http.StatusBadRequest, "invalid", err.Error())
		p.Field = "Prefer"
		return 0, p
	}
	if !ok {
		return 0, nil
	}
	return min(time.Duration(secs)*time.Second, a.approvalWaitMax()), nil
}

// Holdable reports whether an answer is one the owner can change while
// the call waits: a value not set, or a grant or key approval missing.
func Holdable(p *Problem) bool {
	switch {
	case p == nil:
		return false
	case p.Status == http.StatusPreconditionRequired:
		return p.Reason == "missing_keys"
	case p.Status == http.StatusForbidden:
		return p.Reason == "no_grant" || p.Reason == "not_approved"
	}
	return false
}

// HoldRetry holds a call whose answer would be prob (see Holdable) for up
// to wait. Each time the keychain's values or grants change, on any node,
// it runs decide again, as if the call had just arrived; it returns
// decide's answer once that is no longer holdable, or the last answer when
// the wait runs out or the owner refuses.
func (a *App) HoldRetry(ctx context.Context, rec store.HeldCall, prob *Problem, wait time.Duration, decide func() *Problem) (answer *Problem) {
	rec.Kind, rec.Reason = heldGrant, prob.Reason
	if prob.Status == http.StatusPreconditionRequired {
		rec.Kind = heldValue
	}
	w, deadline, end, p := a.beginHold(&rec, wait)
	if p != nil {
		return p
	}
	defer func() { end(answer) }()
	// A change signalled by another node may arrive before that node's
	// cache notification does: after a change that did not let the call
	// through, decide again a few times in the next seconds. The first
	// recheck also covers a change made between the first decision and
	// the call's parking, whose signal found no call to wake.
	recheck, rechecks := time.After(recheckAfter[0]), 1
	for {
		switch o := a.park(ctx, &rec, w, deadline, recheck); o {
		case holdChanged, holdRecheck, holdApproved, holdApprovedShape:
			if prob = decide(); !Holdable(prob) {
				_, _ = a.Store().DropHeld(rec.Keychain, rec.ID)
				return prob
			}
			if o != holdRecheck {
				rechecks = 0
			}
			recheck = nil
			if rechecks < len(recheckAfter) {
				recheck = time.After(recheckAfter[rechecks])
				rechecks++
			}
		case holdGone:
			return callerGone()
		default: // timed out or refused: answer as before
			return prob
		}
	}
}

// recheckAfter spaces the decisions made again after a change.
var recheckAfter = []time.Duration{50 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond, time.Second}

// HoldApproval holds a call that an approve rule of the manifest covers
// until the owner decides; nil means approved. A shape the owner approved
// for a time passes at once.
func (a *App) HoldApproval(ctx context.Context, rec store.HeldCall, wait time.Duration) (answer *Problem) {
	if ok, err := a.Store().ShapeApproved(rec.Keychain, rec.Shape); err != nil {
		return ToProblem(err)
	} else if ok {
		return nil
	}
	rec.Kind, rec.Reason = heldApprove, "approval_required"
	w, deadline, end, p := a.beginHold(&rec, wait)
	if p != nil {
		return p
	}
	defer func() { end(answer) }()
	for {
		switch a.park(ctx, &rec, w, deadline, nil) {
		case holdChanged:
			continue // approve calls wait for a decision, not a change
		case holdApproved, holdApprovedShape:
			return nil
		case holdRefused:
			return NewProblem(http.StatusForbidden, "refused", "the keychain's owner refused this call")
		case holdGone:
			return callerGone()
		default:
			return NewProblem(http.StatusForbidden, "approval_required",
				fmt.Sprintf("this call needs the keychain owner's approval each time; none came within %s", wait))
		}
	}
}

// callerGone is the audited answer of a call whose caller went away while
// held; nobody reads it.
func callerGone() *Problem {
	return NewProblem(http.StatusRequestTimeout, "caller_gone", "the caller went away while the call was held")
}

// MarkWaited adds Preference-Applied: wait to a problem answer.
func MarkWaited(p *Problem) *Problem {
	if p != nil {
		h := make(http.Header, len(p.headersExtra)+1)
		for k, v := range p.headersExtra {
			h[k] = v
		}
		h.Set(PreferenceApplied, "wait")
		p.headersExtra = h
	}
	return p
}

// Approval settings (Caddyfile approval_max_pending, approval_wait_max).
const (
	defaultApprovalMaxPending = 20
	defaultApprovalWaitMax    = 120 * time.Second
)

func (a *App) approvalMaxPending() int {
	if a.ApprovalMaxPending == 0 {
		return defaultApprovalMaxPending
	}
	return a.ApprovalMaxPending
}

func (a *App) approvalWaitMax() time.Duration {
	if a.ApprovalWaitMax == 0 {
		return defaultApprovalWaitMax
	}
	return time.Duration(a.ApprovalWaitMax)
}

func (a *App) validateHeld() error {
	if a.ApprovalMaxPending < 0 || a.ApprovalMaxPending > 100000 {
		return fmt.Errorf("keygate: approval_max_pending must be between 1 and 100000, got %d", a.ApprovalMaxPending)
	}
	if a.ApprovalWaitMax < 0 || time.Duration(a.ApprovalWaitMax) > time.Hour {
		return fmt.Errorf("keygate: approval_wait_max must be between 1s and 1h")
	}
	return nil
}

// HoldWaitMax is the longest a call is held (approval_wait_max).
func (a *App) HoldWaitMax() time.Duration { return a.approvalWaitMax() }
