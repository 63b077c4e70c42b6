package api

import (
	"html/template"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/keygate/keygate/caddymodule/gateway"
	"github.com/keygate/keygate/oauth"
	"github.com/keygate/keygate/store"
	"go.uber.org/zap"
)

// oauthRoutes registers connecting an OAuth key (admin) and the
// providers' callback (no admin token: the single-use state authenticates
// it).
func (h *APIHandler) oauthRoutes(m *http.ServeMux) {
	for _, p := range []string{"{package}", "{scope}/{pkg}"} {
		m.HandleFunc("POST /v1/keychains/{id}/connect/"+p+"/{key}", h.admin(h.connectOAuth))
	}
	m.HandleFunc("GET "+oauth.CallbackPath, h.oauthCallback)
	m.HandleFunc("POST "+oauth.CallbackPath, h.oauthConfirm)
	h.confirmOrigin = http.NewCrossOriginProtection()
	if u, err := url.Parse(h.app.PublicURL); err == nil && u.Scheme != "" && u.Host != "" {
		// Behind a proxy that rewrites Host, the browser's Origin is public_url's.
		_ = h.confirmOrigin.AddTrustedOrigin(u.Scheme + "://" + u.Host)
	}
}

func (h *APIHandler) connectOAuth(r *http.Request) (int, any, error) {
	kc, pkg, key := r.PathValue("id"), pathPackage(r), r.PathValue("key")
	u, err := h.app.OAuth().Connect(kc, pkg, key)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]string{"authorize_url": u}, nil
}

// oauthCallback exchanges a connect's code and shows the owner which
// account the provider connected, with a form that confirms it (a
// problem document or JSON to a client that asks for JSON): nothing is
// stored until that same browser confirms (oauthConfirm). Every callback
// is confirmed so, whoever started the connect: the person in the browser
// is the one who knows which account they meant. Its answers name the
// key, package and account, never the code or state.
//
// Caddy's access line would carry the request URI, code and state
// included, so it is skipped; keygate logs the callback itself without
// them.
func (h *APIHandler) oauthCallback(w http.ResponseWriter, r *http.Request) {
	caddyhttp.SetVar(r.Context(), caddyhttp.LogSkipVar, true)
	rec := caddyhttp.NewResponseRecorder(w, nil, nil)
	w = rec
	defer func() {
		h.logger.Info("oauth callback", zap.String("remote_ip", remoteIP(r)), zap.Int("status", rec.Status()),
			zap.Bool("code", r.URL.Query().Has("code")), zap.String("provider_error", oauthErrorWord(r.URL.Query().Get("error"))))
	}()
	q := r.URL.Query()
	if p := h.checkConnectBinding(w, r, q.Get("state")); p != nil {
		if wantsJSON(r) {
			gateway.WriteProblem(w, p)
			return
		}
		writeOAuthPage(w, p.Status, oauthPage{Title: "Not connected", Message: oauthFailureMessage(p)})
		return
	}
	nonce, browser := gateway.NewConnectNonce()
	p, err := h.app.OAuth().Callback(r.Context(), q.Get("code"), q.Get("state"), q.Get("error"), browser)
	if err != nil {
		p := gateway.ToProblem(err)
		if wantsJSON(r) {
			gateway.WriteProblem(w, p)
			return
		}
		writeOAuthPage(w, p.Status, oauthPage{Title: "Not connected", Message: oauthFailureMessage(p)})
		return
	}
	http.SetCookie(w, gateway.PendingCookieFor(p.ID, nonce, h.overTLS(r), int(store.OAuthPendingTTL.Seconds())))
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "pending", "pending": p.ID, "keychain": p.Keychain, "package": p.Package,
			"key": p.Key, "account": p.Account, "confirm_by": p.ExpiresAt, "scopes": p.Scopes})
		return
	}
	h.writeConfirmPage(w, p)
}

// checkConnectBinding refuses the callback of a connect that the owners'
// page bound to another browser, leaving its state for that browser; a
// bound one that holds has its cookie cleared.
func (h *APIHandler) checkConnectBinding(w http.ResponseWriter, r *http.Request, state string) *gateway.Problem {
	digest, bound, err := h.app.Store().OAuthStateBinding(state)
	switch {
	case err != nil:
		return gateway.ToProblem(err)
	case !bound:
		return nil
	case !gateway.ConnectBindingHolds(r, state, digest):
		return gateway.NewProblem(http.StatusBadRequest, "oauth_browser",
			"this connect was started in another browser; start connecting again from the owners' page in this one")
	}
	http.SetCookie(w, gateway.ConnectBindingCookieFor(state, "", h.overTLS(r), 0))
	return nil
}

// overTLS reports whether the browser reached keygate over TLS: Caddy
// terminated it, or public_url says a proxy in front did.
func (h *APIHandler) overTLS(r *http.Request) bool {
	return r.TLS != nil || strings.HasPrefix(h.app.PublicURL, "https://")
}

// oauthFailureMessage says what went wrong in the owner's words.
func oauthFailureMessage(p *gateway.Problem) string {
	switch p.Reason {
	case "oauth_state":
		return "This link has expired or was already used. Start connecting again from the owners' page. Nothing was saved."
	case "oauth_browser":
		return "This connect was started in another browser, so it cannot be finished in this one. If you meant to connect an account, start again from your owners' page. Nothing was saved."
	case "oauth_pending":
		return "This connection is no longer waiting: it was already confirmed or cancelled, or it waited more than 10 minutes. Start connecting again from the owners' page if you still need it."
	case "cross_origin":
		return "This confirmation did not come from keygate's own page, so it was refused. Nothing was saved."
	case "oauth_bad_confirm":
		return "This confirmation was incomplete. Nothing was saved."
	case "oauth_denied":
		return "The provider did not grant access (the request was declined). Nothing was saved."
	case "oauth_bad_callback":
		return "The provider sent back an incomplete answer. Start connecting again. Nothing was saved."
	case "oauth_exchange", "oauth_unavailable":
		return "The provider did not issue a token. Try again in a moment. Nothing was saved."
	case "oauth_config":
		return "This key is not set up for connecting (" + p.Detail + "). Nothing was saved."
	}
	return "keygate could not finish connecting. Try again in a moment. Nothing was saved."
}

func wantsJSON(r *http.Request) bool {
	a := r.Header.Get("Accept")
	return strings.Contains(a, "application/json") || strings.Contains(a, "application/problem+json")
}

type oauthPage struct {
	Title, Message, Link string
}

var oauthPageTmpl = template.Must(template.New("oauth").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{{.Title}} · keygate</title></head>
<body style="font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem">
<h1>{{.Title}}</h1><p>{{.Message}}</p>{{if .Link}}<p><a href="{{.Link}}">Back to the owners' page</a></p>{{end}}
</body></html>
`))

func writeOAuthPage(w http.ResponseWriter, status int, p oauthPage) {
	setOAuthPageHeaders(w)
	w.WriteHeader(status)
	_ = oauthPageTmpl.Execute(w, p)
}

func setOAuthPageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer") // the URL held the code
	// No other site may frame it (its confirm button is the end of a
	// connect), and its one form posts back to keygate only.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
}

// remoteIP is the caller's address without the port.
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// oauthErrorWord is a provider's error parameter when it is one of RFC
// 6749's codes, else "other": the parameter is the caller's to choose.
func oauthErrorWord(e string) string {
	switch e {
	case "", "access_denied", "invalid_request", "unauthorized_client", "unsupported_response_type", "invalid_scope", "server_error", "temporarily_unavailable":
		return e
	}
	return "other"
}
