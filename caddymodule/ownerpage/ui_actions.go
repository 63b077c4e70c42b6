package ownerpage

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/keygate/keygate/caddymodule/gateway"
	"github.com/keygate/keygate/policy"
	"github.com/keygate/keygate/store"
)

// The owners' page changes keychains through the store directly, with the
// checks of the management API, and audits each change as the owner.

// uiError is a refusal with a message written for the owner.
type uiError struct {
	status int
	msg    string
}

func (e *uiError) Error() string { return e.msg }

const auditDownMessage = "keygate cannot write its audit log right now, so it makes no changes. Try again in a moment."

// kcAction changes one of the owner's keychains and says which notice to
// show and where on the page to land.
type kcAction func(r *http.Request, o *owner, kc store.Keychain) (done, frag string, err error)

// keychainAction runs fn on the keychain of the path, if it is the
// owner's, then sends the browser back to the keychain's page (POST,
// redirect, GET), or shows the page again with a friendly error.
func (h *Page) keychainAction(fn kcAction) func(http.ResponseWriter, *http.Request, *owner) {
	return func(w http.ResponseWriter, r *http.Request, o *owner) {
		kc, ok := h.ownedKeychain(r.PathValue("id"), o)
		if !ok {
			h.renderError(w, r, http.StatusNotFound, "There is no such keychain among yours.")
			return
		}
		done, frag, err := fn(r, o, kc)
		if err != nil {
			status, msg := h.friendly(err)
			h.showKeychain(w, r, o, kc, status, msg)
			return
		}
		q := url.Values{"done": {done}}
		if f := r.PostForm.Get("focus"); f != "" {
			q.Set("package", f)
		}
		uiHeaders(w)
		http.Redirect(w, r, "/ui/keychains/"+url.PathEscape(kc.ID)+"?"+q.Encode()+"#"+frag, http.StatusSeeOther)
	}
}

// friendly turns an error into a status and a message for the owner. Store
// and policy errors name fields and keys, never a value.
func (h *Page) friendly(err error) (int, string) {
	var ue *uiError
	var verr *store.ValidationError
	var d *policy.Denial
	switch {
	case errors.As(err, &ue):
		return ue.status, ue.msg
	case errors.As(err, &verr):
		what := map[string]string{
			"value":              "The value",
			"name":               "The secret's name",
			"rotation_hint_days": "The rotation reminder",
		}[verr.Field]
		if strings.HasPrefix(verr.Field, "allowed_hosts") {
			what = "An allowed host"
		}
		if what == "" {
			what = "The field " + verr.Field
		}
		return http.StatusBadRequest, what + " " + verr.Problem + ". Nothing was saved."
	case errors.As(err, &d) && d.Reason == policy.NotRequested:
		return http.StatusBadRequest, "That package did not ask for this key, so it cannot be approved for it."
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound, "That is no longer there. The page now shows what is."
	case errors.Is(err, store.ErrUnavailable):
		// Before ErrAuditUnavailable, which a database failure may also
		// wrap, as the API orders them.
		h.logger.Error("owner page change failed", zap.Error(err))
		return http.StatusServiceUnavailable, storeDownMessage
	case errors.Is(err, gateway.ErrAuditUnavailable):
		return http.StatusServiceUnavailable, auditDownMessage
	}
	h.logger.Error("owner page change failed", zap.Error(err))
	return http.StatusInternalServerError, "keygate could not make that change. Try again in a moment."
}

// setSecret stores a value typed into the page. The value lives only in
// this request; errors about it never repeat it.
func (h *Page) setSecret(r *http.Request, o *owner, kc store.Keychain) (string, string, error) {
	name := r.PostForm.Get("name")
	if err := store.ValidateSecretName(name); err != nil {
		return "", "", err
	}
	value := r.PostForm.Get("value")
	if value == "" {
		return "", "", &uiError{http.StatusBadRequest, "Enter a value for " + name + " to save it."}
	}
	st := h.app.Store()
	// As with the API, a field the form does not send keeps its value.
	var opts store.SecretOptions
	_, sentHosts := r.PostForm["allowed_hosts"]
	_, sentDays := r.PostForm["rotation_hint_days"]
	if !sentHosts || !sentDays {
		old, err := st.GetSecretMeta(kc.ID, name)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return "", "", err
		}
		opts = store.SecretOptions{AllowedHosts: old.AllowedHosts, RotationHintDays: old.RotationHintDays}
	}
	if sentDays {
		opts.RotationHintDays = 0
		if s := strings.TrimSpace(r.PostForm.Get("rotation_hint_days")); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil {
				return "", "", &uiError{http.StatusBadRequest, "The rotation reminder must be a whole number of days (0 for none). Nothing was saved."}
			}
			opts.RotationHintDays = n
		}
	}
	if sentHosts {
		opts.AllowedHosts = strings.FieldsFunc(r.PostForm.Get("allowed_hosts"), func(c rune) bool {
			return c == ' ' || c == ',' || c == '\t' || c == '\r' || c == '\n'
		})
	}
	if _, err := st.PutSecret(kc.ID, name, []byte(value), opts); err != nil {
		return "", "", err
	}
	return "saved", anchor("secret", kc.ID+"/"+name), h.ownerAudit(r, o.id, gateway.ActionSecretPut, kc.ID, "", "", name)
}

