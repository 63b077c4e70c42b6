package ingress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"go.uber.org/zap"

	"github.com/keygate/keygate/caddymodule/gateway"
	"github.com/keygate/keygate/policy"
	"github.com/keygate/keygate/store"
)

func init() {
	caddy.RegisterModule(PackageHandler{})
}

// Modes of delivering keys to a package.
const (
	modeSealed    = "sealed"
	modePlaintext = "plaintext"
)

// PackageHandler serves a package site (Flow 1: agent to package): it authenticates the
// agent's keychain token, finds the package from the request host, checks
// the keychain's grant and the package's required keys, applies rate
// limits, audits, and forwards the request to the package's upstream with
// an invocation token (mode sealed) or the secrets themselves (mode
// plaintext) in place of the keychain token.
//
// It is a terminal handler: it proxies to the upstream named in the
// package's manifest through Caddy's reverse proxy, whose transport works
// on its own copy of the request, so the reverse proxy's debug log of the
// outbound request never holds a token or a value.
//
// Placeholders set: `{keygate.package}` (package name) and
// `{keygate.keychain}` (keychain id), for logs.
type PackageHandler struct {
	// Domain suffix: a request for <host>.<suffix> goes to the package
	// whose manifest host is <host>. Required.
	Suffix string `json:"suffix,omitempty"`

	// "sealed" (default): the package gets an invocation token.
	// "plaintext": the package gets each usable secret in a
	// Keygate-Secret-<NAME> header (underscores become dashes).
	Mode string `json:"mode,omitempty"`

	// Rate limit per keychain and package. Unset means none.
	Rate *gateway.RateLimit `json:"rate,omitempty"`

	// How long to wait to connect to a package's code, and for its
	// response headers. Defaults: 5s and 60s.
	DialTimeout     caddy.Duration `json:"dial_timeout,omitempty"`
	ResponseTimeout caddy.Duration `json:"response_timeout,omitempty"`

	// Largest webhook delivery body in bytes. Default: 1 MiB.
	MaxBody int64 `json:"max_body,omitempty"`

	// Address classes a package's upstream may be in besides public ones:
	// "loopback", "private" (RFC 1918, ULA, CGNAT), or just "public" for
	// neither. Default: loopback. Metadata services and link-local
	// addresses are refused whatever this says.
	AllowUpstreams []string `json:"allow_upstreams,omitempty"`

	app        *gateway.App
	suffix     string
	limiter    *policy.Limiter
	hookReads  *webhookReads
	limiterKey string
	proxy      *reverseproxy.Handler
	transport  *ingressTransport // the proxy's, cleaned up with it
	codec      *gateway.PlaceholderCodec
	upstreams  *upstreamCache
	phHeaders  *headerNames
	logger     *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (PackageHandler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.keygate_package",
		New: func() caddy.Module { return new(PackageHandler) },
	}
}

// upstreamPlaceholder is the proxy's dial address, set per request to the
// package's upstream.
const upstreamPlaceholder = "keygate.upstream"

// Provision sets up the handler and its internal reverse proxy.
func (h *PackageHandler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	h.hookReads = &webhookReads{}
	app, err := ctx.App("keygate")
	if err != nil {
		return err
	}
	h.app = app.(*gateway.App)
	h.codec = new(gateway.PlaceholderCodec)
	h.upstreams, h.phHeaders = new(upstreamCache), new(headerNames)
	if h.Mode == "" {
		h.Mode = modeSealed
	}
	h.suffix = "." + strings.Trim(strings.ToLower(h.Suffix), ".")
	h.app.RegisterPackageSite(h.suffix, h.Mode == modePlaintext)
	if h.Rate != nil {
		var err error
		if h.limiter, h.limiterKey, err = h.Rate.Shared("package:" + h.suffix); err != nil {
			return err
		}
	}
	if h.DialTimeout == 0 {
		h.DialTimeout = caddy.Duration(5 * time.Second)
	}
	if h.ResponseTimeout == 0 {
		h.ResponseTimeout = caddy.Duration(time.Minute)
	}
	tr := &ingressTransport{app: h.app, mode: h.Mode, dialTimeout: h.DialTimeout, responseTimeout: h.ResponseTimeout}
	if err := tr.provision(ctx); err != nil {
		return err
	}
	h.transport = tr
	allowed := h.AllowUpstreams
	if allowed == nil {
		allowed = defaultAllowUpstreams
	}
	guardDials(tr.plain, allowed, true)
	guardDials(tr.tls, allowed, false)
	h.proxy = &reverseproxy.Handler{
		Upstreams: reverseproxy.UpstreamPool{{Dial: "{" + upstreamPlaceholder + "}"}},
		Transport: tr,
	}
	return h.proxy.Provision(ctx)
}

