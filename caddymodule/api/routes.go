package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/keygate/keygate/caddymodule/gateway"
	"github.com/keygate/keygate/policy"
	"github.com/keygate/keygate/store"
)

// routes registers every route of docs/api.md. Package names
// (@scope/name) are accepted raw (two path segments) or escaped (one).
func (h *APIHandler) routes() {
	m := h.mux
	m.HandleFunc("POST /v1/keychains", h.admin(h.createKeychain))
	m.HandleFunc("GET /v1/keychains", h.admin(h.listKeychains))
	m.HandleFunc("GET /v1/keychains/{id}", h.admin(h.getKeychain))
	m.HandleFunc("DELETE /v1/keychains/{id}", h.admin(h.deleteKeychain))
	m.HandleFunc("POST /v1/keychains/{id}/token", h.admin(h.rotateToken))

	m.HandleFunc("PUT /v1/keychains/{id}/secrets/{name}", h.admin(h.putSecret))
	m.HandleFunc("GET /v1/keychains/{id}/secrets", h.admin(h.listSecrets))
	m.HandleFunc("DELETE /v1/keychains/{id}/secrets/{name}", h.admin(h.deleteSecret))

	for _, p := range []string{"{package}", "{scope}/{pkg}"} {
		m.HandleFunc("PUT /v1/packages/"+p, h.admin(h.putPackage))
		m.HandleFunc("GET /v1/packages/"+p, h.admin(h.getPackage))
		m.HandleFunc("DELETE /v1/packages/"+p, h.admin(h.deletePackage))
		m.HandleFunc("PUT /v1/packages/"+p+"/app-secrets/{name}", h.admin(h.putAppSecret))
		m.HandleFunc("PUT /v1/keychains/{id}/grants/"+p, h.admin(h.putGrant))
		m.HandleFunc("DELETE /v1/keychains/{id}/grants/"+p, h.admin(h.deleteGrant))
	}
	m.HandleFunc("GET /v1/packages", h.admin(h.listPackages))
	m.HandleFunc("GET /v1/keychains/{id}/grants", h.admin(h.listGrants))
	m.HandleFunc("GET /v1/audit", h.admin(h.queryAudit))
	m.HandleFunc("GET /v1/audit/verify", h.admin(h.verifyAudit))
	m.HandleFunc("POST /v1/rewrap", h.admin(h.rewrap))
	m.HandleFunc("GET /v1/rewrap", h.admin(h.rewrapProgress))
	h.oauthRoutes(m)
	h.healthRoutes(m)
	h.proxyRoutes(m)
	h.pendingRoutes(m)
	m.HandleFunc("GET /v1/openapi.json", serveOpenAPI)

	m.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		gateway.WriteProblem(w, gateway.NewProblem(http.StatusNotFound, "not_found", "no such API route: "+r.Method+" "+r.URL.Path))
	})
	h.page.Routes(m, h.admin)
}

// keychainView is a keychain as the API shows it; the token appears only
// in the answers that create or rotate it.
type keychainView struct {
	store.Keychain
	Token   string       `json:"token,omitempty"`
	Secrets []secretView `json:"secrets,omitempty"`
	Grants  []grantView  `json:"grants,omitempty"`
}

type secretView struct {
	store.SecretMeta
	RotationDue bool `json:"rotation_due"`
}

type grantView struct {
	store.Grant
	Status        string   `json:"status"` // active, stale, missing_keys, package_gone
	CurrentSHA256 string   `json:"current_sha256,omitempty"`
	MissingKeys   []string `json:"missing_keys,omitempty"`
}

func (h *APIHandler) createKeychain(r *http.Request) (int, any, error) {
	var body struct {
		Owner       string `json:"owner"`
		Environment string `json:"environment"`
		Name        string `json:"name"`
	}
	if err := decodeBody(r, &body); err != nil {
		return 0, nil, err
	}
	kc, err := h.app.Store().CreateKeychain(body.Owner, body.Environment, body.Name)
	if err != nil {
		return 0, nil, err
	}
	tok, err := h.app.Tokens().IssueKeychainToken(kc)
	if err != nil {
		return 0, nil, err
	}
	if err := h.audit(r, gateway.ActionKeychainCreate, kc.ID, ""); err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, keychainView{Keychain: kc, Token: tok}, nil
}

func (h *APIHandler) listKeychains(r *http.Request) (int, any, error) {
	kcs, err := h.app.Store().ListKeychains(r.URL.Query().Get("owner"))
	if err != nil {
		return 0, nil, err
	}
	if kcs == nil {
		kcs = []store.Keychain{}
	}
	return http.StatusOK, kcs, nil
}

