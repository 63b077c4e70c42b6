package ownerpage

import (
	"crypto/subtle"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/keygate/keygate/caddymodule/gateway"
	"github.com/keygate/keygate/store"
)

// sessionCookie holds an owner's session id. Path=/ui keeps it away from
// the management API and from any other site on the same host.
const sessionCookie = "keygate_owner"

// storeDownMessage answers an owner while the store does not answer.
const storeDownMessage = "keygate cannot reach its database right now. Try again in a moment."

// owner is who a /ui/ request comes from.
type owner struct {
	id        string // the keychains' owner
	csrf      string // the token forms must carry
	sessionID string // "" when signed in by a platform JWT on this request
}

// errNoOwner means the request is not signed in; errBadOwner that it
// presented a credential that does not hold.
var (
	errNoOwner  = errors.New("not signed in")
	errBadOwner = errors.New("sign-in refused")
)

// identify finds the owner of a request: a platform JWT as a Bearer token
// (when owner_issuer is set), else the session cookie. Other Authorization
// schemes are left alone, so an operator may put basic_auth in front of
// the page.
func (h *Page) identify(r *http.Request) (*owner, error) {
	if tok, ok := gateway.BearerToken(r.Header.Get("Authorization")); ok && h.issuer != nil {
		id, err := h.issuer.verify(tok)
		if err != nil {
			return nil, errBadOwner
		}
		return &owner{id: id, csrf: bearerCSRF(h.app.SharedKey("owner csrf"), id)}, nil
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil, errNoOwner
	}
	sess, err := h.app.Store().GetOwnerSession(c.Value)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNoOwner
	}
	if err != nil {
		return nil, err
	}
	return &owner{id: sess.Owner, csrf: sess.CSRF, sessionID: c.Value}, nil
}

// checkForm refuses a state-changing request that a page on another site
// could have made: the browser's Sec-Fetch-Site and Origin must say it
// came from this site, and the form must carry the owner's CSRF token.
func (h *Page) checkForm(r *http.Request, o *owner) bool {
	if err := h.cop.Check(r); err != nil {
		return false
	}
	got := r.PostForm.Get("csrf")
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(o.csrf)) == 1
}

// setSessionCookie starts the browser's session: HttpOnly so no script
// reads it, SameSite=Strict so no other site's request carries it, Secure
// whenever the page came over TLS.
func (h *Page) setSessionCookie(w http.ResponseWriter, r *http.Request, id string, expires time.Time) {
	http.SetCookie(w, &http.Cookie{
		Name:     sessionCookie,
		Value:    id,
		Path:     "/ui",
		Expires:  expires,
		MaxAge:   int(expires.Sub(gateway.Now()).Seconds()),
		HttpOnly: true,
		Secure:   h.overTLS(r),
		SameSite: http.SameSiteStrictMode,
	})
}

// overTLS reports whether the browser reached this page over TLS: Caddy
// terminated it, or public_url says a proxy in front did.
func (h *Page) overTLS(r *http.Request) bool {
	return r.TLS != nil || strings.HasPrefix(h.app.PublicURL, "https://")
}

func (h *Page) clearSessionCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{
		Name:     sessionCookie,
		Value:    "",
		Path:     "/ui",
		MaxAge:   -1,
		HttpOnly: true,
		Secure:   h.overTLS(r),
		SameSite: http.SameSiteStrictMode,
	})
}

// startSession replaces the browser's session, if any, with a new one for
// ownerID: a session id is never reused across sign-ins.
func (h *Page) startSession(w http.ResponseWriter, r *http.Request, ownerID string) error {
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
		if err := h.app.Store().DeleteOwnerSession(c.Value); err != nil {
			return err
		}
	}
	id, sess, err := h.app.Store().CreateOwnerSession(ownerID, time.Duration(h.SessionTTL))
	if err != nil {
		return err
	}
	h.setSessionCookie(w, r, id, sess.Expires)
	return nil
}

// loginLinkPage serves GET /ui/login?t=<token>.
//
// The token travels in the URL, so Caddy's access log records it. That is
// harmless by construction: the token is consumed while this request is
// handled, before the access log line is written, and a consumed token is
// worth nothing. It is single use, lives 15 minutes by default, and only
// its SHA-256 is kept. The page answers with no-referrer, so the URL does
// not travel on either.
func (h *Page) loginLinkPage(w http.ResponseWriter, r *http.Request) {
	tok := r.URL.Query().Get("t")
	// A HEAD (link previews, some mail scanners) must not spend the link;
	// its token is then still good, so its access log line is skipped.
	if r.Method == http.MethodHead && tok != "" {
		caddyhttp.SetVar(r.Context(), caddyhttp.LogSkipVar, true)
	}
	if r.Method == http.MethodHead || tok == "" {
		h.renderPage(w, r, http.StatusOK, "login.html", &pageData{Title: "Sign in", Issuer: h.issuer != nil})
		return
	}
	link, err := h.app.Store().TakeOwnerLink(tok)
	if err == nil {
		// The keychain may have gone since the link was made.
		_, err = h.app.Store().GetKeychain(link.Keychain)
	}
	ok := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		h.logger.Error("taking an owner sign-in link", zap.Error(err))
		h.renderError(w, r, http.StatusServiceUnavailable, storeDownMessage)
		return
	}
	if !ok {
		h.renderPage(w, r, http.StatusUnauthorized, "login.html", &pageData{
			Title:  "Sign in",
			Issuer: h.issuer != nil,
			Error:  "This sign-in link cannot be used: it was used already, has expired, or was copied incompletely. Ask your keygate operator for a new one.",
		})
		return
	}
	h.finishSignIn(w, r, link.Owner, "login_link", link.Keychain, "/ui/keychains/"+url.PathEscape(link.Keychain))
}