// checkMaxBody is the rule for max_body; 0 is the default (1 MiB).
func checkMaxBody(n int64) error {
	if n != 0 && n < 1024 {
		return fmt.Errorf("max_body must be at least 1024 bytes (0: the default 1MiB), got %d", n)
	}
	return nil
}

// Validate checks the configuration.
func (h *PackageHandler) Validate() error {
	if strings.Trim(h.Suffix, ".") == "" {
		return fmt.Errorf("keygate_package: suffix is required (e.g. instant.host)")
	}
	if h.Mode != modeSealed && h.Mode != modePlaintext {
		return fmt.Errorf("keygate_package: mode must be %q or %q, got %q", modeSealed, modePlaintext, h.Mode)
	}
	if err := checkMaxBody(h.MaxBody); err != nil {
		return fmt.Errorf("keygate_package: %w", err)
	}
	if err := checkAllowUpstreams(h.AllowUpstreams); err != nil {
		return err
	}
	if h.DialTimeout < 0 || h.ResponseTimeout < 0 {
		return fmt.Errorf("keygate_package: dial_timeout and response_timeout must not be negative")
	}
	if h.Rate != nil {
		return h.Rate.Validate("keygate_package: rate")
	}
	return nil
}

// Cleanup releases the internal proxy and its transport. Caddy cleans up
// only the modules it loaded itself, and the transport was handed to the
// proxy directly, so its idle connections are closed here.
func (h *PackageHandler) Cleanup() error {
	gateway.ReleaseLimiter(h.limiterKey)
	var errs []error
	if h.proxy != nil {
		errs = append(errs, h.proxy.Cleanup())
	}
	if h.transport != nil {
		errs = append(errs, h.transport.Cleanup())
	}
	return errors.Join(errs...)
}

// ingressCall is what the handler decided, handed to the transport. It is
// pooled: taken in newCall, put back by forward once the proxy is done
// with the request.
type ingressCall struct {
	keychain string
	pkg      string
	keys     []string
	token    string // invocation token, mode sealed
	// placeholders are the Keygate-Placeholder-* headers, mode sealed.
	placeholders [][2]string
	scheme       string
	basePath     string
	webhook      string // set for a verified webhook delivery
	// requestID is the id of the call's audit event, for what the
	// transport audits of it.
	requestID string
	hookPath  string // the webhook's path at the package

	phBuf [4][2]string // backs placeholders for up to four keys
}

// String keeps the call out of any log line: it reaches the transport as
// a request variable, and a log placeholder could name it.
func (c *ingressCall) String() string { return "keygate ingress call" }

// GoString is String, for %#v.
func (c *ingressCall) GoString() string { return c.String() }

var ingressCalls = sync.Pool{New: func() any { return new(ingressCall) }}

func newIngressCall() *ingressCall { return ingressCalls.Get().(*ingressCall) }

// release clears the call (its token with it) and pools it.
func (c *ingressCall) release() {
	*c = ingressCall{}
	ingressCalls.Put(c)
}

// callVar names the request variable that hands the decided call to the
// transport: Caddy's variables live in one map the request already has, so
// no context or request copy is made for it.
const callVar = "keygate.ingress_call"

func (h *PackageHandler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if err := h.app.AwaitReady(r.Context()); err != nil {
		gateway.WriteProblem(w, gateway.ToProblem(err))
		return nil
	}
	if rest, ok := strings.CutPrefix(r.URL.Path, webhookPrefix); ok {
		return h.serveWebhook(w, r, next, rest)
	}
	start := time.Now()
	repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	ev := store.AuditEvent{Actor: "agent", Action: gateway.ActionIngress, RequestID: gateway.RequestID()}

	call, u, prob := h.decide(r, &ev)
	call, u, prob = h.holdIfAsked(w, r, &ev, call, u, prob)
	if prob = h.app.Settle(r.Context(), "ingress", ev, prob, start); prob != nil {
		gateway.WriteProblem(w, prob)
		return nil
	}

	return h.forward(w, r, next, repl, call, u)
}

