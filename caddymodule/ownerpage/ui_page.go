package ownerpage

import (
	"errors"
	"hash/fnv"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/keygate/keygate/caddymodule/gateway"
	"github.com/keygate/keygate/policy"
	"github.com/keygate/keygate/store"
)

// auditShown is how many audit events a keychain's section lists.
const auditShown = 50

// kcLink is a keychain in the page's navigation.
type kcLink struct {
	ID, Name, Environment string
	Current               bool
}

// kcDetail is one keychain as the page shows it in full.
type kcDetail struct {
	store.Keychain
	Secrets  []*secretRow
	Packages []*pkgView
	Audit    []store.AuditEvent
	Usage    *usageView // the last 30 days' calls, charted
	Focus    *pkgView   // the package of ?package=, shown first
}

// secretRow is a stored secret or a key some package asks for. It holds
// metadata only: the page never reads a value.
type secretRow struct {
	Name             string
	Anchor           string
	Set              bool
	UpdatedAt        time.Time
	Version          uint64
	RotationHintDays int
	RotationDueAt    time.Time
	RotationDue      bool
	AllowedHosts     string // prefills the form: the secret's, else the asking packages'
	RequestedBy      []keyRequest
	// OAuth keys (see oauthRow): the package to connect through.
	OAuthPackage         string
	Connected, Reconnect bool
	ExpiresAt            time.Time
}

type keyRequest struct {
	Package  string
	Anchor   string
	Required bool
}

// pkgView is a registered package and this keychain's grant for it.
type pkgView struct {
	Name, Version, SHA256 string
	Approval              string // the manifest's approval digest, posted back with a decision
	Anchor                string
	Focus                 bool
	HasGrant, Stale, Gone bool
	GrantedSHA            string
	State                 string // ready, missing, none, stale, gone
	Missing               []string
	Keys                  []pkgKey
}

type pkgKey struct {
	Name         string
	Required     bool
	Description  template.HTML
	Hosts        []string
	MaxBytes     int
	Approved     bool
	Set          bool
	SecretAnchor string
	Plaintext    bool // approved, and a plaintext site hands it to the package's code
	OAuth        bool // keygate obtains it from a provider; plaintext gives its access token only
}

// notices are the messages a redirect after a change may ask for; only
// these fixed texts are ever shown, whatever the query says.
var notices = map[string]string{
	"saved":      "Saved. The new value is in use from the next request.",
	"deleted":    "Deleted. No package can use that secret any more.",
	"approved":   "Approved.",
	"revoked":    "Revoked. It stops working at once.",
	"reapproved": "Approved for the package's current code.",
}

func (h *Page) indexPage(w http.ResponseWriter, r *http.Request, o *owner) {
	kcs, err := h.ownerKeychains(o)
	if err != nil {
		h.pageFailed(w, r, err)
		return
	}
	d := h.basePage(r, o, "Your keychains", kcs, "")
	for _, kc := range kcs {
		det, err := h.keychainDetail(kc, "")
		if err != nil {
			h.pageFailed(w, r, err)
			return
		}
		d.Shown = append(d.Shown, det)
	}
	h.renderPage(w, r, http.StatusOK, "page.html", d)
}

func (h *Page) keychainPage(w http.ResponseWriter, r *http.Request, o *owner) {
	kc, ok := h.ownedKeychain(r.PathValue("id"), o)
	if !ok {
		h.renderError(w, r, http.StatusNotFound, "There is no such keychain among yours.")
		return
	}
	h.showKeychain(w, r, o, kc, http.StatusOK, "")
}

// showKeychain renders one keychain's page, with an error message when a
// change failed.
func (h *Page) showKeychain(w http.ResponseWriter, r *http.Request, o *owner, kc store.Keychain, status int, errMsg string) {
	kcs, err := h.ownerKeychains(o)
	if err != nil {
		h.pageFailed(w, r, err)
		return
	}
	focus := r.URL.Query().Get("package")
	if focus == "" && r.PostForm != nil {
		focus = r.PostForm.Get("focus")
	}
	det, err := h.keychainDetail(kc, focus)
	if err != nil {
		h.pageFailed(w, r, err)
		return
	}
	title := kc.Name
	if title == "" {
		title = kc.ID
	}
	d := h.basePage(r, o, title, kcs, kc.ID)
	d.Shown = []*kcDetail{det}
	if errMsg != "" {
		d.Error, d.Notice = errMsg, ""
	}
	h.renderPage(w, r, status, "page.html", d)
}

