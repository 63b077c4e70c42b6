package egress

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"go.uber.org/zap"

	"github.com/keygate/keygate/caddymodule/gateway"
	"github.com/keygate/keygate/policy"
	"github.com/keygate/keygate/sign"
	"github.com/keygate/keygate/store"
)

func init() {
	caddy.RegisterModule(Transport{})
}

// Transport is the `keygate` reverse_proxy transport (SPEC Flow 2). It
// wraps Caddy's http transport, whose options (TLS, timeouts, keep-alive)
// it takes inline, and for each request: verifies the invocation token the
// package's code sent as its API key, checks that the route's secret is
// usable and that the host actually dialed is allowed for it, and puts the
// secret into its own copy of the outbound request, replacing the token.
//
// Its refusals are answered as application/problem+json responses, not as
// errors, so reverse_proxy neither retries them nor turns them into 502.
type Transport struct {
	reverseproxy.HTTPTransport

	// Name of the secret to inject. Required.
	Secret string `json:"secret,omitempty"`

	// "user" (default): the keychain's secret; "app": the package's app
	// secret.
	Scope string `json:"scope,omitempty"`

	// Header to set, and its value with {secret} standing for the value.
	// Default: Authorization, "Bearer {secret}".
	Header   string `json:"header,omitempty"`
	Template string `json:"template,omitempty"`

	// Basic auth instead of a header template: the user name, with the
	// secret as password. "{secret}" as user name sends the secret as the
	// user name with an empty password (as Stripe's API accepts).
	BasicAuthUser string `json:"basic_auth_user,omitempty"`

	// Query parameter instead of a header.
	Query string `json:"query,omitempty"`

	// Header in which the package's SDK sends its API key (X-Api-Key,
	// api-key, x-goog-api-key): the invocation token is also accepted as
	// its bare value, and the header is neither forwarded nor logged.
	TokenHeader string `json:"token_header,omitempty"`

	// Whether answers are scrubbed of the injected value. Default: true.
	Scrub *bool `json:"scrub,omitempty"`

	// Sign the request with the secret instead (sign_route.go).
	SigV4 *SigV4Route `json:"sigv4,omitempty"`
	HMAC  *sign.HMAC  `json:"hmac,omitempty"`

	app            *gateway.App
	httpLog        *zap.Logger // the http app's loggers, for tokenLog
	scrubbers      *scrubberCache
	prefix, suffix string
	sigv4          *sign.SigV4
	awsKeys        *awsKeys
}

// CaddyModule returns the Caddy module information.
func (Transport) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.reverse_proxy.transport.keygate",
		New: func() caddy.Module { return new(Transport) },
	}
}

const (
	scopeUser         = "user"
	scopeApp          = "app"
	secretPlaceholder = "{secret}"
)

// Provision sets up the wrapped http transport.
func (t *Transport) Provision(ctx caddy.Context) error {
	app, err := ctx.App("keygate")
	if err != nil {
		return err
	}
	t.app = app.(*gateway.App)
	if t.Scope == "" {
		t.Scope = scopeUser
	}
	if t.Header == "" && t.BasicAuthUser == "" && t.Query == "" && !t.signs() {
		t.Header = "Authorization"
		if t.Template == "" {
			t.Template = "Bearer " + secretPlaceholder
		}
	}
	if t.Header != "" && t.Template == "" {
		t.Template = secretPlaceholder
	}
	t.Header = http.CanonicalHeaderKey(t.Header)
	t.scrubbers = new(scrubberCache)
	if t.TokenHeader != "" || t.SigV4 != nil {
		t.TokenHeader = http.CanonicalHeaderKey(t.TokenHeader)
		t.httpLog = ctx.Logger(&caddyhttp.App{})
	}
	t.prefix, t.suffix, _ = strings.Cut(t.Template, secretPlaceholder)
	if err := t.provisionSigning(); err != nil {
		return err
	}
	if err := refuseForwardProxy(&t.HTTPTransport); err != nil {
		return err
	}
	if err := t.HTTPTransport.Provision(ctx); err != nil {
		return err
	}
	dropEnvironmentProxy(&t.HTTPTransport)
	return nil
}

// Validate checks the configuration.
func (t *Transport) Validate() error {
	if err := store.ValidateSecretName(t.Secret); err != nil {
		return fmt.Errorf("keygate transport: secret: %w", err)
	}
	if t.Scope != scopeUser && t.Scope != scopeApp {
		return fmt.Errorf("keygate transport: scope must be %q or %q", scopeUser, scopeApp)
	}
	modes := 0
	for _, set := range []bool{t.Header != "", t.BasicAuthUser != "", t.Query != "", t.SigV4 != nil, t.HMAC != nil} {
		if set {
			modes++
		}
	}
	if err := t.validateTokenHeader(); err != nil {
		return err
	}
	if modes != 1 {
		return fmt.Errorf("keygate transport: use exactly one of header, basic_auth, query, sigv4, hmac")
	}
	if t.Header != "" {
		if strings.Count(t.Template, secretPlaceholder) != 1 {
			return fmt.Errorf("keygate transport: header template must contain %s exactly once", secretPlaceholder)
		}
		if strings.ContainsAny(t.Template, "\r\n\x00") {
			return fmt.Errorf("keygate transport: header template must not contain CR, LF or NUL")
		}
		if strings.HasPrefix(strings.ToLower(t.Header), "keygate-") {
			return fmt.Errorf("keygate transport: header must not be a Keygate-* header")
		}
	}
	return nil
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	tl := t.takeToken(req)
	if tl == nil && t.SigV4 != nil {
		tl = t.takePresignToken(req)
	}
	res, err := t.roundTrip(req, tl)
	return tl.finish(req, res, err)
}

