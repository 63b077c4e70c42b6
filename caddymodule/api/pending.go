package api

import (
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/keygate/keygate/caddymodule/gateway"
	"github.com/keygate/keygate/policy"
	"github.com/keygate/keygate/store"
)

// Held calls waiting for a keychain's owner, for platforms that build
// their own UI (the owners' page shows the same).
func (h *APIHandler) pendingRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /v1/keychains/{id}/pending", h.admin(h.listPending))
	m.HandleFunc("POST /v1/keychains/{id}/pending/{pid}/approve", h.admin(h.approvePending))
	m.HandleFunc("POST /v1/keychains/{id}/pending/{pid}/refuse", h.admin(h.refusePending))
}

type pendingView struct {
	store.HeldCall
	Shape *policy.Shape `json:"shape,omitempty"` // what "approve this shape" covers, approve calls only
}

func viewPending(c store.HeldCall) pendingView {
	v := pendingView{HeldCall: c}
	if c.Shape != "" {
		s := gateway.ShapeOf(c)
		v.Shape = &s
	}
	return v
}

func (h *APIHandler) listPending(r *http.Request) (int, any, error) {
	id := r.PathValue("id")
	if _, err := h.app.Store().GetKeychain(id); err != nil {
		return 0, nil, err
	}
	calls, err := h.app.ListHeld(id)
	if err != nil {
		return 0, nil, err
	}
	out := make([]pendingView, 0, len(calls))
	for _, c := range calls {
		out = append(out, viewPending(c))
	}
	return http.StatusOK, map[string]any{"pending": out}, nil
}

// approvePending takes {"scope": "once"} or {"scope": "shape", "for":
// "1h"}, with the shape shown optionally repeated in "shape": it must
// then be the call's exact shape.
func (h *APIHandler) approvePending(r *http.Request) (int, any, error) {
	var body struct {
		Scope string        `json:"scope"`
		For   string        `json:"for"`
		Shape *policy.Shape `json:"shape"`
	}
	if err := decodeBody(r, &body); err != nil {
		return 0, nil, err
	}
	d := gateway.HeldDecision{Shape: body.Shape}
	switch body.Scope {
	case "once":
		if body.For != "" {
			return 0, nil, fieldProblem("for", `"for" goes with scope "shape" only`)
		}
	case "shape":
		dur, err := caddy.ParseDuration(body.For)
		if err != nil || dur < time.Second {
			return 0, nil, fieldProblem("for", `scope "shape" needs "for", a duration of at least 1s such as "1h"`)
		}
		d.For = dur
	default:
		return 0, nil, fieldProblem("scope", `must be "once" or "shape"`)
	}
	return h.decidePending(r, d)
}

func (h *APIHandler) refusePending(r *http.Request) (int, any, error) {
	if r.ContentLength != 0 {
		var body struct{}
		if err := decodeBody(r, &body); err != nil {
			return 0, nil, err
		}
	}
	return h.decidePending(r, gateway.HeldDecision{Refuse: true})
}

func (h *APIHandler) decidePending(r *http.Request, d gateway.HeldDecision) (int, any, error) {
	id := r.PathValue("id")
	if _, err := h.app.Store().GetKeychain(id); err != nil {
		return 0, nil, err
	}
	c, err := h.app.DecideHeld(r.Context(), "admin", id, r.PathValue("pid"), d)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, viewPending(c), nil
}