// forward hands a decided call to the package's upstream through the
// internal proxy. The proxy answers nothing itself when the package cannot
// be reached: say so as a problem, like every other keygate answer. Its
// error (a network error, never a header) is logged here at error level,
// as Caddy would have logged it had it been returned; it is not sent.
func (h *PackageHandler) forward(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, repl *caddy.Replacer, call *ingressCall, u *url.URL) error {
	repl.Set(upstreamPlaceholder, u.Host)
	repl.Set("keygate.package", call.pkg)
	repl.Set("keygate.keychain", call.keychain)
	caddyhttp.SetVar(r.Context(), callVar, call)
	err := h.proxy.ServeHTTP(w, r, next)
	// The transport is done with the call once the proxy returns.
	caddyhttp.SetVar(r.Context(), callVar, nil)
	defer call.release()
	var he caddyhttp.HandlerError
	if errors.As(err, &he) && he.StatusCode >= 500 {
		h.logger.Error("package upstream unavailable",
			zap.String("package", call.pkg), zap.String("webhook", call.webhook), zap.Int("status", he.StatusCode), zap.Error(he.Err))
		p := gateway.NewProblem(he.StatusCode, "upstream_unavailable", "the package's code could not be reached or did not answer in time")
		p.Package = call.pkg
		gateway.WriteProblem(w, p)
		return nil
	}
	return err
}

// decide runs ingress steps 1 to 5. It fills ev as it learns who is
// calling.
func (h *PackageHandler) decide(r *http.Request, ev *store.AuditEvent) (*ingressCall, *url.URL, *gateway.Problem) {
	st := h.app.Store()
	tok, ok := gateway.BearerToken(r.Header.Get("Authorization"))
	if !ok {
		return nil, nil, gateway.Unauthorized("send the keychain token as Authorization: Bearer <token>")
	}
	claims, err := h.app.Tokens().VerifyKeychainToken(tok)
	if err != nil {
		return nil, nil, gateway.ToProblem(err)
	}
	ev.Keychain = claims.Keychain
	kc, err := st.GetKeychainContext(r.Context(), claims.Keychain)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil, gateway.Unauthorized("the keychain of this token no longer exists")
		}
		return nil, nil, gateway.ToProblem(err)
	}
	if kc.TokenVersion != claims.Version {
		return nil, nil, gateway.Unauthorized("the token was rotated; use the keychain's newest token")
	}

	pkg, prob := h.packageAt(r.Context(), r.Host)
	if prob != nil {
		return nil, nil, prob
	}
	ev.Package = pkg.Name
	usable, grant, prob := h.decideGrant(r.Context(), kc.ID, pkg)
	if prob != nil {
		return nil, nil, prob
	}
	ev.Keys = usable

	if lim := h.app.KeychainLimiter(); lim != nil {
		if ok, wait := lim.Allow(kc.ID); !ok {
			return nil, nil, gateway.TooManyRequests(wait)
		}
	}
	if h.limiter != nil {
		if ok, wait := h.limiter.AllowPair(kc.ID, pkg.Name); !ok {
			return nil, nil, gateway.TooManyRequests(wait)
		}
	}

	var appKeys []string
	if h.Mode == modeSealed {
		appKeys = h.appKeys(r.Context(), pkg)
	}
	call, u, prob := h.newCall(&kc, pkg, grant, usable, appKeys, ev.RequestID, h.Mode == modeSealed)
	if prob != nil {
		return nil, nil, prob
	}
	if h.Mode == modePlaintext {
		if p := checkPlaintextHosts(r.Context(), st, kc.ID, u.Host, usable); p != nil {
			return nil, nil, p
		}
	}
	return call, u, nil
}

// newCall is the decided call to the package's upstream, for an agent's
// request or a webhook delivery: the upstream's URL, and, when mint is
// set, the invocation token for keys and appKeys.
func (h *PackageHandler) newCall(kc *store.Keychain, pkg *store.Manifest, grant *store.Grant, keys, appKeys []string, requestID string, mint bool) (*ingressCall, *url.URL, *gateway.Problem) {
	up, err := h.upstreams.get(pkg.Upstream)
	if err != nil {
		return nil, nil, gateway.ToProblem(err)
	}
	call := newIngressCall()
	call.keychain, call.pkg, call.keys = kc.ID, pkg.Name, keys
	call.scheme, call.basePath, call.requestID = up.u.Scheme, up.basePath, requestID
	if !mint {
		return call, up.u, nil
	}
	tok, claims, err := h.app.Tokens().MintInvocation(invocation(kc, pkg, grant, keys, appKeys, requestID))
	if err != nil {
		call.release()
		return nil, nil, gateway.ToProblem(err)
	}
	call.token = tok
	if call.placeholders, err = h.placeholders(call.phBuf[:0], &claims, pkg); err != nil {
		call.release()
		return nil, nil, gateway.ToProblem(err)
	}
	return call, up.u, nil
}