func (h *Page) basePage(r *http.Request, o *owner, title string, kcs []store.Keychain, current string) *pageData {
	d := &pageData{Title: title, Owner: o.id, CSRF: o.csrf, Issuer: h.issuer != nil, Current: current}
	if r.Method == http.MethodGet {
		d.Notice = notices[r.URL.Query().Get("done")]
	}
	for _, kc := range kcs {
		d.Keychains = append(d.Keychains, kcLink{ID: kc.ID, Name: kc.Name, Environment: kc.Environment, Current: kc.ID == current})
	}
	return d
}

// ownerKeychains lists the owner's keychains. An empty owner would list
// every keychain in the store, so it is refused here, whatever the caller.
func (h *Page) ownerKeychains(o *owner) ([]store.Keychain, error) {
	if o == nil || o.id == "" {
		return nil, errNoOwner
	}
	return h.app.Store().ListKeychains(o.id)
}

// ownedKeychain returns the keychain if it exists and belongs to o. Both
// failures look the same, so an owner cannot probe for others' ids.
func (h *Page) ownedKeychain(id string, o *owner) (store.Keychain, bool) {
	if o == nil || o.id == "" {
		return store.Keychain{}, false
	}
	kc, err := h.app.Store().GetKeychain(id)
	if err != nil || kc.Owner != o.id {
		return store.Keychain{}, false
	}
	return kc, true
}

func (h *Page) pageFailed(w http.ResponseWriter, r *http.Request, err error) {
	h.logger.Error("building owner page", zap.Error(err))
	if errors.Is(err, store.ErrUnavailable) {
		h.renderError(w, r, http.StatusServiceUnavailable, storeDownMessage)
		return
	}
	h.renderError(w, r, http.StatusInternalServerError, "keygate could not load this page. Try again in a moment.")
}

