package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/keygate/keygate/caddymodule/gateway"
	"github.com/keygate/keygate/policy"
	"github.com/keygate/keygate/store"
)

// placeholdersView is what keygate exec gets for a call: each usable key's
// placeholder under the key's name, worth as long as the call's token.
type placeholdersView struct {
	Keychain     string            `json:"keychain"`
	Package      string            `json:"package"`
	ExpiresAt    time.Time         `json:"expires_at"`
	Placeholders map[string]string `json:"placeholders"`
	// SigV4Secrets holds, for each key signed with sigv4, the placeholder
	// secret access key that goes with its placeholder (the access key id).
	SigV4Secrets map[string]string `json:"sigv4_secrets,omitempty"`
}

// proxyPlaceholders answers GET /v1/proxy/placeholders: the placeholders
// of the call whose invocation token is the Bearer credential, the same
// ones the package site hands out as Keygate-Placeholder-* headers. Code
// started by keygate exec runs with them in its environment. The token is
// checked as egress checks it: a revoked grant or a changed package gets
// no placeholder.
func (h *APIHandler) proxyPlaceholders(w http.ResponseWriter, r *http.Request) {
	view, p := h.placeholdersFor(r)
	if p != nil {
		gateway.WriteProblem(w, p)
		return
	}
	writeJSON(w, http.StatusOK, view)
}

func (h *APIHandler) placeholdersFor(r *http.Request) (*placeholdersView, *gateway.Problem) {
	tok, ok := gateway.BearerToken(r.Header.Get("Authorization"))
	if !ok {
		return nil, gateway.Unauthorized("send the invocation token of the call as Authorization: Bearer <token>")
	}
	tokens := h.app.Tokens()
	claims, err := tokens.VerifyInvocationToken(tok)
	if err != nil {
		if _, kerr := tokens.VerifyKeychainToken(tok); kerr == nil {
			return nil, gateway.Unauthorized("this is a keychain token; placeholders are handed out for the invocation token that keygate sent to the package")
		}
		return nil, gateway.ToProblem(err)
	}
	pkg, err := h.app.Store().PackageRecordContext(r.Context(), claims.Package)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, gateway.NewProblem(http.StatusForbidden, string(policy.PackageGone), "the package of this call is no longer registered")
	case err != nil:
		return nil, gateway.ToProblem(err)
	}
	for _, k := range claims.Keys {
		if _, p := h.app.RecheckContext(r.Context(), &claims, k, false); p != nil {
			return nil, p
		}
	}
	for _, k := range claims.AppKeys {
		if _, p := h.app.RecheckContext(r.Context(), &claims, k, true); p != nil {
			return nil, p
		}
	}
	codec, err := h.codec.Get(h.app)
	if err != nil {
		return nil, gateway.ToProblem(err)
	}
	phs, err := gateway.MintPlaceholders(codec, &claims, pkg)
	if err != nil {
		return nil, gateway.ToProblem(err)
	}
	view := &placeholdersView{Keychain: claims.Keychain, Package: claims.Package, ExpiresAt: claims.ExpiresAt, Placeholders: map[string]string{}}
	var keys []string
	for _, p := range phs {
		view.Placeholders[p.Key] = p.Value
		if p.SigV4Secret != "" {
			if view.SigV4Secrets == nil {
				view.SigV4Secrets = map[string]string{}
			}
			view.SigV4Secrets[p.Key] = p.SigV4Secret
		}
		keys = append(keys, p.Key)
	}
	if err := h.app.RecordChange(r.Context(), gateway.Change{Actor: "package", Action: gateway.ActionProxyPlaceholders,
		Keychain: claims.Keychain, Package: claims.Package, Keys: keys}); err != nil {
		return nil, gateway.ToProblem(err)
	}
	return view, nil
}
