package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keygate/keygate/policy"
	"github.com/keygate/keygate/store"
)

// problemTypeBase prefixes the `type` of every problem keygate answers.
const problemTypeBase = "urn:keygate:problem:"

// Where a problem is answered, as docs/problems.md's "where" column names it.
const (
	FlowAll      = "all"
	FlowIngress  = "ingress"
	FlowEgress   = "egress"
	FlowAPI      = "API"
	FlowWebhooks = "webhooks"
	FlowCallback = "callback"
	FlowProxy    = "proxy"
)

// ProblemKind is one reason keygate refuses with: its status, the members
// (beyond type, title, status, detail and reason) that every answer of it
// carries in the flows named (set_url when public_url is set), and where it
// is answered. docs/problems.md documents each, and its test checks the
// members in an answer captured from each flow.
type ProblemKind struct {
	Reason  string
	Status  int
	Members []string
	Flows   []string
}

// problemKinds is the registry of every reason. The denials' entries are
// keyed by their policy.DenyReason.
var problemKinds = []ProblemKind{
	{string(policy.TokenRevoked), http.StatusUnauthorized, nil, []string{FlowAll}},
	{string(policy.NoGrant), http.StatusForbidden, []string{"package", "set_url"}, []string{FlowIngress, FlowEgress, FlowWebhooks}},
	{string(policy.StaleGrant), http.StatusForbidden, []string{"package", "granted_sha256", "current_sha256", "set_url"}, []string{FlowIngress, FlowEgress}},
	{string(policy.MissingKeys), http.StatusPreconditionRequired, []string{"package", "missing_keys", "set_url"}, []string{FlowIngress, FlowEgress}},
	{string(policy.NotApproved), http.StatusForbidden, []string{"package", "key"}, []string{FlowEgress}},
	{string(policy.HostNotAllowed), http.StatusForbidden, []string{"key"}, []string{FlowEgress, FlowIngress}},
	{string(policy.PackageGone), http.StatusForbidden, nil, []string{FlowEgress, FlowProxy}},
	{string(policy.NotRequested), http.StatusBadRequest, []string{"package", "key"}, []string{FlowAPI}},
	{"unknown_package", http.StatusNotFound, nil, []string{FlowIngress}},
	{"body_too_large", http.StatusRequestEntityTooLarge, nil, []string{FlowAPI, FlowWebhooks, FlowEgress, FlowProxy}},
	{"unknown_webhook", http.StatusNotFound, nil, []string{FlowWebhooks}},
	{"unknown_keychain", http.StatusNotFound, nil, []string{FlowWebhooks}},
	{"method_not_allowed", http.StatusMethodNotAllowed, nil, []string{FlowWebhooks}},
	{"bad_body", http.StatusBadRequest, nil, []string{FlowWebhooks, FlowEgress, FlowProxy}},
	{"bad_signature", http.StatusUnauthorized, nil, []string{FlowWebhooks, FlowProxy}},
	{"stale_webhook", http.StatusUnauthorized, nil, []string{FlowWebhooks}},
	{"wrong_secret_kind", http.StatusForbidden, nil, []string{FlowEgress, FlowProxy}},
	{"request_time_skewed", http.StatusForbidden, nil, []string{FlowEgress, FlowProxy}},
	{"presign_expired", http.StatusForbidden, nil, []string{FlowEgress, FlowProxy}},
	{"malformed_signature", http.StatusBadRequest, nil, []string{FlowEgress, FlowProxy}},
	{"reconnect_required", http.StatusPreconditionRequired, nil, []string{FlowEgress, FlowProxy}},
	{"not_connected", http.StatusPreconditionRequired, nil, []string{FlowEgress, FlowProxy}},
	{"oauth_unavailable", http.StatusServiceUnavailable, nil, []string{FlowEgress, FlowProxy, FlowAPI}},
	{"oauth_state", http.StatusBadRequest, nil, []string{FlowCallback}},
	{"oauth_bad_callback", http.StatusBadRequest, nil, []string{FlowCallback}},
	{"oauth_denied", http.StatusBadRequest, nil, []string{FlowCallback}},
	{"oauth_exchange", http.StatusBadRequest, nil, []string{FlowCallback}},
	{"oauth_config", http.StatusBadRequest, nil, []string{FlowAPI}},
	{"upstream_unreachable", http.StatusBadGateway, nil, []string{FlowEgress}},
	{"unscrubbable_encoding", http.StatusBadGateway, nil, []string{FlowEgress, FlowProxy}},
	{"rate_limited", http.StatusTooManyRequests, []string{"retry_after"}, []string{FlowIngress, FlowWebhooks, FlowEgress}},
	{"secret_kind", http.StatusConflict, []string{"key"}, []string{FlowEgress}},
	{"oauth_browser", http.StatusBadRequest, nil, []string{FlowCallback}},
	{"oauth_pending", http.StatusBadRequest, nil, []string{FlowCallback}},
	{"oauth_bad_confirm", http.StatusBadRequest, nil, []string{FlowCallback}},
	{"cross_origin", http.StatusForbidden, nil, []string{FlowCallback}},
	{"upstream_not_allowed", http.StatusForbidden, nil, []string{FlowIngress, FlowWebhooks, FlowProxy}},
	{"invalid", http.StatusBadRequest, nil, []string{FlowAPI}},
	{"not_found", http.StatusNotFound, nil, []string{FlowAPI}},
	{"conflict", http.StatusConflict, nil, []string{FlowAPI}},
	{"upstream_unavailable", http.StatusBadGateway, nil, []string{FlowIngress, FlowProxy}},
	{"placeholder_invalid", http.StatusForbidden, nil, []string{FlowProxy}},
	{"placeholder_mixed", http.StatusForbidden, nil, []string{FlowProxy}},
	{"placeholder_not_yours", http.StatusForbidden, nil, []string{FlowProxy}},
	{"placement_not_allowed", http.StatusForbidden, nil, []string{FlowProxy}},
	{"not_supported", http.StatusForbidden, nil, []string{FlowProxy}},
	{"bad_value", http.StatusForbidden, nil, []string{FlowProxy}},
	{"bad_target", http.StatusBadRequest, nil, []string{FlowProxy}},
	{"unsearchable_body", http.StatusUnsupportedMediaType, nil, []string{FlowProxy}},
	{"upstream_unresolved", http.StatusBadGateway, nil, []string{FlowProxy}},
	{"misdirected", http.StatusMisdirectedRequest, nil, []string{FlowProxy}},
	{"proxy_auth_required", http.StatusProxyAuthRequired, nil, []string{FlowProxy}},
	{"too_many_tunnels", http.StatusTooManyRequests, nil, []string{FlowProxy}},
	{"starting", http.StatusServiceUnavailable, nil, []string{FlowAll}},
	{"storage_unavailable", http.StatusServiceUnavailable, nil, []string{FlowAll}},
	{"audit_unavailable", http.StatusServiceUnavailable, nil, []string{FlowAll}},
	{"internal", http.StatusInternalServerError, nil, []string{FlowAll}},
	// Held calls (pending*.go). Their members (too_many_held's
	// retry_after, shape_mismatch's field) are checked by the held calls'
	// tests, which drive a call into holding.
	{"too_many_held", http.StatusTooManyRequests, nil, []string{FlowIngress, FlowEgress, FlowProxy}},
	{"approval_required", http.StatusForbidden, nil, []string{FlowEgress, FlowProxy}},
	{"refused", http.StatusForbidden, nil, []string{FlowEgress, FlowProxy}},
	{"caller_gone", http.StatusRequestTimeout, nil, []string{FlowIngress, FlowEgress, FlowProxy}},
	{"shape_mismatch", http.StatusBadRequest, nil, []string{FlowAPI}},
	{"not_approvable", http.StatusConflict, nil, []string{FlowAPI}},
	{"body_unreadable", http.StatusBadRequest, nil, []string{FlowEgress}},
}