func (h *APIHandler) getKeychain(r *http.Request) (int, any, error) {
	kc, err := h.app.Store().GetKeychain(r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	secrets, err := h.secretViews(kc.ID)
	if err != nil {
		return 0, nil, err
	}
	grants, err := h.grantViews(kc.ID)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, keychainView{Keychain: kc, Secrets: secrets, Grants: grants}, nil
}

func (h *APIHandler) deleteKeychain(r *http.Request) (int, any, error) {
	id := r.PathValue("id")
	if err := h.app.Store().DeleteKeychain(id); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, h.audit(r, gateway.ActionKeychainDelete, id, "")
}

func (h *APIHandler) rotateToken(r *http.Request) (int, any, error) {
	kc, err := h.app.Store().RotateKeychainToken(r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	tok, err := h.app.Tokens().IssueKeychainToken(kc)
	if err != nil {
		return 0, nil, err
	}
	if err := h.audit(r, gateway.ActionKeychainToken, kc.ID, ""); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]string{"token": tok}, nil
}

// secretBody is a secret as PUT sends it. The value is held only as long
// as the request. A metadata field left out keeps its stored value, so
// replacing a value does not silently widen or drop where it may go;
// "allowed_hosts": [] clears the hosts.
type secretBody struct {
	Value            *string  `json:"value"`
	AllowedHosts     []string `json:"allowed_hosts"`
	RotationHintDays *int     `json:"rotation_hint_days"`
	Kind             *string  `json:"kind"` // "aws": the value is checked as AWS credentials
}

func (h *APIHandler) putSecret(r *http.Request) (int, any, error) {
	id, name := r.PathValue("id"), r.PathValue("name")
	var body secretBody
	if err := decodeBody(r, &body); err != nil {
		return 0, nil, err
	}
	if body.Value == nil {
		return 0, nil, fieldProblem("value", "value is required")
	}
	st := h.app.Store()
	if _, err := st.GetKeychain(id); err != nil {
		return 0, nil, err
	}
	opts := store.SecretOptions{AllowedHosts: body.AllowedHosts}
	if body.RotationHintDays != nil {
		opts.RotationHintDays = *body.RotationHintDays
	}
	if body.Kind != nil {
		opts.Kind = *body.Kind
	}
	if body.AllowedHosts == nil || body.RotationHintDays == nil || body.Kind == nil {
		old, err := st.GetSecretMeta(id, name)
		switch {
		case err == nil:
			if body.Kind == nil && old.Kind == store.SecretKindAWS {
				opts.Kind = old.Kind
			}
			if body.AllowedHosts == nil {
				opts.AllowedHosts = old.AllowedHosts
			}
			if body.RotationHintDays == nil {
				opts.RotationHintDays = old.RotationHintDays
			}
		case !errors.Is(err, store.ErrNotFound):
			return 0, nil, err
		}
	}
	if _, err := st.PutSecret(id, name, []byte(*body.Value), opts); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, h.audit(r, gateway.ActionSecretPut, id, "", name)
}

func (h *APIHandler) listSecrets(r *http.Request) (int, any, error) {
	id := r.PathValue("id")
	if _, err := h.app.Store().GetKeychain(id); err != nil {
		return 0, nil, err
	}
	views, err := h.secretViews(id)
	if err != nil {
		return 0, nil, err
	}
	if views == nil {
		views = []secretView{}
	}
	return http.StatusOK, views, nil
}

func (h *APIHandler) secretViews(kc string) ([]secretView, error) {
	metas, err := h.app.Store().ListSecrets(kc)
	if err != nil {
		return nil, err
	}
	now := h.app.Now()
	views := make([]secretView, 0, len(metas))
	for _, m := range metas {
		views = append(views, secretView{SecretMeta: m, RotationDue: m.RotationDue(now)})
	}
	return views, nil
}

func (h *APIHandler) deleteSecret(r *http.Request) (int, any, error) {
	id, name := r.PathValue("id"), r.PathValue("name")
	if err := h.app.DeleteSecret(r.Context(), id, name); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, h.audit(r, gateway.ActionSecretDelete, id, "", name)
}

func (h *APIHandler) putPackage(r *http.Request) (int, any, error) {
	name := pathPackage(r)
	var m store.Manifest
	if err := decodeBody(r, &m); err != nil {
		return 0, nil, err
	}
	if m.Name != name {
		return 0, nil, fieldProblem("name", fmt.Sprintf("the manifest's name %q does not match the path's %q", m.Name, name))
	}
	// Presets resolve first: they may name the oauth provider checked next.
	if err := store.ValidateManifest(&m); err != nil {
		return 0, nil, err
	}
	if err := h.app.OAuth().CheckProviders(&m); err != nil {
		return 0, nil, err
	}
	created, err := h.app.Store().PutPackage(m) // validates at the store's door
	if err != nil {
		return 0, nil, err
	}
	if err := h.audit(r, gateway.ActionPackagePut, "", m.Name); err != nil {
		return 0, nil, err
	}
	saved, err := h.app.Store().GetPackage(m.Name)
	if err != nil {
		return 0, nil, err
	}
	if created {
		return http.StatusCreated, saved, nil
	}
	return http.StatusOK, saved, nil
}

func (h *APIHandler) getPackage(r *http.Request) (int, any, error) {
	m, err := h.app.Store().GetPackage(pathPackage(r))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, m, nil
}

func (h *APIHandler) listPackages(r *http.Request) (int, any, error) {
	ms, err := h.app.Store().ListPackages()
	if err != nil {
		return 0, nil, err
	}
	if ms == nil {
		ms = []store.Manifest{}
	}
	return http.StatusOK, ms, nil
}

func (h *APIHandler) deletePackage(r *http.Request) (int, any, error) {
	name := pathPackage(r)
	if err := h.app.Store().DeletePackage(name); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, h.audit(r, gateway.ActionPackageDelete, "", name)
}

func (h *APIHandler) putAppSecret(r *http.Request) (int, any, error) {
	pkg, name := pathPackage(r), r.PathValue("name")
	var body struct {
		Value *string `json:"value"`
	}
	if err := decodeBody(r, &body); err != nil {
		return 0, nil, err
	}
	if body.Value == nil {
		return 0, nil, fieldProblem("value", "value is required")
	}
	m, err := h.app.Store().GetPackage(pkg)
	if err != nil {
		return 0, nil, err
	}
	if _, ok := m.AppKey(name); !ok {
		return 0, nil, fieldProblem("name", fmt.Sprintf("package %s does not declare app key %s", pkg, name))
	}
	if _, err := h.app.Store().PutAppSecret(pkg, name, []byte(*body.Value)); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, h.audit(r, gateway.ActionAppSecretPut, "", pkg, name)
}

func (h *APIHandler) putGrant(r *http.Request) (int, any, error) {
	id, pkg := r.PathValue("id"), pathPackage(r)
	var body struct {
		Keys []string `json:"keys"`
	}
	if err := decodeBody(r, &body); err != nil {
		return 0, nil, err
	}
	st := h.app.Store()
	if _, err := st.GetKeychain(id); err != nil {
		return 0, nil, err
	}
	m, err := st.GetPackage(pkg)
	if err != nil {
		return 0, nil, err
	}
	if err := policy.CheckGrantKeys(&m, body.Keys); err != nil {
		return 0, nil, err
	}
	g, err := st.PutGrant(id, pkg, body.Keys)
	if err != nil {
		return 0, nil, err
	}
	if err := h.audit(r, gateway.ActionGrantPut, id, pkg, g.Keys...); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, h.grantView(g, &m), nil
}

func (h *APIHandler) listGrants(r *http.Request) (int, any, error) {
	id := r.PathValue("id")
	if _, err := h.app.Store().GetKeychain(id); err != nil {
		return 0, nil, err
	}
	views, err := h.grantViews(id)
	if err != nil {
		return 0, nil, err
	}
	if views == nil {
		views = []grantView{}
	}
	return http.StatusOK, views, nil
}

func (h *APIHandler) grantViews(kc string) ([]grantView, error) {
	st := h.app.Store()
	grants, err := st.ListGrants(kc)
	if err != nil {
		return nil, err
	}
	views := make([]grantView, 0, len(grants))
	for _, g := range grants {
		m, err := st.GetPackage(g.Package)
		if errors.Is(err, store.ErrNotFound) {
			views = append(views, grantView{Grant: g, Status: "package_gone"})
			continue
		}
		if err != nil {
			return nil, err
		}
		views = append(views, h.grantView(g, &m))
	}
	return views, nil
}

// grantView says whether a grant works now, and why not.
func (h *APIHandler) grantView(g store.Grant, m *store.Manifest) grantView {
	v := grantView{Grant: g, Status: "active", CurrentSHA256: m.SHA256}
	st := h.app.Store()
	_, err := policy.Decide(m, &g, func(name string) bool {
		ok, _ := st.HasSecret(g.Keychain, name)
		return ok
	})
	var d *policy.Denial
	if errors.As(err, &d) {
		v.Status = string(d.Reason)
		if d.Reason == policy.StaleGrant {
			v.Status = "stale"
		}
		for _, k := range d.Missing {
			v.MissingKeys = append(v.MissingKeys, k.Name)
		}
	}
	return v
}

func (h *APIHandler) deleteGrant(r *http.Request) (int, any, error) {
	id, pkg := r.PathValue("id"), pathPackage(r)
	if err := h.app.Store().DeleteGrant(id, pkg); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, h.audit(r, gateway.ActionGrantDelete, id, pkg)
}

func (h *APIHandler) queryAudit(r *http.Request) (int, any, error) {
	q := r.URL.Query()
	aq := store.AuditQuery{Keychain: q.Get("keychain"), Package: q.Get("package")}
	if s := q.Get("since"); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return 0, nil, fieldProblem("since", "since must be an RFC 3339 time such as 2026-01-02T15:04:05Z")
		}
		aq.Since = t
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			return 0, nil, fieldProblem("limit", "limit must be a whole number from 1 to 1000")
		}
		aq.Limit = n
	}
	evs, err := h.app.Store().QueryAudit(aq)
	if err != nil {
		return 0, nil, err
	}
	if evs == nil {
		evs = []store.AuditEvent{}
	}
	return http.StatusOK, evs, nil
}

