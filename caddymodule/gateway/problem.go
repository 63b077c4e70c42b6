package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/keygate/keygate/policy"
	"github.com/keygate/keygate/store"
)

// problemTypeBase prefixes the `type` of every problem keygate answers.
const problemTypeBase = "urn:keygate:problem:"

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

func DenialProblem(d *policy.Denial) *Problem {
	var p *Problem
	switch d.Reason {
	case "missing_keys":
		p = NewProblem(http.StatusPreconditionRequired, "missing_keys", d.Error())
		for _, k := range d.Missing {
			p.MissingKeys = append(p.MissingKeys, MissingKey{Name: k.Name, Description: k.Description})
		}
	case "stale_grant":
		p = NewProblem(http.StatusForbidden, "stale_grant", d.Error())
		p.GrantedSHA, p.CurrentSHA = d.GrantedSHA, d.CurrentSHA
	case "no_grant":
		p = NewProblem(http.StatusForbidden, "no_grant", d.Error())
	case "not_requested":
		p = NewProblem(http.StatusBadRequest, "not_requested", d.Error())
		p.Key = d.Key
	default:
		p = NewProblem(http.StatusForbidden, string(d.Reason), d.Error())
		p.Key = d.Key
	}
	p.Reason = string(d.Reason)
	p.Package = d.Package
	return p
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
