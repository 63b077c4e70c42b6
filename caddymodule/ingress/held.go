package ingress

import (
	"cmp"
	"net/http"
	"net/url"

	"github.com/keygate/keygate/caddymodule/gateway"
	"github.com/keygate/keygate/store"
)

// holdIfAsked holds a call the owner can still let through (a value not
// set, a grant or key approval missing) when its caller sent Prefer:
// wait=<s>, and decides again each time the keychain changes. It returns
// the decision as it stands then; without a wait it returns what it got.
func (h *PackageHandler) holdIfAsked(w http.ResponseWriter, r *http.Request, ev *store.AuditEvent, call *ingressCall, u *url.URL, prob *gateway.Problem) (*ingressCall, *url.URL, *gateway.Problem) {
	if !gateway.Holdable(prob) || ev.Keychain == "" || ev.Package == "" {
		return call, u, prob
	}
	wait, p := h.app.PreferWait(r.Header)
	if p != nil || wait <= 0 {
		return call, u, cmp.Or(p, prob)
	}
	w.Header().Set(gateway.PreferenceApplied, "wait")
	rec := store.HeldCall{Keychain: ev.Keychain, Package: ev.Package, Key: prob.Key, Flow: "ingress",
		Method: r.Method, Host: r.Host, Path: r.URL.Path, BodySize: max(r.ContentLength, 0), RequestID: ev.RequestID}
	if len(prob.MissingKeys) > 0 {
		rec.Key = prob.MissingKeys[0].Name
	}
	prob = h.app.HoldRetry(r.Context(), rec, prob, wait, func() *gateway.Problem {
		var p *gateway.Problem
		call, u, p = h.decide(r, ev)
		return p
	})
	return call, u, prob
}