// rewrap re-wraps every stored data key under the current master key, so
// that older master keys can leave the configuration afterwards.
// verifyAudit checks the whole audit trail's HMAC chain. A broken trail is
// a 200 answer with "ok": false naming the first bad segment: the check
// itself worked.
func (h *APIHandler) verifyAudit(r *http.Request) (int, any, error) {
	q := r.URL.Query()
	var witness *store.AuditWitness
	if q.Has("witness_segment") {
		seq, err := strconv.ParseUint(q.Get("witness_segment"), 10, 64)
		if err != nil {
			return 0, nil, fieldProblem("witness_segment", "witness_segment must be a segment number")
		}
		witness = &store.AuditWitness{Seq: seq, Link: q.Get("witness_link"), MAC: q.Get("witness_mac"), KeyID: q.Get("witness_key_id")}
	}
	rep, err := h.app.Store().VerifyAudit()
	if err != nil {
		return 0, nil, err
	}
	if witness == nil {
		return http.StatusOK, rep, nil
	}
	// A rollback of the whole database keeps the chain whole: only the
	// witness, taken from the exported keygate.audit log, shows it.
	out := struct {
		store.AuditVerifyReport
		Witness witnessReport `json:"witness"`
	}{AuditVerifyReport: rep, Witness: witnessReport{Segment: witness.Seq, OK: true}}
	note, err := h.app.Store().CheckAuditWitness(*witness)
	switch {
	case errors.Is(err, store.ErrAuditBehind) || errors.Is(err, store.ErrCorrupt):
		out.Witness.OK, out.Witness.Problem = false, err.Error()
	case err != nil:
		return 0, nil, err
	}
	out.Witness.Note = note
	return http.StatusOK, out, nil
}