// invocation is what an invocation token minted now for keys and appKeys
// says: the keychain's token version, the grant's epoch and the package's
// code, so that policy.Recheck can tell later whether they still stand.
func invocation(kc *store.Keychain, pkg *store.Manifest, grant *store.Grant, keys, appKeys []string, requestID string) policy.Invocation {
	return policy.Invocation{
		Keychain:        kc.ID,
		Package:         pkg.Name,
		SHA256:          pkg.SHA256,
		KeychainVersion: kc.TokenVersion,
		GrantEpoch:      grant.Epoch,
		CodeEpoch:       pkg.CodeEpoch,
		Keys:            keys,
		AppKeys:         appKeys,
		RequestID:       requestID,
	}
}

// packageAt finds the package served at a request host.
// The manifest is the store's cached record, shared and read-only.
func (h *PackageHandler) packageAt(ctx context.Context, hostport string) (*store.Manifest, *gateway.Problem) {
	label, ok := packageLabel(hostport, h.suffix)
	if !ok {
		return nil, gateway.NewProblem(http.StatusNotFound, "unknown_package", "no package is served at this host")
	}
	pkg, err := h.app.Store().PackageRecordByHostContext(ctx, label)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, gateway.NewProblem(http.StatusNotFound, "unknown_package", fmt.Sprintf("no package is registered with host %q", label))
		}
		return nil, gateway.ToProblem(err)
	}
	return pkg, nil
}

// decideGrant checks the keychain's grant for the package and the
// package's required keys (step 4), and returns the usable keys
// and the grant.
func (h *PackageHandler) decideGrant(ctx context.Context, kc string, pkg *store.Manifest) ([]string, *store.Grant, *gateway.Problem) {
	st := h.app.Store()
	grant, err := st.GrantRecordContext(ctx, kc, pkg.Name) // read-only; nil when there is none
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, nil, gateway.ToProblem(err)
	}
	var lookupErr error
	has := func(name string) bool {
		ok, err := st.HasSecretContext(ctx, kc, name)
		if err != nil {
			lookupErr = err
		}
		return ok
	}
	usable, err := policy.Decide(pkg, grant, has)
	if lookupErr != nil {
		return nil, nil, gateway.ToProblem(lookupErr)
	}
	if err != nil {
		return nil, nil, h.explainDenial(err, kc)
	}
	return usable, grant, nil
}

// appKeys lists the package's app keys that have a value.
func (h *PackageHandler) appKeys(ctx context.Context, pkg *store.Manifest) []string {
	var out []string
	for _, k := range pkg.AppKeys {
		if ok, _ := h.app.Store().HasAppSecretContext(ctx, pkg.Name, k.Name); ok {
			out = append(out, k.Name)
		}
	}
	return out
}

// explainDenial answers a denial with where the keychain's owner fixes it.
func (h *PackageHandler) explainDenial(err error, kc string) *gateway.Problem {
	var d *policy.Denial
	if !errors.As(err, &d) {
		return gateway.ToProblem(err)
	}
	d.Keychain = kc
	return h.app.ExplainDenial(d)
}

// packageLabel returns the package host label of a request host such as
// "stripe-tools.instant.host:443" for suffix ".instant.host".
func packageLabel(hostport, suffix string) (string, bool) {
	host := hostport
	if strings.IndexByte(hostport, ':') >= 0 { // SplitHostPort allocates its error when there is no port
		if h, _, err := net.SplitHostPort(hostport); err == nil {
			host = h
		}
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	label, ok := strings.CutSuffix(host, suffix)
	if !ok || label == "" || strings.Contains(label, ".") {
		return "", false
	}
	return label, true
}

// Interface guards
var (
	_ caddy.Provisioner           = (*PackageHandler)(nil)
	_ caddy.Validator             = (*PackageHandler)(nil)
	_ caddy.CleanerUpper          = (*PackageHandler)(nil)
	_ caddyhttp.MiddlewareHandler = (*PackageHandler)(nil)
)