// keychainDetail gathers what the page shows of one keychain: metadata of
// its secrets, every registered package with this keychain's grant for it,
// and its recent audit trail.
func (h *Page) keychainDetail(kc store.Keychain, focus string) (*kcDetail, error) {
	st := h.app.Store()
	metas, err := st.ListSecrets(kc.ID)
	if err != nil {
		return nil, err
	}
	pkgs, err := st.ListPackages()
	if err != nil {
		return nil, err
	}
	grants, err := st.ListGrants(kc.ID)
	if err != nil {
		return nil, err
	}
	events, err := st.QueryAudit(store.AuditQuery{Keychain: kc.ID, Limit: auditShown})
	if err != nil {
		return nil, err
	}
	now := h.app.Now()
	usage, err := h.keychainUsage(kc.ID, now)
	if err != nil {
		return nil, err
	}
	det := &kcDetail{Keychain: kc, Audit: events, Usage: usage}

	rows := map[string]*secretRow{}
	byName := map[string]*store.SecretMeta{}
	for i, m := range metas {
		byName[m.Name] = &metas[i]
		row := &secretRow{
			Name: m.Name, Anchor: anchor("secret", kc.ID+"/"+m.Name), Set: true,
			UpdatedAt: m.UpdatedAt, Version: m.Version, RotationHintDays: m.RotationHintDays,
			RotationDue: m.RotationDue(now), AllowedHosts: strings.Join(m.AllowedHosts, " "),
		}
		if m.RotationHintDays > 0 {
			row.RotationDueAt = m.UpdatedAt.AddDate(0, 0, m.RotationHintDays)
		}
		rows[m.Name] = row
	}
	byPkg := map[string]store.Grant{}
	for _, g := range grants {
		byPkg[g.Package] = g
	}
	has := func(name string) bool { r, ok := rows[name]; return ok && r.Set }
	plaintextSites := h.app.PlaintextSites()

	for i := range pkgs {
		p := &pkgs[i]
		v := &pkgView{Name: p.Name, Version: p.Version, SHA256: p.SHA256, Approval: p.Approval, Anchor: anchor("pkg", kc.ID+"/"+p.Name), Focus: p.Name == focus}
		var grant *store.Grant
		if g, ok := byPkg[p.Name]; ok {
			grant = &g
			v.HasGrant, v.GrantedSHA = true, g.SHA256
			delete(byPkg, p.Name)
		}
		codeHost := ""
		if u, err := url.Parse(p.Upstream); err == nil && plaintextSites {
			codeHost = gateway.UpstreamHostPort(u)
		}
		for _, k := range p.Keys {
			row := rows[k.Name]
			if row == nil {
				row = &secretRow{Name: k.Name, Anchor: anchor("secret", kc.ID+"/"+k.Name)}
				rows[k.Name] = row
			}
			row.RequestedBy = append(row.RequestedBy, keyRequest{Package: p.Name, Anchor: v.Anchor, Required: k.Required})
			if k.OAuth != nil {
				oauthRow(row, p.Name, byName[k.Name], now)
			}
			if !row.Set {
				row.AllowedHosts = addHosts(row.AllowedHosts, k.Hosts)
			}
			pk := pkgKey{
				Name: k.Name, Required: k.Required, Description: renderDescription(k.Description),
				Hosts: k.Hosts, MaxBytes: k.MaxBytes, Approved: grant != nil && slices.Contains(grant.Keys, k.Name),
				Set: row.Set, SecretAnchor: row.Anchor, OAuth: k.OAuth != nil,
			}
			// Plaintext delivery happens exactly when the ingress check
			// passes: the secret allows the package's upstream host.
			if m := byName[k.Name]; pk.Approved && m != nil && codeHost != "" {
				pk.Plaintext = gateway.UpstreamAllowed(m.AllowedHosts, codeHost)
			}
			v.Keys = append(v.Keys, pk)
		}
		_, err := policy.Decide(p, grant, has)
		var d *policy.Denial
		switch {
		case err == nil:
			v.State = "ready"
		case errors.As(err, &d) && d.Reason == policy.NoGrant:
			v.State = "none"
		case errors.As(err, &d) && d.Reason == policy.StaleGrant:
			v.State, v.Stale = "stale", true
		case errors.As(err, &d) && d.Reason == policy.MissingKeys:
			v.State = "missing"
			for _, k := range d.Missing {
				v.Missing = append(v.Missing, k.Name)
			}
		default:
			return nil, err
		}
		if v.Focus {
			det.Focus = v
		}
		det.Packages = append(det.Packages, v)
	}
	// Grants of packages that are no longer registered can only be removed.
	for _, g := range byPkg {
		det.Packages = append(det.Packages, &pkgView{
			Name: g.Package, Anchor: anchor("pkg", kc.ID+"/"+g.Package),
			HasGrant: true, Gone: true, GrantedSHA: g.SHA256, State: "gone",
		})
	}
	slices.SortStableFunc(det.Packages, func(a, b *pkgView) int {
		if a.Focus != b.Focus {
			if a.Focus {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})

	for _, row := range rows {
		det.Secrets = append(det.Secrets, row)
	}
	slices.SortFunc(det.Secrets, func(a, b *secretRow) int { return strings.Compare(a.Name, b.Name) })
	return det, nil
}

// addHosts adds hosts not yet in the space-separated list.
func addHosts(list string, hosts []string) string {
	have := strings.Fields(list)
	for _, h := range hosts {
		if !slices.Contains(have, h) {
			have = append(have, h)
		}
	}
	return strings.Join(have, " ")
}

// anchor makes an HTML id from a name that may hold any character: a
// readable part plus a hash, so that "@a-b/c" and "@a/b-c" differ.
func anchor(kind, name string) string {
	var b strings.Builder
	b.WriteString(kind)
	b.WriteByte('-')
	for _, r := range strings.ToLower(name) {
		if ('a' <= r && r <= 'z') || ('0' <= r && r <= '9') {
			b.WriteRune(r)
		} else if s := b.String(); s[len(s)-1] != '-' {
			b.WriteByte('-')
		}
	}
	f := fnv.New32a()
	f.Write([]byte(name))
	b.WriteByte('-')
	b.WriteString(strconv.FormatUint(uint64(f.Sum32()), 36))
	return b.String()
}

// shortSHA abbreviates a sha256 for reading; the full one is in a title.
func shortSHA(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}