// witnessReport is what the database says to a witness.
type witnessReport struct {
	Segment uint64 `json:"segment"`
	OK      bool   `json:"ok"`
	Problem string `json:"problem,omitempty"`
	Note    string `json:"note,omitempty"`
}

func (h *APIHandler) rewrap(r *http.Request) (int, any, error) {
	counts, err := h.app.Store().RewrapCounted(r.Context())
	if err != nil {
		return 0, nil, err
	}
	if err := h.audit(r, gateway.ActionMasterKeyRewrap, "", ""); err != nil {
		return 0, nil, err
	}
	// What each key still seals, so that the CLI never calls a key free
	// while anything needs it.
	sealed, err := h.app.Store().SealedByKey(r.Context())
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"rewrapped": counts.Total(), "by_kind": counts, "master_key_id": h.app.MasterKeyID(),
		"master_key_ids": h.app.Store().Keyring().IDs(), "sealed_by_key": sealed}, nil
}

// rewrapProgress tells how far the rewrap running on this node got, for
// the CLI's progress bar.
func (h *APIHandler) rewrapProgress(r *http.Request) (int, any, error) {
	counts, running := h.app.Store().RewrapProgress()
	return http.StatusOK, map[string]any{"running": running, "by_kind": counts}, nil
}

func fieldProblem(field, detail string) *gateway.Problem {
	p := badRequest(detail)
	p.Field = field
	return p
}
