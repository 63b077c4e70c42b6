package ownerpage

import (
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/keygate/keygate/caddymodule/gateway"
	"github.com/keygate/keygate/oauth"
	"github.com/keygate/keygate/store"
)

// oauthRow marks a secret row whose value keygate obtains by OAuth: the
// page offers Connect (Reconnect once a token is stored but expired or
// set by hand) instead of a value field.
func oauthRow(row *secretRow, pkg string, meta *store.SecretMeta, now time.Time) {
	if row.OAuthPackage == "" {
		row.OAuthPackage = pkg
	}
	if meta == nil {
		return
	}
	row.Connected = meta.Kind == store.SecretKindOAuth
	row.ExpiresAt = meta.ExpiresAt
	row.Reconnect = !row.Connected || (!meta.ExpiresAt.IsZero() && !now.Before(meta.ExpiresAt))
}

// connectOAuth starts connecting an OAuth key of the owner's keychain,
// binds it to this browser, and answers with a page that says what is
// being connected and links to the provider. Not a redirect: the page's
// form-action 'self' (rightly) stops a form's redirect to another site.
func (h *Page) connectOAuth(w http.ResponseWriter, r *http.Request, o *owner) {
	kc, ok := h.ownedKeychain(r.PathValue("id"), o)
	if !ok {
		h.renderError(w, r, http.StatusNotFound, "There is no such keychain among yours.")
		return
	}
	pkg, key := r.PostForm.Get("package"), r.PostForm.Get("name")
	u, err := h.app.OAuth().Connect(kc.ID, pkg, key)
	if err == nil {
		err = h.bindConnect(w, r, u)
	}
	if err != nil {
		status, msg := h.friendlyOAuth(err)
		h.showKeychain(w, r, o, kc, status, msg)
		return
	}
	if err := h.ownerAudit(r, o.id, "oauth.connect", kc.ID, pkg, "", key); err != nil {
		status, msg := h.friendly(err)
		h.showKeychain(w, r, o, kc, status, msg)
		return
	}
	h.renderPage(w, r, http.StatusOK, "connecting.html", &pageData{Title: "Connect " + key, Owner: o.id, CSRF: o.csrf, Next: u,
		Connect: &connectView{Key: key, Package: pkg, Keychain: kc.ID, KeychainName: kc.Name, Owner: kc.Owner}})
}

// connectView is what the page before the provider names.
type connectView struct {
	Key, Package, Keychain, KeychainName, Owner string
}

// bindConnect binds the connect whose authorize URL is u to this browser
// (see gateway.ConnectBindingCookie): only it can finish the connect.
func (h *Page) bindConnect(w http.ResponseWriter, r *http.Request, u string) error {
	au, err := url.Parse(u)
	if err != nil {
		return err
	}
	state := au.Query().Get("state")
	nonce, digest := gateway.NewConnectNonce()
	if err := h.app.Store().BindOAuthState(state, digest); err != nil {
		return err
	}
	http.SetCookie(w, gateway.ConnectBindingCookieFor(state, nonce, h.overTLS(r), int(store.OAuthStateTTL.Seconds())))
	return nil
}

func (h *Page) friendlyOAuth(err error) (int, string) {
	if errors.Is(err, oauth.ErrConfig) {
		return http.StatusBadRequest, "This key cannot be connected yet: the package's OAuth client is not fully set up. Ask the platform's operator."
	}
	return h.friendly(err)
}