// flowStatus holds the reasons answered with another status than their
// entry's in some flows: a SigV4 signature that does not verify behind
// the proxy site is 403, as AWS answers it (SignatureDoesNotMatch), so
// that an SDK fails as it would against AWS instead of looking for other
// credentials; a webhook delivery's stays 401.
var flowStatus = map[string]map[string]int{
	"bad_signature": {FlowProxy: http.StatusForbidden},
}

// StatusAt is the status of k's answers in flow.
func (k ProblemKind) StatusAt(flow string) int {
	if s, ok := flowStatus[k.Reason][flow]; ok {
		return s
	}
	return k.Status
}

// ProblemAt builds the problem of reason as flow answers it.
func ProblemAt(flow, reason, detail string) *Problem {
	return NewProblem(problemKind(reason).StatusAt(flow), reason, detail)
}

// ProblemKinds returns a copy of the registry. Kept exported on purpose:
// docs/reference_test.go iterates it to keep docs/problems.md true.
func ProblemKinds() []ProblemKind { return slices.Clone(problemKinds) }

// problemKind returns the registry's entry for reason; a reason it lacks
// is a refusal all the same (its tests keep the registry whole).
func problemKind(reason string) ProblemKind {
	for _, k := range problemKinds {
		if k.Reason == reason {
			return k
		}
	}
	return ProblemKind{Reason: reason, Status: http.StatusForbidden}
}

