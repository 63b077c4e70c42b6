package api

import (
	"encoding/json"
	"net/http"
	"sort"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/keygate/keygate/store"
)

// healthRoutes registers the load balancers' health check and the
// operators' status (keygate status).
func (h *APIHandler) healthRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /healthz", h.healthz)
	m.HandleFunc("GET /v1/status", h.admin(h.status))
}

// healthz answers 200 when this node's store answers, else 503. It needs
// no token and says nothing else: no version, no error, no backend.
func (h *APIHandler) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if err := h.app.Store().Ping(); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		json.NewEncoder(w).Encode(map[string]string{"status": "unavailable"})
		return
	}
	json.NewEncoder(w).Encode(map[string]string{"status": "ok"})
}

// statusView is GET /v1/status: the store, and the sites this node serves.
type statusView struct {
	Store     store.Health `json:"store"`
	Listeners []listener   `json:"listeners"`
}

type listener struct {
	Server string   `json:"server"`
	Listen []string `json:"listen"`
}

func (h *APIHandler) status(r *http.Request) (int, any, error) {
	health, err := h.app.Store().Health()
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, statusView{Store: health, Listeners: listeners()}, nil
}

// listeners are the running config's HTTP servers, by name.
func listeners() []listener {
	out := []listener{}
	app, err := caddy.ActiveContext().AppIfConfigured("http")
	if err != nil {
		return out
	}
	httpApp, ok := app.(*caddyhttp.App)
	if !ok {
		return out
	}
	for name, srv := range httpApp.Servers {
		out = append(out, listener{Server: name, Listen: srv.Listen})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Server < out[j].Server })
	return out
}
