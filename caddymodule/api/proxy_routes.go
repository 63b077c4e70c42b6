package api

import (
	"encoding/pem"
	"net/http"
	"time"

	"github.com/keygate/keygate/caddymodule/gateway"
	"github.com/keygate/keygate/store"
)

// proxyRoutes registers the proxy site's CA: its certificate for anyone
// (clients must trust it, and it is public), its rotation for the admin.
func (h *APIHandler) proxyRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /v1/proxy/ca.pem", h.proxyCAPEM)
	m.HandleFunc("POST /v1/proxy/ca/rotate", h.admin(h.rotateProxyCA))
	m.HandleFunc("GET /v1/proxy/placeholders", h.proxyPlaceholders)
}

// proxyCAPEM serves every CA clients should trust now, newest first: the
// current one and those rotated away within their overlap. The first call
// on a new store makes the CA.
func (h *APIHandler) proxyCAPEM(w http.ResponseWriter, r *http.Request) {
	if err := h.app.AwaitReady(r.Context()); err != nil {
		gateway.WriteProblem(w, gateway.ToProblem(err))
		return
	}
	cas, err := h.app.Store().EnsureProxyCA()
	if err != nil {
		gateway.WriteProblem(w, gateway.ToProblem(err))
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "application/x-pem-file")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(trustedCAPEM(cas, time.Now()))
}

func trustedCAPEM(cas []store.ProxyCA, now time.Time) []byte {
	var out []byte
	for _, ca := range cas {
		clear(ca.Key)
		if ca.Trusted(now) {
			out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.CertDER})...)
		}
	}
	return out
}

// maxCAOverlap bounds how long a rotated CA stays trusted.
const maxCAOverlap = 365 * 24 * time.Hour

func (h *APIHandler) rotateProxyCA(r *http.Request) (int, any, error) {
	var body struct {
		Overlap string `json:"overlap"`
	}
	if err := decodeBody(r, &body); err != nil {
		return 0, nil, err
	}
	overlap := 7 * 24 * time.Hour
	if body.Overlap != "" {
		d, err := time.ParseDuration(body.Overlap)
		if err != nil || d < 0 || d > maxCAOverlap {
			return 0, nil, badRequest("overlap must be a duration from 0s to 8760h, such as 168h")
		}
		overlap = d
	}
	if _, err := h.app.Store().EnsureProxyCA(); err != nil {
		return 0, nil, err
	}
	cas, err := h.app.Store().RotateProxyCA(overlap)
	if err != nil {
		return 0, nil, err
	}
	if err := h.recordChange(r, "admin", gateway.ActionProxyCARotate, "", "", "", nil); err != nil {
		return 0, nil, err
	}
	now := time.Now()
	type caView struct {
		ID         string    `json:"id"`
		CreatedAt  time.Time `json:"created_at"`
		RetiredAt  time.Time `json:"retired_at,omitzero"`
		TrustUntil time.Time `json:"trust_until,omitzero"`
		Trusted    bool      `json:"trusted"`
	}
	views := []caView{}
	for _, ca := range cas {
		clear(ca.Key)
		views = append(views, caView{ID: ca.ID, CreatedAt: ca.CreatedAt, RetiredAt: ca.RetiredAt, TrustUntil: ca.TrustUntil, Trusted: ca.Trusted(now)})
	}
	return http.StatusOK, map[string]any{"cas": views, "pem": string(trustedCAPEM(cas, now))}, nil
}
