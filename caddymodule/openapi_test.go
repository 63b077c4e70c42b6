package caddymodule_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/keygate/keygate/oauthtest"
	"github.com/keygate/keygate/store"
)

// apiCase is one request to the management API and the status it must
// get. badRequest marks a request the document itself refuses (a missing
// field, a limit out of range): only its answer is validated.
type apiCase struct {
	method, path string
	body         any
	status       int
	noToken      bool
	bearer       string // sent instead of the admin token
	badRequest   bool
	accept       string
	form         url.Values        // a form body instead of JSON
	header       map[string]string // more request headers
}

// openAPIChecker sends requests to a running keygate and validates each
// request and answer against docs/openapi.json.
type openAPIChecker struct {
	t      *testing.T
	g      *gateway
	router routers.Router
	ok     map[string]bool // operationId -> answered 2xx
	failed map[string]bool // operationId -> answered a problem
	doc    *openapi3.T
	header http.Header // the last answer's headers
}

func newOpenAPIChecker(t *testing.T, g *gateway) *openAPIChecker {
	// The OAuth callback answers owners' browsers a page.
	openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.PlainBodyDecoder)
	b, err := os.ReadFile("../docs/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := openapi3.NewLoader().LoadFromData(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatal(err)
	}
	r, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &openAPIChecker{t: t, g: g, router: r, doc: doc, ok: map[string]bool{}, failed: map[string]bool{}}
}

func (c *openAPIChecker) do(tc apiCase) []byte {
	c.t.Helper()
	var raw []byte
	if tc.form != nil {
		raw = []byte(tc.form.Encode())
	}
	switch b := tc.body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			c.t.Fatal(err)
		}
	}
	newReq := func() *http.Request {
		req, err := http.NewRequest(tc.method, c.g.api+tc.path, bytes.NewReader(raw))
		if err != nil {
			c.t.Fatal(err)
		}
		if tc.form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		} else if raw != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		for k, v := range tc.header {
			req.Header.Set(k, v)
		}
		switch {
		case tc.bearer != "":
			req.Header.Set("Authorization", "Bearer "+tc.bearer)
		case !tc.noToken:
			req.Header.Set("Authorization", "Bearer "+c.g.adminToken)
		}
		if tc.accept != "" {
			req.Header.Set("Accept", tc.accept)
		}
		return req
	}
	name := tc.method + " " + tc.path

	req := newReq()
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		c.t.Fatalf("%s: not in the document: %v", name, err)
	}
	opts := &openapi3filter.Options{
		IncludeResponseStatus: true,
		MultiError:            true,
		AuthenticationFunc: func(_ context.Context, in *openapi3filter.AuthenticationInput) error {
			if _, ok := strings.CutPrefix(in.RequestValidationInput.Request.Header.Get("Authorization"), "Bearer "); !ok {
				return errors.New("no bearer token")
			}
			return nil
		},
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	err = openapi3filter.ValidateRequest(context.Background(), in)
	public := route.Operation.Security != nil && len(*route.Operation.Security) == 0
	switch {
	case tc.badRequest || tc.noToken && !public:
		if err == nil {
			c.t.Errorf("%s: the document accepts a request keygate refuses", name)
		}
	case err != nil:
		c.t.Errorf("%s: request does not match the document: %v", name, err)
	}

	res, err := http.DefaultClient.Do(newReq())
	if err != nil {
		c.t.Fatalf("%s: %v", name, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	c.g.bodies.Write(body)
	c.header = res.Header
	if res.StatusCode != tc.status {
		c.t.Fatalf("%s: status %d, want %d: %s", name, res.StatusCode, tc.status, body)
	}
	rin := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: res.StatusCode, Header: res.Header, Options: opts}
	rin.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), rin); err != nil {
		c.t.Errorf("%s: answer %d does not match the document: %v\n%s", name, res.StatusCode, err, body)
	}
	if res.StatusCode < 300 {
		c.ok[route.Operation.OperationID] = true
	} else {
		c.failed[route.Operation.OperationID] = true
	}
	return body
}

