package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/keygate/keygate/caddymodule/gateway"
	"github.com/keygate/keygate/policy"
	"github.com/keygate/keygate/scrub"
	"github.com/keygate/keygate/store"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Handler is the keygate_proxy HTTP handler (a site of its own): CONNECT
// tunnels for https:// targets and absolute-form requests for http://
// ones. A request that is neither goes to the next handler.
type Handler struct {
	// Host patterns requests without a placeholder may go to (policy's
	// host patterns: "api.example.com", "*.example.com", "host:port").
	// Default none: such requests are refused, keygate is never an open
	// proxy.
	PassHosts []string `json:"pass_hosts,omitempty"`

	// "required": CONNECT and absolute-form requests need
	// Proxy-Authorization: Basic keygate:<invocation token>, and every
	// placeholder in the tunnel must be of that token's call.
	ProxyAuth string `json:"proxy_auth,omitempty"`

	// PEM file of CAs trusted for upstream TLS besides the system roots.
	UpstreamCA string `json:"upstream_ca,omitempty"`

	// Let upstreams resolve to loopback, private and link-local addresses
	// (cloud metadata addresses stay refused).
	AllowPrivateUpstreams bool `json:"allow_private_upstreams,omitempty"`

	// Named as Caddy's http transport names them. Defaults: 10s, 10s, 5m
	// (every upstream transport of keygate is bounded at each wait).
	DialTimeout           caddy.Duration `json:"dial_timeout,omitempty"`
	TLSHandshakeTimeout   caddy.Duration `json:"tls_timeout,omitempty"`
	ResponseHeaderTimeout caddy.Duration `json:"response_header_timeout,omitempty"`

	// Largest request body held to substitute placeholders in (bodies.go);
	// a larger JSON, form or compressed one is refused 413, a larger one
	// of another type is streamed through a guard. Default 10 MiB.
	MaxBody int64 `json:"max_body,omitempty"`

	// Open tunnels allowed per client address. Default 256.
	MaxTunnelsPerClient int `json:"max_tunnels_per_client,omitempty"`

	// Key exchanges the TLS server of a tunnel accepts from clients,
	// named as Caddy's `tls { curves }` names them (x25519mlkem768,
	// x25519, secp256r1, secp384r1, secp521r1); Go picks among them, the
	// order is ignored. Default Go's: the post-quantum hybrid
	// X25519MLKEM768 first. `x25519` alone makes a new tunnel's handshake
	// cheaper, and the client's leg no longer post-quantum.
	Curves []string `json:"curves,omitempty"`

	app     *gateway.App
	logger  *zap.Logger
	roots   *x509.CertPool
	certs   *leafCache
	sources *sourceLimits
	codec   *lazyCodec
	// transports are the upstream clients, one per target.
	transports *transportCache
	shared     *shared
	dns        *dnsCache
	scrubbers  *scrub.Cache
	curves     []tls.CurveID
}

// lazyCodec is the placeholder verifier, built on first use: its key needs
// the open store.
type lazyCodec struct {
	once sync.Once
	p    *policy.Placeholders
	err  error
}

const (
	proxyAuthRequired  = "required"
	defaultMaxBody     = 10 << 20
	defaultDialTimeout = 10 * time.Second
	defaultTLSTimeout  = 10 * time.Second
	defaultPerClient   = 256
	handshakeTimeout   = 10 * time.Second
	tunnelIdleTimeout  = 2 * time.Minute
	proxyAuthRealm     = `Basic realm="keygate"`
	proxyAuthUser      = "keygate"
)

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.keygate_proxy",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision sets up the handler.
func (h *Handler) Provision(ctx caddy.Context) error {
	app, err := ctx.App("keygate")
	if err != nil {
		return err
	}
	h.app = app.(*gateway.App)
	h.logger = ctx.Logger()
	if h.MaxBody == 0 {
		h.MaxBody = defaultMaxBody
	}
	if h.DialTimeout == 0 {
		h.DialTimeout = caddy.Duration(defaultDialTimeout)
	}
	if h.TLSHandshakeTimeout == 0 {
		h.TLSHandshakeTimeout = caddy.Duration(defaultTLSTimeout)
	}
	if h.ResponseHeaderTimeout == 0 {
		h.ResponseHeaderTimeout = caddy.Duration(gateway.UpstreamHeaderTimeout)
	}
	if h.MaxTunnelsPerClient == 0 {
		h.MaxTunnelsPerClient = defaultPerClient
	}
	h.roots, err = x509.SystemCertPool()
	if err != nil || h.roots == nil {
		h.roots = x509.NewCertPool()
	}
	if h.UpstreamCA != "" {
		pem, err := os.ReadFile(h.UpstreamCA)
		if err != nil {
			return fmt.Errorf("keygate_proxy: upstream_ca: %w", err)
		}
		if !h.roots.AppendCertsFromPEM(pem) {
			return fmt.Errorf("keygate_proxy: upstream_ca: %s holds no PEM certificate", h.UpstreamCA)
		}
	}
	if h.curves, err = curveIDs(h.Curves); err != nil {
		return fmt.Errorf("keygate_proxy: curves: %w", err)
	}
	h.certs = newLeafCache(h.app)
	h.codec = new(lazyCodec)
	h.transports = new(transportCache)
	h.sources = newSourceLimits(h.MaxTunnelsPerClient)
	h.shared = newShared(h)
	h.dns = new(dnsCache)
	h.scrubbers = new(scrub.Cache)
	return nil
}

