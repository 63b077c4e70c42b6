package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/keygate/keygate/caddymodule/gateway"
	"github.com/keygate/keygate/caddymodule/ownerpage"
)

func init() {
	caddy.RegisterModule(APIHandler{})
}

// defaultMaxBody caps management request bodies: 413 past 1 MiB
// (docs/caddyfile.md, max_body_bytes).
const defaultMaxBody = 1 << 20

// APIHandler serves keygate's management API under /v1/ (JSON,
// authenticated with the admin token) and the owners' page under /ui/.
// Changes take effect on the next proxied request: handlers read the store
// on every request.
type APIHandler struct {
	// Largest request body in bytes. Default: 1 MiB.
	MaxBodyBytes int64 `json:"max_body_bytes,omitempty"`

	// Owners' sign-in to /ui/ (see package ownerpage).
	ownerpage.OwnerAuth

	app    *gateway.App
	codec  *gateway.PlaceholderCodec
	page   *ownerpage.Page
	mux    *http.ServeMux
	logger *zap.Logger
	// confirmOrigin refuses a connect confirmation posted from another site.
	confirmOrigin *http.CrossOriginProtection
}

// CaddyModule returns the Caddy module information.
func (APIHandler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.keygate_api",
		New: func() caddy.Module { return new(APIHandler) },
	}
}

// Provision sets up the routes.
func (h *APIHandler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	app, err := ctx.App("keygate")
	if err != nil {
		return err
	}
	h.app = app.(*gateway.App)
	if h.MaxBodyBytes == 0 {
		h.MaxBodyBytes = defaultMaxBody
	}
	if h.page, err = ownerpage.New(h.app, &h.OwnerAuth, h.MaxBodyBytes, h.logger); err != nil {
		return err
	}
	h.codec = new(gateway.PlaceholderCodec)
	h.mux = http.NewServeMux()
	h.routes()
	return nil
}

// checkMaxBodyBytes is the rule for max_body_bytes; 0 is the default
// (1 MiB), which Provision fills in.
func checkMaxBodyBytes(n int64) error {
	if n != 0 && n < 1024 {
		return fmt.Errorf("max_body_bytes must be at least 1024 (0: the default 1MiB), got %d", n)
	}
	return nil
}

// Validate checks the configuration.
func (h *APIHandler) Validate() error {
	if err := checkMaxBodyBytes(h.MaxBodyBytes); err != nil {
		return fmt.Errorf("keygate_api: %w", err)
	}
	return nil
}

func (h *APIHandler) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	if err := h.app.AwaitReady(r.Context()); err != nil {
		gateway.WriteProblem(w, gateway.ToProblem(err))
		return nil
	}
	h.mux.ServeHTTP(w, r)
	return nil
}

// apiFunc is a management route: it returns a status and a JSON body, or
// an error that gateway.ToProblem maps.
type apiFunc = func(r *http.Request) (int, any, error)

// admin wraps a route with admin-token authentication and JSON answers.
func (h *APIHandler) admin(fn apiFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := gateway.BearerToken(r.Header.Get("Authorization"))
		if p := h.app.CheckAdmin(r, tok, ok); p != nil {
			gateway.WriteProblem(w, p)
			return
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, h.MaxBodyBytes)
		}
		status, body, err := fn(r)
		if err != nil {
			gateway.WriteProblem(w, gateway.ToProblem(err))
			return
		}
		writeJSON(w, status, body)
	}
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	if status == http.StatusNoContent || body == nil {
		w.WriteHeader(status)
		return
	}
	h.Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// decodeBody reads one JSON object into v, refusing unknown fields,
// case-variant and repeated keys (strict_json.go), trailing data and
// bodies over the cap. It is the API's one JSON decoder.
func decodeBody(r *http.Request, v any) error {
	if r.Body == nil {
		return badRequest("a JSON body is required")
	}
	raw, err := readBody(r)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonProblem(err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		return badRequest("the body must hold exactly one JSON object")
	}
	if err := checkKeys(raw, reflect.TypeOf(v)); err != nil {
		var p *gateway.Problem
		if errors.As(err, &p) {
			return p
		}
		return badRequest("malformed JSON")
	}
	return nil
}

// jsonProblem explains a decoding error without echoing the body, which
// may hold a secret value.
func jsonProblem(err error) error {
	var mbe *http.MaxBytesError
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &mbe):
		return gateway.NewProblem(http.StatusRequestEntityTooLarge, "body_too_large",
			fmt.Sprintf("the request body exceeds %d bytes", mbe.Limit))
	case errors.Is(err, io.EOF):
		return badRequest("a JSON body is required")
	case errors.As(err, &syn):
		return badRequest(fmt.Sprintf("malformed JSON at byte %d", syn.Offset))
	case errors.As(err, &typ):
		p := badRequest(fmt.Sprintf("field %q must be of JSON type %s", typ.Field, typ.Type))
		p.Field = typ.Field
		return p
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		p := badRequest(fmt.Sprintf("unknown field %q", field))
		p.Field = field
		return p
	}
	return badRequest("malformed JSON")
}

func badRequest(detail string) *gateway.Problem {
	return gateway.NewProblem(http.StatusBadRequest, "invalid", detail)
}

// pathPackage returns the package name of a route, given raw
// (/v1/packages/@acme/tools) or escaped (/v1/packages/%40acme%2Ftools).
func pathPackage(r *http.Request) string {
	if scope := r.PathValue("scope"); scope != "" {
		return scope + "/" + r.PathValue("pkg")
	}
	return r.PathValue("package")
}

// audit records a management change. A failing audit sink fails the
// change's answer closed, though the change itself is already stored.
func (h *APIHandler) audit(r *http.Request, action, keychain, pkg string, keys ...string) error {
	return h.recordChange(r, "admin", action, keychain, pkg, "", keys)
}

// recordChange audits a change made through the API.
func (h *APIHandler) recordChange(r *http.Request, actor, action, keychain, pkg, reason string, keys []string) error {
	return h.app.RecordChange(r.Context(), gateway.Change{Actor: actor, Action: action, Keychain: keychain, Package: pkg, Reason: reason, Keys: keys})
}

// Interface guards
var (
	_ caddy.Provisioner           = (*APIHandler)(nil)
	_ caddy.Validator             = (*APIHandler)(nil)
	_ caddyhttp.MiddlewareHandler = (*APIHandler)(nil)
)