func (h *Page) removeSecret(r *http.Request, o *owner, kc store.Keychain) (string, string, error) {
	name := r.PostForm.Get("name")
	if err := h.app.DeleteSecret(r.Context(), kc.ID, name); err != nil {
		return "", "", err
	}
	return "deleted", anchor("secret", kc.ID+"/"+name), h.ownerAudit(r, o.id, gateway.ActionSecretDelete, kc.ID, "", "", name)
}

// errChanged refuses approving code the owner has not seen.
var errChanged = &uiError{http.StatusConflict, "This package's code changed while the page was open. Review it again below before approving it."}

var errStale = &uiError{http.StatusConflict, "This package's code changed since you approved it. Re-approve it for its current code, or revoke it."}

// changeGrant approves or revokes one key, re-approves a stale grant, or
// revokes a package. Every approval names the sha256 the page showed, and
// is refused if the package has changed since: an owner approves only code
// they were shown. A stale grant's keys cannot be toggled, since writing
// the grant would silently approve the new code.
func (h *Page) changeGrant(r *http.Request, o *owner, kc store.Keychain) (string, string, error) {
	st := h.app.Store()
	f := r.PostForm
	pkg, op, key := f.Get("package"), f.Get("op"), f.Get("key")
	frag := anchor("pkg", kc.ID+"/"+pkg)

	if op == "revoke_all" {
		if err := st.DeleteGrant(kc.ID, pkg); err != nil {
			return "", "", err
		}
		return "revoked", frag, h.ownerAudit(r, o.id, gateway.ActionGrantDelete, kc.ID, pkg, "")
	}

	m, err := st.GetPackage(pkg)
	if err != nil {
		return "", "", err
	}
	g, err := st.GetGrant(kc.ID, pkg)
	hasGrant := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", "", err
	}
	stale := hasGrant && g.SHA256 != m.SHA256
	approving := op != "revoke"
	if approving && f.Get("sha256") != m.SHA256 {
		return "", "", errChanged
	}

	var keys []string
	var done string
	switch op {
	case "approve":
		if stale {
			return "", "", errStale
		}
		keys = append(stillRequested(&m, g.Keys), key)
		done = "approved"
	case "revoke":
		if !hasGrant {
			return "revoked", frag, nil
		}
		if stale {
			return "", "", errStale
		}
		keys = slices.DeleteFunc(stillRequested(&m, g.Keys), func(k string) bool { return k == key })
		done = "revoked"
	case "reapprove":
		if !hasGrant {
			return "", "", &uiError{http.StatusConflict, "There is no earlier approval to renew; approve the keys one by one."}
		}
		keys = stillRequested(&m, g.Keys)
		done = "reapproved"
	case "approve_package":
		if stale {
			return "", "", errStale
		}
		keys = stillRequested(&m, g.Keys)
		done = "approved"
	default:
		return "", "", &uiError{http.StatusBadRequest, "The page asked for something keygate does not know. Reload it and try again."}
	}
	if err := policy.CheckGrantKeys(&m, keys); err != nil {
		return "", "", err
	}
	saved, err := st.PutGrant(kc.ID, pkg, keys)
	if err != nil {
		return "", "", err
	}
	// The package may have changed between the check above and the write;
	// then the grant just written names code the owner was not shown.
	if saved.SHA256 != m.SHA256 {
		if err := st.DeleteGrant(kc.ID, pkg); err != nil {
			return "", "", fmt.Errorf("withdrawing a grant for changed code: %w", err)
		}
		if err := h.ownerAudit(r, o.id, gateway.ActionGrantDelete, kc.ID, pkg, "package_changed"); err != nil {
			return "", "", err
		}
		return "", "", errChanged
	}
	return done, frag, h.ownerAudit(r, o.id, gateway.ActionGrantPut, kc.ID, pkg, "", saved.Keys...)
}

// stillRequested keeps the keys the package still asks for: a grant may
// name a key that a newer manifest dropped, and re-writing it as it is
// would be refused.
func stillRequested(m *store.Manifest, keys []string) []string {
	var out []string
	for _, k := range keys {
		if _, ok := m.Key(k); ok {
			out = append(out, k)
		}
	}
	return out
}
