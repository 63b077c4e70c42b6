package ownerpage

import (
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"time"

	"github.com/keygate/keygate/caddymodule/gateway"
	"github.com/keygate/keygate/store"
)

// "Waiting for you": the calls held for the owner, on a page of its own
// that a meta refresh keeps current (no script, so the CSP stays as it
// is). A call held for a value or a grant links to the form that gives
// it; a call an approve rule holds is approved or refused right here.

// waitingRefresh is how often the page reloads itself.
const waitingRefresh = template.HTMLAttr(`content="3"`)

type waitingRow struct {
	store.HeldCall
	Description template.HTML // the key's description from the manifest, rendered as on the keychain page
	BodyJSON    string        // the JSON body, indented, when it was shown
	Anchor      string        // where on the keychain page the value or grant is given
	Left        string        // time left to decide
}

type waitingData struct {
	*pageData
	KC    store.Keychain
	Calls []waitingRow
}

// shapeDurations are the times the page offers for "approve this shape".
var shapeDurations = map[string]time.Duration{"15m": 15 * time.Minute, "1h": time.Hour, "1d": 24 * time.Hour, "7d": 7 * 24 * time.Hour}

func (h *Page) waitingRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /ui/keychains/{id}/waiting", h.uiPage(h.waitingPage))
	m.HandleFunc("POST /ui/keychains/{id}/waiting/{pid}", h.uiForm(h.decideWaiting))
}

func (h *Page) waitingPage(w http.ResponseWriter, r *http.Request, o *owner) {
	kc, ok := h.ownedKeychain(r.PathValue("id"), o)
	if !ok {
		h.renderError(w, r, http.StatusNotFound, "There is no such keychain among yours.")
		return
	}
	h.showWaiting(w, r, o, kc, http.StatusOK, "")
}

func (h *Page) showWaiting(w http.ResponseWriter, r *http.Request, o *owner, kc store.Keychain, status int, errMsg string) {
	calls, err := h.app.ListHeld(kc.ID)
	if err != nil {
		h.pageFailed(w, r, err)
		return
	}
	kcs, err := h.ownerKeychains(o)
	if err != nil {
		h.pageFailed(w, r, err)
		return
	}
	d := &waitingData{pageData: h.basePage(r, o, "Waiting for you", kcs, kc.ID), KC: kc}
	d.Refresh = waitingRefresh
	if r.Method == http.MethodGet {
		d.Notice = waitingNotices[r.URL.Query().Get("done")]
	}
	if errMsg != "" {
		d.Error, d.Notice = errMsg, ""
	}
	now := time.Now()
	for _, c := range calls {
		row := waitingRow{HeldCall: c, Left: c.Expires.Sub(now).Round(time.Second).String()}
		if m, err := h.app.Store().PackageRecord(c.Package); err == nil {
			if k, ok := m.Key(c.Key); ok {
				row.Description = renderDescription(k.Description)
			}
		}
		if len(c.Body) > 0 {
			if b, err := json.MarshalIndent(c.Body, "", "  "); err == nil {
				row.BodyJSON = string(b)
			}
		}
		row.Anchor = anchor("pkg", kc.ID+"/"+c.Package)
		if c.Kind == "value" {
			row.Anchor = anchor("secret", kc.ID+"/"+c.Key)
		}
		d.Calls = append(d.Calls, row)
	}
	h.renderPage(w, r, status, "waiting.html", d)
}

var waitingNotices = map[string]string{
	"approved": "Approved. The call goes on.",
	"refused":  "Refused. The call was not sent.",
}

// decideWaiting approves or refuses one held call of the owner's keychain.
func (h *Page) decideWaiting(w http.ResponseWriter, r *http.Request, o *owner) {
	kc, ok := h.ownedKeychain(r.PathValue("id"), o)
	if !ok {
		h.renderError(w, r, http.StatusNotFound, "There is no such keychain among yours.")
		return
	}
	var d gateway.HeldDecision
	done := "approved"
	switch f := r.PostForm; f.Get("decision") {
	case "refuse":
		d.Refuse, done = true, "refused"
	case "once":
	case "shape":
		dur, ok := shapeDurations[f.Get("for")]
		if !ok {
			h.showWaiting(w, r, o, kc, http.StatusBadRequest, "Choose how long to approve calls of this exact shape.")
			return
		}
		d.For = dur
	default:
		h.showWaiting(w, r, o, kc, http.StatusBadRequest, "Choose to approve or refuse the call.")
		return
	}
	if _, err := h.app.DecideHeld(r.Context(), "owner:"+o.id, kc.ID, r.PathValue("pid"), d); err != nil {
		var p *gateway.Problem
		status, msg := h.friendly(err)
		if errors.As(err, &p) && p.Status < 500 {
			status, msg = p.Status, "That call is no longer waiting: it was decided, or its time ran out."
			if p.Reason == "not_approvable" {
				msg = "This call waits for a value or an approval of the package: give it on the keychain's page and the call goes on."
			}
		}
		h.showWaiting(w, r, o, kc, status, msg)
		return
	}
	uiHeaders(w)
	http.Redirect(w, r, "/ui/keychains/"+url.PathEscape(kc.ID)+"/waiting?done="+done, http.StatusSeeOther)
}