func (t *Transport) roundTrip(req *http.Request, tl *tokenLog) (*http.Response, error) {
	if err := t.app.AwaitReady(req.Context()); err != nil {
		return gateway.ProblemResponse(req, gateway.ToProblem(err)), nil
	}
	start := time.Now()
	ev := store.AuditEvent{Actor: "package", Action: "egress", Keys: []string{t.Secret}, RequestID: gateway.RequestID()}
	host, port := dialedHostPort(req)
	ev.Host = host

	out, sc, prob := t.authorize(req, tl.bareToken(), &ev, host, port)
	if prob = t.app.Settle(req.Context(), "egress", ev, prob, start); prob != nil {
		return gateway.ProblemResponse(req, prob), nil
	}

	t.askIdentity(out, sc)
	res, err := t.HTTPTransport.RoundTrip(out)
	if res != nil {
		res.Request = req
	}
	if err != nil {
		return res, err
	}
	return t.scrubResponse(req, res, sc, ev)
}

// tokenProblem explains a refused token. The commonest mistake is to send
// the keychain token (what agents use at ingress) instead of the
// invocation token the package received, so that one is named.
func (t *Transport) tokenProblem(tok string, err error) *gateway.Problem {
	if _, kerr := t.app.Tokens().VerifyKeychainToken(tok); kerr == nil {
		return gateway.Unauthorized("this is a keychain token; egress wants the invocation token that keygate sent to the package in Authorization")
	}
	return gateway.ToProblem(err)
}

// authorize runs SPEC Flow 2 steps 1 to 4 and returns the request to send
// and the scrubber for its answer. headerTok is the token taken from the
// route's token header, if any.
func (t *Transport) authorize(req *http.Request, headerTok string, ev *store.AuditEvent, host, port string) (*http.Request, *Scrubber, *gateway.Problem) {
	tok, ok := headerTok, headerTok != ""
	if !ok {
		tok, ok = requestToken(req)
	}
	if !ok && t.SigV4 != nil {
		tok, ok = sigv4Token(req)
	}
	if !ok {
		return nil, nil, gateway.Unauthorized("send the invocation token as Authorization: Bearer <token>" + t.tokenHeaderHint())
	}
	claims, err := t.app.Tokens().VerifyInvocationToken(tok)
	if err != nil {
		return nil, nil, t.tokenProblem(tok, err)
	}
	ev.Keychain, ev.Package = claims.Keychain, claims.Package
	if p := t.checkStillGranted(&claims); p != nil {
		return nil, nil, p
	}

	st := t.app.Store()
	pkg, err := st.PackageRecord(claims.Package) // read-only
	if err != nil {
		return nil, nil, forbidden("package_gone", "the package of this token is no longer registered")
	}
	if pkg.SHA256 != claims.SHA256 || pkg.CodeEpoch != claims.CodeEpoch {
		return nil, nil, forbidden("stale_grant", "the package's code changed since this token was minted; the owner must approve it again")
	}
	spec, requested := pkg.Key(t.Secret)
	if t.Scope == scopeApp {
		spec, requested = pkg.AppKey(t.Secret)
	}
	if !requested {
		return nil, nil, forbidden("not_requested", fmt.Sprintf("package %s does not request key %s", pkg.Name, t.Secret))
	}
	if len(spec.Hosts) > 0 && !policy.HostAllowed(spec.Hosts, host, port) {
		return nil, nil, forbidden("host_not_allowed", fmt.Sprintf("key %s may not be sent to %s: not among the package's hosts for it", t.Secret, host))
	}

	out := gateway.OutboundCopy(req)
	if spec.OAuth != nil {
		sc, p := t.injectOAuth(req, out, &claims, spec, host, port)
		if p != nil {
			return nil, nil, p
		}
		return out, sc, nil
	}
	var sc *Scrubber
	open := func(meta store.SecretMeta, value []byte) error {
		if !policy.HostAllowed(meta.AllowedHosts, host, port) || !pinHost(req, out, meta.AllowedHosts, spec.Hosts) {
			return errHostNotAllowed
		}
		if t.signs() {
			signed, serr := t.signOut(out, meta, value)
			sc = signed
			return serr
		}
		sc = t.scrubberFor(value, t.inject(out, value))
		return nil
	}
	if t.Scope == scopeApp {
		err = st.OpenAppSecret(claims.Package, t.Secret, open)
	} else {
		err = st.OpenSecret(claims.Keychain, t.Secret, open)
	}
	var refused *signRefusal
	switch {
	case errors.As(err, &refused):
		return nil, nil, refused.p
	case errors.Is(err, errHostNotAllowed):
		return nil, nil, forbidden("host_not_allowed", fmt.Sprintf("secret %s may not be sent to %s: not among its allowed_hosts", t.Secret, host))
	case errors.Is(err, store.ErrNotFound):
		p := gateway.NewProblem(http.StatusPreconditionRequired, "missing_keys", fmt.Sprintf("secret %s has no value", t.Secret))
		p.MissingKeys = []gateway.MissingKey{{Name: spec.Name, Description: spec.Description}}
		return nil, nil, p
	case err != nil:
		return nil, nil, gateway.ToProblem(err)
	}
	return out, sc, nil
}