// Cleanup closes the upstream connections kept alive.
func (h *Handler) Cleanup() error {
	if h.transports != nil {
		h.transports.closeAll()
	}
	return nil
}

// Validate checks the configuration.
func (h *Handler) Validate() error {
	if h.ProxyAuth != "" && h.ProxyAuth != proxyAuthRequired {
		return fmt.Errorf("keygate_proxy: proxy_auth must be %q or unset", proxyAuthRequired)
	}
	for _, p := range h.PassHosts {
		if err := store.ValidateHostPattern(p); err != nil {
			return fmt.Errorf("keygate_proxy: pass_hosts: %w", err)
		}
	}
	if _, err := curveIDs(h.Curves); err != nil {
		return fmt.Errorf("keygate_proxy: curves: %w", err)
	}
	if h.MaxBody < 0 || h.MaxTunnelsPerClient < 0 {
		return errors.New("keygate_proxy: max_body and max_tunnels_per_client must not be negative")
	}
	return nil
}

// ServeHTTP serves proxy requests and hands anything else on.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	isConnect := r.Method == http.MethodConnect
	if !isConnect && !r.URL.IsAbs() {
		return next.ServeHTTP(w, r)
	}
	if err := h.app.AwaitReady(r.Context()); err != nil {
		gateway.WriteProblem(w, gateway.ToProblem(err))
		return nil
	}
	auth, prob := h.proxyIdentity(r)
	if prob != nil {
		if prob.Status == http.StatusProxyAuthRequired {
			w.Header().Set("Proxy-Authenticate", proxyAuthRealm)
		}
		h.refuse(w, r, r.Host, prob)
		return nil
	}
	if isConnect {
		h.serveConnect(w, r, auth)
		return nil
	}
	h.serveAbsolute(w, r, auth)
	return nil
}

// proxyIdentity reads Proxy-Authorization: Basic keygate:<invocation
// token>. It is optional unless proxy_auth is required.
func (h *Handler) proxyIdentity(r *http.Request) (*policy.InvocationClaims, *gateway.Problem) {
	v := r.Header.Get("Proxy-Authorization")
	delete(r.Header, "Proxy-Authorization")
	if v == "" {
		if h.ProxyAuth == proxyAuthRequired {
			return nil, proxyAuthProblem("this proxy site wants Proxy-Authorization: Basic keygate:<invocation token>")
		}
		return nil, nil
	}
	user, tok, ok := gateway.BasicCredentials(v)
	if !ok || user != proxyAuthUser {
		return nil, proxyAuthProblem("Proxy-Authorization must be Basic, user keygate, the invocation token as password")
	}
	c, err := h.app.Tokens().VerifyInvocationToken(tok)
	if err != nil {
		p := gateway.ToProblem(err)
		return nil, proxyAuthProblem(p.Detail)
	}
	return &c, nil
}

func proxyAuthProblem(detail string) *gateway.Problem {
	return gateway.NewProblem(http.StatusProxyAuthRequired, "proxy_auth_required", detail)
}

// refuse audits and answers a problem for a request that goes nowhere.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, host string, prob *gateway.Problem) {
	ev := store.AuditEvent{Actor: "package", Action: gateway.ActionProxy, RequestID: gateway.RequestID(), Method: r.Method, Host: hostOnly(host)}
	if r.Method != http.MethodConnect {
		ev.Path = r.URL.Path
	}
	prob = h.app.Settle(r.Context(), gateway.ActionProxy, ev, prob, time.Now())
	gateway.WriteProblem(w, prob)
}

// hostOnly drops a port from an authority for the audit.
func hostOnly(authority string) string {
	if h, _, err := splitAuthority(authority, ""); err == nil {
		return h
	}
	return ""
}

// placeholderCodec builds the placeholder verifier once the store is open:
// its key derives from keygate's signing material, the same on every node.
func (h *Handler) placeholderCodec() (*policy.Placeholders, error) {
	c := h.codec
	c.once.Do(func() {
		c.p, c.err = policy.NewPlaceholders(h.app.SharedKey(policy.PlaceholderKeyPurpose), nil)
	})
	return c.p, c.err
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)

// debugLog is a standard library logger writing at DEBUG: the errors
// net/http logs on its own (a client gone, a bad request line) are the
// clients' business.
func debugLog(l *zap.Logger) *log.Logger {
	std, err := zap.NewStdLogAt(l, zap.DebugLevel)
	if err != nil {
		return zap.NewStdLog(l)
	}
	return std
}