// sessionExchange serves POST /ui/session: a platform JWT in
// Authorization becomes a session cookie.
func (h *Page) sessionExchange(w http.ResponseWriter, r *http.Request) {
	if h.issuer == nil {
		h.renderPage(w, r, http.StatusNotFound, "error.html", &pageData{Title: "Not found", Error: "This keygate does not accept platform sign-in."})
		return
	}
	// Only from the header: a token taken from a form field would let any
	// site sign a victim's browser in as the attacker (login CSRF), who
	// would then receive the secrets the victim types in.
	tok, ok := gateway.BearerToken(r.Header.Get("Authorization"))
	ownerID, err := h.issuer.verify(tok)
	if !ok || err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="keygate"`)
		h.renderPage(w, r, http.StatusUnauthorized, "login.html", &pageData{
			Title: "Sign in", Issuer: true,
			Error: "Your platform's sign-in token was not accepted. Sign in to the platform again and retry.",
		})
		return
	}
	h.finishSignIn(w, r, ownerID, "issuer", "", "/ui/")
}

// finishSignIn opens the session, audits the sign-in and sends the
// browser on. It answers with a page that moves on by itself rather than a
// 303: a redirect that follows a link from another site would not carry
// the new SameSite=Strict cookie, while this page's own navigation does.
func (h *Page) finishSignIn(w http.ResponseWriter, r *http.Request, ownerID, via, keychain, next string) {
	if err := h.startSession(w, r, ownerID); err != nil {
		h.logger.Error("starting an owner session", zap.Error(err))
		if errors.Is(err, store.ErrUnavailable) {
			h.renderError(w, r, http.StatusServiceUnavailable, storeDownMessage)
			return
		}
		h.renderError(w, r, http.StatusInternalServerError, "keygate could not sign you in. Try again in a moment.")
		return
	}
	if err := h.ownerAudit(r, ownerID, gateway.ActionOwnerLogin, keychain, "", via); err != nil {
		h.clearSessionCookie(w, r)
		h.renderError(w, r, http.StatusServiceUnavailable, auditDownMessage)
		return
	}
	h.renderPage(w, r, http.StatusOK, "signedin.html", &pageData{
		Title:   "Signed in",
		Owner:   ownerID,
		Next:    next,
		Refresh: template.HTMLAttr(`content="0; url=` + template.HTMLEscapeString(next) + `"`),
	})
}

// logout serves POST /ui/logout.
func (h *Page) logout(w http.ResponseWriter, r *http.Request, o *owner) {
	if o.sessionID != "" {
		if err := h.app.Store().DeleteOwnerSession(o.sessionID); err != nil {
			h.logger.Error("ending an owner session", zap.Error(err))
			h.renderError(w, r, http.StatusServiceUnavailable, storeDownMessage)
			return
		}
	}
	h.clearSessionCookie(w, r)
	h.renderPage(w, r, http.StatusOK, "login.html", &pageData{Title: "Signed out", Issuer: h.issuer != nil, Notice: "You are signed out."})
}

// mintLoginLink serves POST /v1/keychains/{id}/login-link (admin): a
// one-time link that signs in the keychain's owner.
func (h *Page) mintLoginLink(r *http.Request) (int, any, error) {
	kc, err := h.app.Store().GetKeychain(r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	tok, exp, err := h.app.Store().CreateOwnerLink(kc.Owner, kc.ID, time.Duration(h.LoginLinkTTL))
	if err != nil {
		return 0, nil, err
	}
	if err := h.app.RecordChange(r.Context(), gateway.Change{Actor: "admin", Action: gateway.ActionOwnerLoginLink, Keychain: kc.ID}); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{
		"url":        h.baseURL(r) + "/ui/login?t=" + url.QueryEscape(tok),
		"expires_at": exp.UTC(),
		"owner":      kc.Owner,
		"keychain":   kc.ID,
	}, nil
}

// baseURL is public_url, else the scheme and host this request came to.
func (h *Page) baseURL(r *http.Request) string {
	if h.app.PublicURL != "" {
		return h.app.PublicURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// ownerAudit records what an owner did, as "owner:<owner>".
func (h *Page) ownerAudit(r *http.Request, ownerID, action, keychain, pkg, reason string, keys ...string) error {
	return h.app.RecordChange(r.Context(), gateway.Change{Actor: "owner:" + ownerID, Action: action, Keychain: keychain, Package: pkg, Reason: reason, Keys: keys})
}