// checkStillGranted makes revocation take effect on the next request, and
// for good: the token's keychain version, grant epoch and key must all
// still stand, so a grant deleted (or a key removed) and made again does
// not revive tokens minted before.
func (t *Transport) checkStillGranted(c *policy.InvocationClaims) *gateway.Problem {
	st := t.app.Store()
	kc, err := st.GetKeychain(c.Keychain)
	if err != nil || kc.TokenVersion != c.KeychainVersion {
		return gateway.Unauthorized("the keychain of this token was deleted or its token rotated")
	}
	g, err := st.GrantRecord(c.Keychain, c.Package) // read-only
	if err != nil {
		return forbidden("no_grant", "the keychain's grant for this package was revoked")
	}
	if g.SHA256 != c.SHA256 {
		return forbidden("stale_grant", "the grant was made for other package code")
	}
	if t.Scope == scopeApp {
		if !c.HasAppKey(t.Secret) {
			return forbidden("not_approved", fmt.Sprintf("key %s is not usable with this token", t.Secret))
		}
	} else {
		if !c.HasKey(t.Secret) {
			return forbidden("not_approved", fmt.Sprintf("key %s is not usable with this token", t.Secret))
		}
		if !slices.Contains(g.Keys, t.Secret) {
			return forbidden("not_approved", fmt.Sprintf("key %s is no longer approved for this package", t.Secret))
		}
	}
	if g.Epoch != c.GrantEpoch {
		return forbidden("no_grant", "the grant this token was minted under was revoked or narrowed since; a new call mints a new token")
	}
	return nil
}

var errHostNotAllowed = errors.New("host not allowed")

// inject puts value into out and removes the invocation token and every
// Keygate-* header, overwriting whatever the caller sent. It returns the
// exact header value sent ("" for a query parameter).
func (t *Transport) inject(out *http.Request, value []byte) (sent string) {
	h := out.Header
	gateway.StripKeygateHeaders(h)
	// The names are canonical: Del would canonicalize them again.
	delete(h, "Authorization")
	delete(h, "Proxy-Authorization")
	switch {
	case t.Header != "":
		sent = t.prefix + string(value) + t.suffix
		h[t.Header] = []string{sent}
	case t.BasicAuthUser != "":
		user, pass := t.BasicAuthUser, string(value)
		if user == secretPlaceholder {
			user, pass = pass, ""
		}
		sent = "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
		h["Authorization"] = []string{sent}
	case t.Query != "":
		q := out.URL.Query()
		q.Set(t.Query, string(value))
		out.URL.RawQuery = q.Encode()
	}
	return sent
}

// headerToken finds the token in the value of Authorization or
// Proxy-Authorization, where an SDK puts its API key: as Bearer or as
// either half of Basic credentials. Tokens are accepted nowhere else, since
// only these headers are redacted by Caddy's logs.
func headerToken(v string) (string, bool) {
	if v == "" {
		return "", false
	}
	if tok, ok := gateway.BearerToken(v); ok {
		return tok, true
	}
	if user, pass, ok := parseBasic(v); ok {
		if strings.Count(user, ".") == 2 {
			return user, true
		}
		if strings.Count(pass, ".") == 2 {
			return pass, true
		}
	}
	return "", false
}

func parseBasic(v string) (user, pass string, ok bool) {
	const prefix = "basic "
	if len(v) <= len(prefix) || !strings.EqualFold(v[:len(prefix)], prefix) {
		return "", "", false
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v[len(prefix):]))
	if err != nil {
		return "", "", false
	}
	user, pass, ok = strings.Cut(string(b), ":")
	return user, pass, ok
}

// dialedHostPort is the upstream the wrapped transport will actually dial,
// whatever the Host header says.
func dialedHostPort(req *http.Request) (string, string) {
	if di, ok := reverseproxy.GetDialInfo(req.Context()); ok {
		return di.Host, di.Port
	}
	host, port, err := net.SplitHostPort(req.URL.Host)
	if err != nil {
		return req.URL.Host, ""
	}
	return host, port
}

func forbidden(reason, detail string) *gateway.Problem {
	return gateway.NewProblem(http.StatusForbidden, reason, detail)
}

// Interface guards
var (
	_ caddy.Provisioner  = (*Transport)(nil)
	_ caddy.Validator    = (*Transport)(nil)
	_ http.RoundTripper  = (*Transport)(nil)
	_ caddy.CleanerUpper = (*Transport)(nil)
)
