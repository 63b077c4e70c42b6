package egress

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"go.uber.org/zap"

	"github.com/keygate/keygate/caddymodule/gateway"
	"github.com/keygate/keygate/policy"
	"github.com/keygate/keygate/scrub"
	"github.com/keygate/keygate/sign"
	"github.com/keygate/keygate/store"
)

func init() {
	caddy.RegisterModule(Transport{})
}

// Transport is the `keygate` reverse_proxy transport (Flow 2: package to API). It
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

	// Provider preset (package preset) that fills the placement and token
	// header the route leaves out.
	Preset string `json:"preset,omitempty"`

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

	// Calls per keychain and package through this route (rate.go). Unset
	// means none.
	Rate *gateway.RateLimit `json:"rate,omitempty"`

	app            *gateway.App
	httpLog        *zap.Logger // the http app's loggers, for tokenLog
	scrubbers      *scrub.Cache
	prefix, suffix string
	sigv4          *sign.SigV4
	awsKeys        *awsKeys
	limiter        *policy.Limiter
	limiterKey     string
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
	if err := t.applyPreset(); err != nil {
		return err
	}
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
	t.scrubbers = new(scrub.Cache)
	if t.TokenHeader != "" || t.SigV4 != nil {
		t.TokenHeader = http.CanonicalHeaderKey(t.TokenHeader)
		t.httpLog = ctx.Logger(&caddyhttp.App{})
	}
	t.prefix, t.suffix, _ = strings.Cut(t.Template, secretPlaceholder)
	if err := t.provisionSigning(); err != nil {
		return err
	}
	if err := t.provisionRate(); err != nil {
		return err
	}
	if err := refuseForwardProxy(&t.HTTPTransport); err != nil {
		return err
	}
	gateway.BoundUpstreamTimeouts(&t.HTTPTransport)
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
	if err := t.validateRate(); err != nil {
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
	ev := store.AuditEvent{Actor: "package", Action: gateway.ActionEgress, Keys: []string{t.Secret}, RequestID: gateway.RequestID()}
	host, port := dialedHostPort(req)
	ev.Host = host

	out, sc, approve, prob := t.authorize(req, tl.bareToken(), &ev, host, port)
	out, sc, prob, waited := t.holdIfAsked(req, tl.bareToken(), &ev, host, port, out, sc, approve, prob)
	if prob = t.app.Settle(req.Context(), "egress", ev, prob, start); prob != nil {
		return gateway.ProblemResponse(req, prob), nil
	}

	t.askIdentity(out, sc)
	res, err := t.HTTPTransport.RoundTrip(scrub.Interim(out, sc))
	if res != nil {
		res.Request = req
		if waited {
			res.Header.Set(gateway.PreferenceApplied, "wait")
		}
	}
	if err != nil {
		return res, err
	}
	return t.scrubResponse(req, res, sc, ev)
}

// authorize runs egress steps 1 to 4 and returns the request to send,
// the scrubber for its answer and the key's approve rules (which calls the
// owner decides each time). headerTok is the token taken from the route's
// token header, if any.
func (t *Transport) authorize(req *http.Request, headerTok string, ev *store.AuditEvent, host, port string) (*http.Request, *scrub.Scrubber, []store.ApproveRule, *gateway.Problem) {
	tok, ok := headerTok, headerTok != ""
	if !ok {
		tok, ok = requestToken(req)
	}
	if !ok && t.SigV4 != nil {
		tok, ok = sigv4Token(req)
	}
	if !ok {
		return nil, nil, nil, gateway.Unauthorized("send the invocation token as Authorization: Bearer <token>" + t.tokenHeaderHint())
	}
	// Read-only claims: this path never changes their key lists.
	claims, err := t.app.Tokens().VerifyInvocationTokenShared(tok)
	if err != nil {
		return nil, nil, nil, t.tokenProblem(tok, err)
	}
	ev.Keychain, ev.Package = claims.Keychain, claims.Package
	spec, p := t.app.RecheckContext(req.Context(), &claims, t.Secret, t.Scope == scopeApp)
	if p != nil {
		return nil, nil, nil, p
	}
	deny := func(d *policy.Denial) *gateway.Problem { return t.deny(&claims, d) }
	if len(spec.Hosts) > 0 && !policy.HostAllowed(spec.Hosts, host, port) {
		return nil, nil, nil, deny(&policy.Denial{Reason: policy.HostNotAllowed,
			Detail: fmt.Sprintf("key %s may not be sent to %s: not among the package's hosts for it", t.Secret, host)})
	}

	if p := t.allowRate(&claims); p != nil {
		return nil, nil, nil, p
	}

	out := gateway.OutboundCopy(req)
	if spec.OAuth != nil {
		sc, p := t.injectOAuth(req, out, &claims, spec, host, port)
		if p != nil {
			return nil, nil, nil, p
		}
		return out, sc, spec.Approve, nil
	}
	var sc *scrub.Scrubber
	open := func(meta store.SecretMeta, value []byte) error {
		// A sigv4 route takes AWS credentials (signSigV4 checks); every
		// other route injects or keys with the value as it is.
		if t.SigV4 == nil {
			if err := injectableAsIs(t.Secret, meta); err != nil {
				return err
			}
		}
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
	st := t.app.Store()
	if t.Scope == scopeApp {
		err = st.OpenAppSecretContext(req.Context(), claims.Package, t.Secret, open)
	} else {
		err = st.OpenSecretContext(req.Context(), claims.Keychain, t.Secret, open)
	}
	if err != nil {
		return nil, nil, nil, t.openRefusal(err, &claims, spec, host)
	}
	return out, sc, spec.Approve, nil
}

// openRefusal answers an error of opening the route's secret. It is its
// own function so that the target errors.As needs is made on this path
// only.
func (t *Transport) openRefusal(err error, claims *policy.InvocationClaims, spec store.KeySpec, host string) *gateway.Problem {
	deny := func(d *policy.Denial) *gateway.Problem { return t.deny(claims, d) }
	var refused *signRefusal
	switch {
	case errors.As(err, &refused):
		return refused.p
	case errors.Is(err, errHostNotAllowed):
		return deny(&policy.Denial{Reason: policy.HostNotAllowed,
			Detail: fmt.Sprintf("secret %s may not be sent to %s: not among its allowed_hosts", t.Secret, host)})
	case errors.Is(err, store.ErrNotFound):
		return deny(&policy.Denial{Reason: policy.MissingKeys, Missing: []store.KeySpec{spec},
			Detail: fmt.Sprintf("secret %s has no value", t.Secret)})
	default:
		return gateway.ToProblem(err)
	}
}

// deny answers a refusal of the route's key for the token's keychain and
// package, through the problem registry.
func (t *Transport) deny(c *policy.InvocationClaims, d *policy.Denial) *gateway.Problem {
	d.Keychain, d.Package, d.Key = c.Keychain, c.Package, t.Secret
	return t.app.ExplainDenial(d)
}

// Interface guards
var (
	_ caddy.Provisioner  = (*Transport)(nil)
	_ caddy.Validator    = (*Transport)(nil)
	_ http.RoundTripper  = (*Transport)(nil)
	_ caddy.CleanerUpper = (*Transport)(nil)
)