// Problem is an RFC 9457 problem details object. Detail and the extra
// fields name keys, packages and fields, never a value or a token.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`

	MissingKeys  []MissingKey `json:"missing_keys,omitempty"`
	Package      string       `json:"package,omitempty"`
	GrantedSHA   string       `json:"granted_sha256,omitempty"`
	CurrentSHA   string       `json:"current_sha256,omitempty"`
	Key          string       `json:"key,omitempty"`
	Field        string       `json:"field,omitempty"`
	SetURL       string       `json:"set_url,omitempty"`
	RetryAfterS  int          `json:"retry_after,omitempty"`
	Reason       string       `json:"reason,omitempty"`
	headersExtra http.Header
}

type MissingKey struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	SetWith     string `json:"set_with,omitempty"`
}

func NewProblem(status int, kind, detail string) *Problem {
	return &Problem{
		Type:   problemTypeBase + kind,
		Title:  http.StatusText(status),
		Status: status,
		Detail: detail,
		Reason: kind,
	}
}

// Error makes a Problem usable as an error inside keygate.
func (p *Problem) Error() string { return p.Title + ": " + p.Detail }

// WriteProblem writes p as application/problem+json.
func WriteProblem(w http.ResponseWriter, p *Problem) {
	h := w.Header()
	for k, v := range p.headersExtra {
		h[k] = v
	}
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// ProblemResponse builds a whole response for p, for the egress transport,
// whose refusals must reach the client as they are rather than as upstream
// errors that reverse_proxy would retry or turn into 502.
func ProblemResponse(req *http.Request, p *Problem) *http.Response {
	body, _ := json.Marshal(p)
	// A newline ends the body, as json.Encoder ends WriteProblem's, so that
	// curl's output does not run into the shell prompt.
	body = append(body, '\n')
	h := make(http.Header, 4)
	for k, v := range p.headersExtra {
		h[k] = v
	}
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	return &http.Response{
		Status:        strconv.Itoa(p.Status) + " " + http.StatusText(p.Status),
		StatusCode:    p.Status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}
}

// ToProblem is the one place where domain errors become HTTP statuses.
func ToProblem(err error) *Problem {
	var p *Problem
	if errors.As(err, &p) {
		return p
	}
	var denial *policy.Denial
	if errors.As(err, &denial) {
		return DenialProblem(denial)
	}
	if p := oauthProblem(err); p != nil {
		return p
	}
	var verr *store.ValidationError
	switch {
	case errors.As(err, &verr):
		pr := NewProblem(http.StatusBadRequest, "invalid", verr.Error())
		pr.Field = verr.Field
		return pr
	case errors.Is(err, store.ErrInvalid):
		return NewProblem(http.StatusBadRequest, "invalid", err.Error())
	case errors.Is(err, store.ErrNotFound):
		return NewProblem(http.StatusNotFound, "not_found", err.Error())
	case errors.Is(err, store.ErrUnavailable):
		// Before ErrConflict and ErrAuditUnavailable, which a database
		// failure may also wrap: the cause the client can wait out wins.
		p := NewProblem(http.StatusServiceUnavailable, "storage_unavailable",
			"keygate's database does not answer; nothing was changed by this request; retry shortly")
		p.RetryAfterS = 2
		p.headersExtra = http.Header{"Retry-After": {"2"}}
		return p
	case errors.Is(err, store.ErrConflict):
		return NewProblem(http.StatusConflict, "conflict", err.Error())
	case errors.Is(err, policy.ErrTokenExpired):
		return Unauthorized("the token has expired")
	case errors.Is(err, policy.ErrTokenInvalid):
		return Unauthorized("the token is not valid")
	case errors.Is(err, errNotReady):
		p := NewProblem(http.StatusServiceUnavailable, "starting", "keygate is starting; retry in a moment")
		p.headersExtra = http.Header{"Retry-After": {"1"}}
		return p
	case errors.Is(err, ErrAuditUnavailable):
		return NewProblem(http.StatusServiceUnavailable, "audit_unavailable",
			"the audit log cannot be written; keygate refuses requests until it recovers")
	}
	// Anything else is ours: say nothing of its text, which may name
	// internals.
	return NewProblem(http.StatusInternalServerError, "internal", "keygate could not complete the request; see its log")
}

func Unauthorized(detail string) *Problem {
	p := NewProblem(http.StatusUnauthorized, "unauthorized", detail)
	p.headersExtra = http.Header{"Www-Authenticate": {`Bearer realm="keygate"`}}
	return p
}

// DenialProblem is the answer to a denial, built through the registry:
// its status, and the members the denial's fields fill. Where the owner
// fixes it is App.ExplainDenial's to add.
func DenialProblem(d *policy.Denial) *Problem {
	k := problemKind(string(d.Reason))
	detail := d.Detail
	if detail == "" {
		detail = d.Error()
	}
	if d.Reason == policy.NotRequested && d.Key != "" {
		detail = fmt.Sprintf("package %s does not request key %q; it requests: %s", d.Package, d.Key, listOrNone(d.Requested))
	}
	p := NewProblem(k.Status, string(d.Reason), detail)
	if k.Status == http.StatusUnauthorized {
		p.headersExtra = http.Header{"Www-Authenticate": {`Bearer realm="keygate"`}}
		return p
	}
	p.Package, p.Key = d.Package, d.Key
	p.GrantedSHA, p.CurrentSHA = d.GrantedSHA, d.CurrentSHA
	for _, m := range d.Missing {
		p.MissingKeys = append(p.MissingKeys, MissingKey{Name: m.Name, Description: m.Description})
	}
	return p
}

func listOrNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// ExplainDenial is DenialProblem with where the keychain's owner fixes it:
// the owners' page (set_url), the command for each missing key (set_with),
// and for a missing or stale grant the command that approves it. An OAuth
// key is connected, not set.
func (a *App) ExplainDenial(d *policy.Denial) *Problem {
	p := DenialProblem(d)
	if d.Keychain == "" || d.Package == "" {
		return p
	}
	switch d.Reason {
	case policy.MissingKeys:
		pkg, _ := a.Store().PackageRecord(d.Package) // read-only; nil: no other approved key is named
		for i, m := range d.Missing {
			p.MissingKeys[i].SetWith = a.setWith(d.Keychain, d.Package, pkg, m)
		}
	case policy.NoGrant, policy.StaleGrant:
		p.Detail += fmt.Sprintf("; the keychain owner approves it with: keygate grant %s %s KEY...", d.Keychain, d.Package)
		if pkg, err := a.Store().PackageRecord(d.Package); err == nil {
			for _, k := range pkg.Keys {
				if k.OAuth != nil {
					p.Detail += fmt.Sprintf("; and connects %s with: keygate connect %s %s %s", k.Name, d.Keychain, d.Package, k.Name)
				}
			}
		}
	default:
		return p
	}
	p.SetURL = a.OwnerPageURL(d.Keychain, d.Package)
	return p
}

// setWith is the command that makes a missing key usable: approving it
// when its value is set, else setting it (with the hosts the package sends
// it to) or, for an OAuth key, connecting it, and approving it. The grant
// named keeps the keys already approved that the package still requests,
// since a grant replaces them.
func (a *App) setWith(kc, name string, pkg *store.Manifest, key store.KeySpec) string {
	keys := key.Name
	if g, err := a.Store().GetGrant(kc, name); pkg != nil && err == nil {
		for _, k := range g.Keys {
			if _, requested := pkg.Key(k); requested && k != key.Name {
				keys += " " + k
			}
		}
	}
	grant := fmt.Sprintf("keygate grant %s %s %s", kc, name, keys)
	if ok, _ := a.Store().HasSecret(kc, key.Name); ok {
		return grant
	}
	if key.OAuth != nil {
		return fmt.Sprintf("keygate connect %s %s %s && %s", kc, name, key.Name, grant)
	}
	set := fmt.Sprintf("keygate secret set %s %s", kc, key.Name)
	for _, h := range key.Hosts {
		set += " --allow-host " + h
	}
	return set + " && " + grant
}

func TooManyRequests(wait time.Duration) *Problem {
	secs := int((wait + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	p := NewProblem(http.StatusTooManyRequests, "rate_limited", "too many requests for this keychain; retry later")
	p.RetryAfterS = secs
	p.headersExtra = http.Header{"Retry-After": {strconv.Itoa(secs)}}
	return p
}
