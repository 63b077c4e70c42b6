package api

import (
	"html/template"
	"net/http"
	"net/url"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/keygate/keygate/caddymodule/gateway"
	"github.com/keygate/keygate/oauth"
	"github.com/keygate/keygate/store"
)

// maxConfirmBody bounds a confirmation's form: a pending id and an action.
const maxConfirmBody = 4096

// oauthConfirm stores (action=confirm) or discards (action=cancel) the
// pending connect the form names. It is taken only as a same-origin POST
// (the browser's Sec-Fetch-Site or Origin must say so) from the browser
// holding the pending connect's SameSite=Strict cookie; the pending id,
// random and shown only on that browser's page, is the form's CSRF token.
func (h *APIHandler) oauthConfirm(w http.ResponseWriter, r *http.Request) {
	rec := caddyhttp.NewResponseRecorder(w, nil, nil)
	w = rec
	action := "other"
	defer func() {
		h.logger.Info("oauth confirmation", zap.String("remote_ip", remoteIP(r)), zap.String("action", action), zap.Int("status", rec.Status()))
	}()
	fail := func(p *gateway.Problem) {
		if wantsJSON(r) {
			gateway.WriteProblem(w, p)
			return
		}
		writeOAuthPage(w, p.Status, oauthPage{Title: "Not connected", Message: oauthFailureMessage(p)})
	}
	if err := h.confirmOrigin.Check(r); err != nil {
		fail(gateway.NewProblem(http.StatusForbidden, "cross_origin", "a connect is confirmed only from keygate's own page"))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxConfirmBody)
	if err := r.ParseForm(); err != nil {
		fail(gateway.NewProblem(http.StatusBadRequest, "oauth_bad_confirm", "the confirmation is not a small form"))
		return
	}
	id := r.PostForm.Get("pending")
	var (
		res oauth.CallbackResult
		err error
	)
	switch action = r.PostForm.Get("action"); action {
	case "confirm":
		res, err = h.app.OAuth().Confirm(id, gateway.PendingBrowser(r, id))
	case "cancel":
		res, err = h.app.OAuth().Cancel(id, gateway.PendingBrowser(r, id))
	default:
		action = "other"
		fail(gateway.NewProblem(http.StatusBadRequest, "oauth_bad_confirm", "action must be confirm or cancel"))
		return
	}
	var p *gateway.Problem
	if err != nil {
		p = gateway.ToProblem(err)
	}
	if p == nil || p.Reason == "oauth_pending" {
		// The browser's cookie is of no more use; another browser's stays.
		http.SetCookie(w, gateway.PendingCookieFor(id, "", h.overTLS(r), 0))
	}
	if p != nil {
		fail(p)
		return
	}
	if wantsJSON(r) {
		if action == "cancel" {
			writeJSON(w, http.StatusOK, map[string]any{"status": "cancelled", "keychain": res.Keychain, "package": res.Package, "key": res.Key})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"status": "connected", "keychain": res.Keychain, "package": res.Package, "key": res.Key,
			"account": res.Account, "expires_at": res.ExpiresAt, "scopes": res.Scopes})
		return
	}
	link := h.app.OwnerPageURL(res.Keychain, res.Package)
	if action == "cancel" {
		writeOAuthPage(w, http.StatusOK, oauthPage{Title: "Not connected",
			Message: "You cancelled: nothing was saved for " + res.Key + " of " + res.Package + ".", Link: link})
		return
	}
	msg := res.Key + " of " + res.Package + " is connected"
	if res.Account != "" {
		msg += " to " + res.Account
	}
	writeOAuthPage(w, http.StatusOK, oauthPage{Title: "Connected", Message: msg + ". You can close this page.", Link: link})
}

// confirmView is what the confirmation page shows.
type confirmView struct {
	Action, Pending               string
	Account, Key, Package         string
	Keychain, KeychainName, Owner string
	Minutes                       int
}

var confirmPageTmpl = template.Must(template.New("confirm").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Confirm the account · keygate</title></head>
<body style="font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem">
<h1>Is this the account you meant?</h1>
{{if .Account}}<p>The provider connected the account <strong id="account">{{.Account}}</strong>.</p>
{{else}}<p id="account-unnamed">The provider did not name the account. Confirm only if you just signed in to the account you meant to connect.</p>
{{end}}<p>Confirming stores it as <strong>{{.Key}}</strong> of <strong>{{.Package}}</strong> in the keychain
<strong>{{if .KeychainName}}{{.KeychainName}} ({{.Keychain}}){{else}}{{.Keychain}}{{end}}</strong>{{if .Owner}} of {{.Owner}}{{end}}.
If you did not start this connect yourself, cancel.</p>
<form method="post" action="{{.Action}}">
<input type="hidden" name="pending" value="{{.Pending}}">
<button type="submit" name="action" value="confirm" id="confirm">Connect this account</button>
<button type="submit" name="action" value="cancel" id="cancel">Cancel</button>
</form>
<p><small>Nothing is saved until you confirm; this waits {{.Minutes}} minutes.</small></p>
</body></html>
`))

// writeConfirmPage shows the pending connect p to the browser that
// finished its callback.
func (h *APIHandler) writeConfirmPage(w http.ResponseWriter, p oauth.Pending) {
	v := confirmView{Action: oauth.CallbackPath, Pending: p.ID, Account: p.Account, Key: p.Key, Package: p.Package,
		Keychain: p.Keychain, Minutes: int(store.OAuthPendingTTL / time.Minute)}
	if u, err := url.Parse(h.app.OAuth().RedirectURI()); err == nil && u.Path != "" {
		v.Action = u.Path
	}
	if kc, err := h.app.Store().GetKeychain(p.Keychain); err == nil {
		v.KeychainName, v.Owner = kc.Name, kc.Owner
	}
	setOAuthPageHeaders(w)
	w.WriteHeader(http.StatusOK)
	_ = confirmPageTmpl.Execute(w, v)
}
