package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/caddyserver/caddy/v2"
)

const (
	defaultAPI = "http://127.0.0.1:8080"

	envAPI   = "KEYGATE_API"
	envToken = "KEYGATE_ADMIN_TOKEN"

	requestTimeout = 30 * time.Second
	maxResponse    = 16 << 20
)

// tokenFile is where keygate writes its admin token on a first run
// without admin_token configured (caddymodule/bootstrap.go).
func tokenFile() string {
	return filepath.Join(caddy.AppDataDir(), "keygate", "admin.token")
}

// client calls the management API with the admin token.
type client struct {
	base        string // without a trailing slash
	token       string
	tokenSource string // where the token came from, for the 401 hint
	tokenName   string // what the token is, for that hint; empty: the admin token
	http        *http.Client
}

// api returns the API client, from --api, $KEYGATE_API and the admin
// token.
func (e *env) api() (*client, error) {
	base, err := apiBase(e)
	if err != nil {
		return nil, err
	}
	tok, source, err := adminToken()
	if err != nil {
		return nil, err
	}
	return &client{
		base:        base,
		token:       tok,
		tokenSource: source,
		http: &http.Client{
			Timeout: requestTimeout,
			// A redirect would carry the admin token elsewhere; the API
			// never redirects.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}, nil
}

func apiBase(e *env) (string, error) { return apiBaseFor(e, "the admin token") }

// apiBaseFor is apiBase for a client that sends token (named as the
// plain-HTTP warning names it).
func apiBaseFor(e *env, token string) (string, error) {
	raw, _ := e.flags.GetString("api")
	from := "--api"
	if raw == "" {
		raw, from = os.Getenv(envAPI), envAPI
	}
	if raw == "" {
		raw = defaultAPI
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", usageErrorf("%s must be an http or https URL such as %s", from, defaultAPI)
	}
	if u.User != nil {
		return "", usageErrorf("%s must not hold credentials; the admin token is read from %s or its file", from, envToken)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", usageErrorf("%s must not have a query or fragment", from)
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		fmt.Fprintf(e.stderr, "keygate: warning: sending %s over plain HTTP to %s\n", token, sanitize(u.Host))
	}
	return strings.TrimRight(u.String(), "/"), nil
}

func isLoopback(host string) bool {
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// adminToken returns the admin token and where it came from. The token is
// never printed, nor is the content of a token file.
func adminToken() (tok, source string, err error) {
	if v := strings.TrimSpace(os.Getenv(envToken)); v != "" {
		return v, envToken, checkToken(v, envToken)
	}
	path := tokenFile()
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", "", fmt.Errorf("no admin token: set %s, or run this where keygate keeps %s", envToken, path)
	case err != nil:
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return "", "", fmt.Errorf("reading admin token file %s: %v (or set %s)", path, err, envToken)
	}
	tok = strings.TrimSpace(string(b))
	if tok == "" {
		return "", "", fmt.Errorf("admin token file %s is empty (or set %s)", path, envToken)
	}
	return tok, path, checkToken(tok, path)
}

func checkToken(tok, source string) error {
	for i := 0; i < len(tok); i++ {
		if c := tok[i]; c < 0x21 || c == 0x7f {
			return fmt.Errorf("the admin token from %s contains a space or control character", source)
		}
	}
	return nil
}

// response is a successful API answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

// apiError is an API answer other than 2xx, made from its problem details.
type apiError struct {
	status int
	kind   string // last segment of the problem type, e.g. "invalid"
	detail string
}

func (e *apiError) Error() string {
	if e.detail == "" {
		return fmt.Sprintf("%d %s", e.status, e.kind)
	}
	return fmt.Sprintf("%d %s: %s", e.status, e.kind, e.detail)
}

// segment escapes one path segment; a package name "@scope/name" stays one
// segment ("@scope%2Fname"), which the API accepts.
func segment(s string) string { return url.PathEscape(s) }

// do sends one request. body, when not nil, is JSON.
func (c *client) do(ctx context.Context, method, path string, query url.Values, body []byte) (*response, error) {
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, fmt.Errorf("building the request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json, application/problem+json")
	req.Header.Set("User-Agent", "keygate-cli")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.transportError(ctx, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return nil, fmt.Errorf("reading the answer from %s: %v", c.base, unwrapNet(err))
	}
	if len(data) > maxResponse {
		return nil, fmt.Errorf("the answer from %s is larger than %d bytes", c.base, maxResponse)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if err := c.checkJSON(resp, data); err != nil {
			return nil, err
		}
		return &response{status: resp.StatusCode, header: resp.Header, body: data}, nil
	}
	return nil, c.problem(resp, data)
}

// checkJSON refuses a success that is not the API's: every answer of
// keygate_api but 204 is JSON, while another site (a wrong port) answers
// Caddy's empty 200. Saying so beats "unexpected end of JSON input".
func (c *client) checkJSON(resp *http.Response, data []byte) error {
	if resp.StatusCode == http.StatusNoContent {
		return nil
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt == "application/json" && json.Valid(data) {
		return nil
	}
	reason := fmt.Sprintf("it answered %d with Content-Type %q", resp.StatusCode, mt)
	if len(bytes.TrimSpace(data)) == 0 {
		reason = fmt.Sprintf("it answered %d with an empty body", resp.StatusCode)
	}
	return fmt.Errorf("no keygate API at %s: %s (set --api or %s)", c.base, reason, envAPI)
}

func (c *client) transportError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var ue *url.Error
	if errors.As(err, &ue) && ue.Timeout() {
		return fmt.Errorf("no answer from the keygate API at %s within %s", c.base, requestTimeout)
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("is keygate running? Nothing listens at %s (connection refused): start it with keygate run, or point --api or %s at its API", c.base, envAPI)
	}
	return fmt.Errorf("cannot reach the keygate API at %s: %v (set --api or %s)", c.base, unwrapNet(err), envAPI)
}

// unwrapNet keeps the innermost cause ("connection refused") of a network
// error, without the URL and operation around it.
func unwrapNet(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		err = oe.Err
		var se *os.SyscallError
		if errors.As(err, &se) {
			err = se.Err
		}
	}
	return err
}

// problem turns an error answer into an apiError. The body is read as
// problem details only; anything else is not echoed.
func (c *client) problem(resp *http.Response, data []byte) error {
	e := &apiError{status: resp.StatusCode, kind: strings.ToLower(strings.ReplaceAll(http.StatusText(resp.StatusCode), " ", "_"))}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		e.detail = "unexpected redirect: is " + c.base + " keygate's API (keygate_api)?"
		return e
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	var p struct {
		Type   string `json:"type"`
		Title  string `json:"title"`
		Detail string `json:"detail"`
	}
	if (mt == "application/problem+json" || mt == "application/json") && json.Unmarshal(data, &p) == nil {
		e.kind = problemKind(p.Type, e.kind)
		e.detail = p.Detail
	} else if resp.StatusCode == http.StatusNotFound {
		e.detail = "is " + c.base + " keygate's API (keygate_api)?"
	}
	if resp.StatusCode == http.StatusUnauthorized {
		name := c.tokenName
		if name == "" {
			name = "admin token"
		}
		e.detail = strings.TrimSuffix(e.detail, ".") + "; the " + name + " from " + c.tokenSource + " was refused"
	}
	return e
}

// problemKind is the last segment of a problem type, a URN
// ("urn:keygate:problem:invalid") or a URL (".../problems/invalid"), or
// fallback for "about:blank" and no type.
func problemKind(typ, fallback string) string {
	if typ == "" || typ == "about:blank" {
		return fallback
	}
	if i := strings.LastIndexAny(typ, "/:"); i >= 0 && i < len(typ)-1 {
		return typ[i+1:]
	}
	return fallback
}

// getJSON GETs path into v and returns the raw answer for --json.
func (c *client) getJSON(ctx context.Context, path string, query url.Values, v any) ([]byte, error) {
	resp, err := c.do(ctx, http.MethodGet, path, query, nil)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(resp.body, v); err != nil {
		return nil, fmt.Errorf("the API's answer is not the JSON expected: %v", err)
	}
	return resp.body, nil
}

// sendJSON sends v as JSON and decodes the answer into out (when not nil
// and the answer has a body).
func (c *client) sendJSON(ctx context.Context, method, path string, v, out any) (*response, error) {
	var body []byte
	if v != nil {
		var err error
		if body, err = json.Marshal(v); err != nil {
			return nil, err
		}
	}
	resp, err := c.do(ctx, method, path, nil, body)
	if err != nil {
		return nil, err
	}
	if out != nil && len(bytes.TrimSpace(resp.body)) > 0 {
		if err := json.Unmarshal(resp.body, out); err != nil {
			return nil, fmt.Errorf("the API's answer is not the JSON expected: %v", err)
		}
	}
	return resp, nil
}

// printJSON writes an API answer as it came, for --json.
func (e *env) printJSON(body []byte) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return
	}
	e.stdout.Write(body)
	io.WriteString(e.stdout, "\n")
}

// show GETs path into v. With --json it prints the API's answer as it came
// and reports done; otherwise the caller renders v for people.
func (e *env) show(path string, query url.Values, v any) (done bool, err error) {
	c, err := e.api()
	if err != nil {
		return false, err
	}
	raw, err := c.getJSON(e.ctx, path, query, v)
	if err != nil {
		return false, err
	}
	if e.json {
		e.printJSON(raw)
		return true, nil
	}
	return false, nil
}
