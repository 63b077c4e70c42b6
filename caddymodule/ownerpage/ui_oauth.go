package ownerpage

import (
	"errors"
	"net/http"
	"time"

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

// connectOAuth starts connecting an OAuth key of the owner's keychain and
// sends the browser to the provider (POST, then 303 to the authorize URL).
func (h *Page) connectOAuth(w http.ResponseWriter, r *http.Request, o *owner) {
	kc, ok := h.ownedKeychain(r.PathValue("id"), o)
	if !ok {
		h.renderError(w, r, http.StatusNotFound, "There is no such keychain among yours.")
		return
	}
	pkg, key := r.PostForm.Get("package"), r.PostForm.Get("name")
	u, err := h.app.OAuth().Connect(kc.ID, pkg, key)
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
	uiHeaders(w)
	http.Redirect(w, r, u, http.StatusSeeOther)
}

func (h *Page) friendlyOAuth(err error) (int, string) {
	if errors.Is(err, oauth.ErrConfig) {
		return http.StatusBadRequest, "This key cannot be connected yet: the package's OAuth client is not fully set up. Ask the platform's operator."
	}
	return h.friendly(err)
}