// TestOpenAPIMatchesAPI sends every documented route a request that works
// and one that fails, against keygate in this process, and validates both
// ways with kin-openapi's openapi3filter.
func TestOpenAPIMatchesAPI(t *testing.T) {
	openapi3filter.RegisterBodyDecoder("application/x-pem-file", openapi3filter.PlainBodyDecoder)
	srv := oauthtest.New()
	defer srv.Close()
	g := startGateway(t, gatewayOptions{publicURL: true, keygateCfg: `oauth_provider stub {
			authorize_url ` + srv.AuthorizeURL() + `
			token_url ` + srv.TokenURL() + `
		}`})
	c := newOpenAPIChecker(t, g)
	const missing = "kc_aaaaaaaaaaaaaaaaaaaaaaaaaa"
	const pkg = "/v1/packages/%40acme%2Fmail"

	c.do(apiCase{method: "GET", path: "/v1/openapi.json", status: 200, noToken: true})
	c.do(apiCase{method: "GET", path: "/v1/openapi.json", status: 200})

	var kc struct{ ID, Token string }
	json.Unmarshal(c.do(apiCase{method: "POST", path: "/v1/keychains", body: map[string]any{"owner": "alice", "name": "work"}, status: 201}), &kc)
	c.do(apiCase{method: "POST", path: "/v1/keychains", body: map[string]any{}, status: 400, badRequest: true})
	c.do(apiCase{method: "POST", path: "/v1/keychains", body: map[string]any{"owner": "alice"}, status: 401, noToken: true})
	kcPath := "/v1/keychains/" + kc.ID

	c.do(apiCase{method: "GET", path: "/v1/keychains?owner=alice", status: 200})
	c.do(apiCase{method: "GET", path: "/v1/keychains", status: 401, noToken: true})
	json.Unmarshal(c.do(apiCase{method: "POST", path: kcPath + "/token", status: 200}), &kc)
	c.do(apiCase{method: "POST", path: "/v1/keychains/" + missing + "/token", status: 404})
	c.do(apiCase{method: "POST", path: kcPath + "/login-link", status: 200})
	c.do(apiCase{method: "POST", path: "/v1/keychains/" + missing + "/login-link", status: 404})

	c.do(apiCase{method: "PUT", path: kcPath + "/secrets/API_KEY", body: map[string]any{"value": "sk_" + randHex(t, 8), "allowed_hosts": []string{"127.0.0.1"}, "rotation_hint_days": 30}, status: 204})
	c.do(apiCase{method: "PUT", path: kcPath + "/secrets/API_KEY", body: map[string]any{"allowed_hosts": []string{"127.0.0.1"}}, status: 400, badRequest: true})
	c.do(apiCase{method: "PUT", path: kcPath + "/secrets/API_KEY", body: map[string]any{"value": "x", "colour": "red"}, status: 400, badRequest: true})
	c.do(apiCase{method: "GET", path: kcPath + "/secrets", status: 200})
	c.do(apiCase{method: "GET", path: "/v1/keychains/" + missing + "/secrets", status: 404})

	oauthKey := map[string]any{"name": "MAIL_TOKEN", "required": true, "hosts": []string{"127.0.0.1"},
		"oauth": map[string]any{"provider": "stub", "scopes": []string{"mail.read"}, "client_id": "CLIENT_ID", "client_secret": "CLIENT_SECRET"}}
	m := g.manifest("@acme/mail", "mail", map[string]any{"name": "API_KEY", "required": true, "hosts": []string{"127.0.0.1"}}, oauthKey)
	m["app_keys"] = []any{map[string]any{"name": "CLIENT_ID", "required": true}, map[string]any{"name": "CLIENT_SECRET", "required": true}}
	c.do(apiCase{method: "PUT", path: pkg, body: m, status: 201})
	c.do(apiCase{method: "PUT", path: pkg, body: m, status: 200})
	c.do(apiCase{method: "PUT", path: "/v1/packages/%40acme%2Fother", body: m, status: 400})
	c.do(apiCase{method: "GET", path: "/v1/packages", status: 200})
	c.do(apiCase{method: "GET", path: "/v1/packages", status: 401, noToken: true})
	c.do(apiCase{method: "GET", path: pkg, status: 200})
	c.do(apiCase{method: "GET", path: "/v1/packages/%40acme%2Fnone", status: 404})
	c.do(apiCase{method: "PUT", path: pkg + "/app-secrets/CLIENT_ID", body: map[string]any{"value": srv.ClientID}, status: 204})
	c.do(apiCase{method: "PUT", path: pkg + "/app-secrets/CLIENT_SECRET", body: map[string]any{"value": srv.ClientSecret}, status: 204})
	c.do(apiCase{method: "PUT", path: pkg + "/app-secrets/NOT_DECLARED", body: map[string]any{"value": "x"}, status: 400})

	c.do(apiCase{method: "PUT", path: kcPath + "/grants/%40acme%2Fmail", body: map[string]any{"keys": []string{"API_KEY", "MAIL_TOKEN"}}, status: 200})
	c.do(apiCase{method: "PUT", path: kcPath + "/grants/%40acme%2Fnone", body: map[string]any{"keys": []string{"API_KEY"}}, status: 404})
	c.do(apiCase{method: "GET", path: kcPath + "/grants", status: 200})
	c.do(apiCase{method: "GET", path: "/v1/keychains/" + missing + "/grants", status: 404})
	c.do(apiCase{method: "GET", path: kcPath + "/pending", status: 200})
	c.do(apiCase{method: "GET", path: "/v1/keychains/" + missing + "/pending", status: 404})
	c.do(apiCase{method: "POST", path: kcPath + "/pending/hc_none/approve", body: map[string]any{"scope": "once"}, status: 404})
	c.do(apiCase{method: "POST", path: kcPath + "/pending/hc_none/approve", body: map[string]any{"scope": "always"}, status: 400, badRequest: true})
	c.do(apiCase{method: "POST", path: kcPath + "/pending/hc_none/refuse", status: 404})
	// Held calls are parked requests; for the schema, records stand in.
	for _, id := range []string{"hc_a", "hc_b"} {
		rec := store.HeldCall{ID: id, Keychain: kc.ID, Package: "@acme/mail", Key: "API_KEY", Kind: "approve", Reason: "approval_required", Flow: "egress",
			Method: "POST", Host: "127.0.0.1", Path: "/v1/send", BodySize: 2, BodySHA256: strings.Repeat("a", 64), Body: json.RawMessage(`{}`),
			Shape: strings.Repeat("b", 64), RequestID: "r1", Created: time.Now(), Expires: time.Now().Add(time.Minute)}
		if err := g.app().Store().PutHeld(rec); err != nil {
			t.Fatal(err)
		}
	}
	c.do(apiCase{method: "GET", path: kcPath + "/pending", status: 200})
	c.do(apiCase{method: "POST", path: kcPath + "/pending/hc_a/approve", body: map[string]any{"scope": "once"}, status: 200})
	c.do(apiCase{method: "POST", path: kcPath + "/pending/hc_b/refuse", status: 200})

	var conn struct {
		AuthorizeURL string `json:"authorize_url"`
	}
	json.Unmarshal(c.do(apiCase{method: "POST", path: kcPath + "/connect/%40acme%2Fmail/MAIL_TOKEN", status: 200}), &conn)
	c.do(apiCase{method: "POST", path: kcPath + "/connect/%40acme%2Fmail/API_KEY", status: 400})
	callback := srv.Authorize(t, conn.AuthorizeURL)
	_, query, _ := strings.Cut(callback, "?")
	var pending struct{ Pending string }
	json.Unmarshal(c.do(apiCase{method: "GET", path: "/oauth/callback?" + query, status: 200, noToken: true, accept: "application/json"}), &pending)
	cookies := (&http.Response{Header: c.header}).Cookies()
	c.do(apiCase{method: "GET", path: "/oauth/callback?" + query, status: 400, noToken: true, accept: "application/json"})
	confirm := apiCase{method: "POST", path: "/oauth/callback", status: 200, noToken: true, accept: "application/json",
		form: url.Values{"pending": {pending.Pending}, "action": {"confirm"}}, header: map[string]string{"Sec-Fetch-Site": "same-origin"}}
	if len(cookies) == 1 {
		confirm.header["Cookie"] = cookies[0].Name + "=" + cookies[0].Value
	}
	c.do(confirm)
	c.do(apiCase{method: "POST", path: "/oauth/callback", status: 400, noToken: true, accept: "application/json", form: confirm.form, header: confirm.header})
	c.do(apiCase{method: "GET", path: "/oauth/callback?state=nope&code=nope", status: 400, noToken: true})
	if st, _, b := g.agent("mail", kc.Token, nil); st != 200 {
		t.Fatalf("agent call: %d %s", st, b)
	}
	inv := strings.TrimPrefix(g.pkgUpstream.last(t).Header.Get("Authorization"), "Bearer ")
	c.do(apiCase{method: "GET", path: "/v1/proxy/placeholders", status: 200, bearer: inv})
	c.do(apiCase{method: "GET", path: "/v1/proxy/placeholders", status: 401, bearer: kc.Token})
	c.do(apiCase{method: "GET", path: kcPath, status: 200})
	c.do(apiCase{method: "GET", path: "/v1/keychains/" + missing, status: 404})

	c.do(apiCase{method: "GET", path: "/v1/audit?limit=5&keychain=" + kc.ID, status: 200})
	c.do(apiCase{method: "GET", path: "/v1/audit?limit=0", status: 400, badRequest: true})
	c.do(apiCase{method: "GET", path: "/v1/audit/verify", status: 200})
	c.do(apiCase{method: "GET", path: "/v1/audit/verify", status: 401, noToken: true})
	c.do(apiCase{method: "POST", path: "/v1/rewrap", status: 200})
	c.do(apiCase{method: "POST", path: "/v1/rewrap", status: 401, noToken: true})
	c.do(apiCase{method: "GET", path: "/v1/rewrap", status: 200})
	c.do(apiCase{method: "GET", path: "/v1/rewrap", status: 401, noToken: true})
	c.do(apiCase{method: "GET", path: "/v1/status", status: 200})
	c.do(apiCase{method: "GET", path: "/v1/status", status: 401, noToken: true})
	c.do(apiCase{method: "GET", path: "/healthz", status: 200, noToken: true})
	c.do(apiCase{method: "GET", path: "/v1/proxy/ca.pem", status: 200, noToken: true, accept: "application/x-pem-file"})
	c.do(apiCase{method: "POST", path: "/v1/proxy/ca/rotate", body: map[string]any{"overlap": "1h"}, status: 200})
	c.do(apiCase{method: "POST", path: "/v1/proxy/ca/rotate", body: map[string]any{"overlap": "forever"}, status: 400, badRequest: true})

	c.do(apiCase{method: "DELETE", path: kcPath + "/grants/%40acme%2Fmail", status: 204})
	c.do(apiCase{method: "DELETE", path: kcPath + "/grants/%40acme%2Fmail", status: 404})
	c.do(apiCase{method: "DELETE", path: kcPath + "/secrets/API_KEY", status: 204})
	c.do(apiCase{method: "DELETE", path: kcPath + "/secrets/API_KEY", status: 404})
	c.do(apiCase{method: "DELETE", path: pkg, status: 204})
	c.do(apiCase{method: "DELETE", path: pkg, status: 404})
	c.do(apiCase{method: "DELETE", path: kcPath, status: 204})
	c.do(apiCase{method: "DELETE", path: kcPath, status: 404})

	for path, item := range c.doc.Paths.Map() {
		for method, op := range item.Operations() {
			if !c.ok[op.OperationID] {
				t.Errorf("%s %s (%s) was never answered with success", method, path, op.OperationID)
			}
			// The health check fails only with the store down (503, kept
			// in the document); the document and the CA certificates are public.
			if !c.failed[op.OperationID] && op.OperationID != "getOpenAPI" && op.OperationID != "healthz" && op.OperationID != "getProxyCA" {
				t.Errorf("%s %s (%s) was never refused", method, path, op.OperationID)
			}
		}
	}
	for _, s := range srv.Secrets() {
		if strings.Contains(g.bodies.String(), s) {
			t.Errorf("an OAuth secret or token leaked into an answer")
		}
		for _, line := range strings.Split(g.logs(), "\n") {
			// The access log is on (debug, every request's URI): the
			// callback's code and state must be in no line of it either.
			if strings.Contains(line, s) {
				t.Errorf("an OAuth secret or token leaked into a log line: %.300s", line)
			}
		}
	}
}
