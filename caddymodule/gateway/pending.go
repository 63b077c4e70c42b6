package gateway

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/keygate/keygate/store"
)

// Held calls (the owner at the moment of use). A held call is the
// request's own goroutine, parked on a channel until the owner acts, the
// wait runs out or the caller goes away; nothing polls per call. Its
// record in the store (store/held.go) lets every node list it and lets a
// decision on any node take it once; the decision then reaches the node
// holding the call as a signal (PostgreSQL NOTIFY, or in-process).
//
// Held calls live in memory only: a restart or a node's death ends them,
// and their callers get a connection error, never a forwarded request
// without a decision.

// Outcomes of a wait.
type holdOutcome int

const (
	holdTimedOut      holdOutcome = iota
	holdChanged                   // the keychain changed: decide again
	holdApproved                  // approved once
	holdApprovedShape             // approved for this shape, for a time
	holdRefused
	holdGone    // the caller went away
	holdRecheck // time to decide again after a change
)

// Signal messages: "c <kc>" (a keychain's values or grants changed) and
// "d <kc> <id> <once|shape|refuse>" (a decision on one held call).
const (
	sigChanged  = "c"
	sigDecision = "d"
)

var decisionOutcomes = map[string]holdOutcome{"once": holdApproved, "shape": holdApprovedShape, "refuse": holdRefused}

// heldRegistry is this node's set of parked calls, per store.
type heldRegistry struct {
	st    *store.Store
	mu    sync.Mutex
	calls map[string]*heldWaiter // by id
	perKC map[string]int
	stop  func()
}

type heldWaiter struct {
	kc, kind string
	wake     chan holdOutcome // buffered: a signal never blocks its sender
}

func newHeldRegistry(st *store.Store) *heldRegistry {
	r := &heldRegistry{st: st, calls: map[string]*heldWaiter{}, perKC: map[string]int{}}
	r.stop = st.ListenSignals(r.deliver)
	return r
}

// add parks a waiter unless kc already has limit.
func (r *heldRegistry) add(id, kc, kind string, limit int) (*heldWaiter, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.perKC[kc] >= limit {
		return nil, false
	}
	w := &heldWaiter{kc: kc, kind: kind, wake: make(chan holdOutcome, 1)}
	r.calls[id] = w
	r.perKC[kc]++
	return w, true
}

func (r *heldRegistry) remove(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if w, ok := r.calls[id]; ok {
		delete(r.calls, id)
		if r.perKC[w.kc]--; r.perKC[w.kc] <= 0 {
			delete(r.perKC, w.kc)
		}
	}
}

// count is the number of calls parked on this node (tests ask it).
func (r *heldRegistry) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}

// send tells every node, this one at once and the others by signal.
func (r *heldRegistry) send(msg string) error {
	r.deliver(msg)
	return r.st.Signal(msg)
}

// deliver applies a signal to the calls parked here. A signal may arrive
// twice (locally and back from the database); the second finds the call
// gone or its channel full, and changes nothing.
func (r *heldRegistry) deliver(msg string) {
	f := strings.Fields(msg)
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case len(f) == 2 && f[0] == sigChanged:
		for _, w := range r.calls {
			if w.kc == f[1] && w.kind != heldApprove {
				w.poke(holdChanged)
			}
		}
	case len(f) == 4 && f[0] == sigDecision:
		out, ok := decisionOutcomes[f[3]]
		if w := r.calls[f[2]]; ok && w != nil && w.kc == f[1] {
			w.poke(out)
		}
	}
}

func (w *heldWaiter) poke(o holdOutcome) {
	select {
	case w.wake <- o:
	default:
	}
}

// Kinds of held call.
const (
	heldValue   = "value"   // a value is not set: 428
	heldGrant   = "grant"   // a grant or a key's approval is missing: 403
	heldApprove = "approve" // the manifest asks the owner each time
)

// decisionGrace is how long a call whose wait ran out waits for the
// decision some node took just before: its record is gone, so a decision
// was made, and the call must not answer as if none were.
const decisionGrace = 2 * time.Second

// beginHold records rec for the owner to see and parks a waiter for it
// until deadline fires; its ID, Created and Expires are set here. end
// unparks it and counts the call's answer (nil: it went on).
func (a *App) beginHold(rec *store.HeldCall, wait time.Duration) (w *heldWaiter, deadline <-chan time.Time, end func(answer *Problem), p *Problem) {
	reg := a.shared.held
	rec.ID = "hc_" + RandomID(12)
	now := a.Now()
	rec.Created, rec.Expires = now.UTC(), now.Add(wait).UTC()
	// This node's count turns a flood away without a database round
	// trip, and is the whole count on a store of its own; on a shared
	// one the store counts too, in the transaction that records the call,
	// so that the limit holds across nodes.
	limit := a.approvalMaxPending()
	w, ok := reg.add(rec.ID, rec.Keychain, rec.Kind, limit)
	if !ok {
		return nil, nil, nil, a.tooManyHeld()
	}
	storeLimit := 0
	if a.Store().Shared() {
		storeLimit = limit
	}
	if ok, err := a.Store().PutHeldWithin(*rec, storeLimit); err != nil || !ok {
		reg.remove(rec.ID)
		if err != nil {
			return nil, nil, nil, ToProblem(err)
		}
		return nil, nil, nil, a.tooManyHeld()
	}
	a.notifyHeld(*rec)
	t := time.NewTimer(wait)
	held := heldNow.WithLabelValues(rec.Kind)
	held.Inc()
	return w, t.C, func(answer *Problem) {
		t.Stop()
		reg.remove(rec.ID)
		held.Dec()
		result := "allow"
		if answer != nil {
			result = answer.Reason
		}
		a.metrics.heldEnd(rec.Kind, result)
	}, nil
}

func (a *App) tooManyHeld() *Problem {
	p := TooManyRequests(a.approvalWaitMax())
	p.Type, p.Reason = problemTypeBase+"too_many_held", "too_many_held"
	p.Detail = "this keychain has as many calls waiting for its owner as keygate holds at once; retry later"
	return p
}

// park waits on w. A change leaves the record in place (the caller
// decides again and parks again); every other outcome ends it.
func (a *App) park(ctx context.Context, rec *store.HeldCall, w *heldWaiter, deadline, recheck <-chan time.Time) holdOutcome {
	select {
	case o := <-w.wake:
		return o // a decision's maker took the record
	case <-recheck:
		return holdRecheck
	case <-deadline:
		return a.endHeld(rec, w, holdTimedOut)
	case <-ctx.Done():
		return a.endHeld(rec, w, holdGone)
	}
}

// endHeld takes the call's record. If a decision took it first, that
// decision is on its way here and wins (within decisionGrace); a caller
// gone is gone whatever was decided.
func (a *App) endHeld(rec *store.HeldCall, w *heldWaiter, o holdOutcome) holdOutcome {
	if found, err := a.Store().DropHeld(rec.Keychain, rec.ID); found || err != nil || o == holdGone {
		return o
	}
	t := time.NewTimer(decisionGrace)
	defer t.Stop()
	for {
		select {
		case d := <-w.wake:
			if d != holdChanged {
				return d
			}
		case <-t.C:
			return o
		}
	}
}
