package ingress

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"go.uber.org/zap"

	"github.com/keygate/keygate/caddymodule/gateway"
	"github.com/keygate/keygate/policy"
	"github.com/keygate/keygate/store"
)

// ingressTransport carries a decided ingress call to the package's
// upstream. It adds the invocation token (or, in plaintext mode, the
// secrets) to its own copy of the request, so the reverse proxy, which logs
// the request it handed over, never holds them.
type ingressTransport struct {
	app                          *gateway.App
	logger                       *zap.Logger
	mode                         string
	dialTimeout, responseTimeout caddy.Duration
	plain                        *reverseproxy.HTTPTransport
	tls                          *reverseproxy.HTTPTransport
}

func (t *ingressTransport) provision(ctx caddy.Context) error {
	t.logger = ctx.Logger()
	t.plain = &reverseproxy.HTTPTransport{DialTimeout: t.dialTimeout, ResponseHeaderTimeout: t.responseTimeout}
	if err := t.plain.Provision(ctx); err != nil {
		return err
	}
	t.tls = &reverseproxy.HTTPTransport{TLS: new(reverseproxy.TLSConfig), DialTimeout: t.dialTimeout, ResponseHeaderTimeout: t.responseTimeout}
	gateway.BoundUpstreamTimeouts(t.tls)
	return t.tls.Provision(ctx)
}

var errNoIngressCall = errors.New("keygate: request reached the package transport without a decision")

// RoundTrip implements http.RoundTripper.
func (t *ingressTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	call, ok := caddyhttp.GetVar(req.Context(), callVar).(*ingressCall)
	if !ok {
		return nil, errNoIngressCall
	}
	out := gateway.OutboundCopy(req)
	out.URL.Scheme = call.scheme
	if call.basePath != "" {
		out.URL.Path = call.basePath + out.URL.Path
		if out.URL.RawPath != "" {
			out.URL.RawPath = call.basePath + out.URL.RawPath
		}
	}
	gateway.StripKeygateHeaders(out.Header)
	out.Header.Del("Proxy-Authorization")
	out.Header.Set("Keygate-Keys", strings.Join(call.keys, ","))
	if call.webhook != "" {
		out.Header.Set("Keygate-Webhook", call.webhook)
	}
	// A webhook delivery signed with the keychain's own key carries an
	// invocation token, in either mode: the package acts for the owner
	// through egress. One signed with an app key carries neither token nor
	// keychain: nothing signed names the keychain (see decideWebhook).
	if call.webhook != "" && call.token == "" {
		out.Header.Del("Authorization")
	} else if t.mode == modeSealed || call.webhook != "" {
		if call.webhook != "" {
			out.Header.Set("Keygate-Keychain", call.keychain)
		}
		out.Header.Set("Authorization", "Bearer "+call.token)
		for _, ph := range call.placeholders {
			out.Header[ph[0]] = []string{ph[1]}
		}
	} else {
		out.Header.Del("Authorization")
		host, port := out.URL.Hostname(), out.URL.Port()
		if di, ok := reverseproxy.GetDialInfo(req.Context()); ok {
			host, port = di.Host, di.Port
		}
		for _, name := range call.keys {
			if p := t.addPlaintext(req, out, call, name, host, port); p != nil {
				return gateway.ProblemResponse(req, p), nil
			}
		}
	}
	rt := t.plain
	if call.scheme == "https" {
		rt = t.tls
	}
	res, err := rt.RoundTrip(out)
	if p := upstreamRefusal(err); p != nil {
		return gateway.ProblemResponse(req, p), nil
	}
	if res != nil {
		res.Request = req
	}
	return res, err
}

// refuseDelivery answers a plaintext delivery that cannot go ahead after
// the call was decided and audited as allowed: a secret whose allowed_hosts
// no longer hold the package's code is a refusal, audited as such; a store
// that fails is its own answer (503 when the database is down), logged.
func (t *ingressTransport) refuseDelivery(req *http.Request, call *ingressCall, name, host string, err error) *gateway.Problem {
	var p *gateway.Problem
	if errors.Is(err, errPlaintextHost) {
		p = plaintextHostProblem(name, host)
	} else {
		t.logger.Error("opening a secret for plaintext delivery", zap.String("package", call.pkg), zap.String("key", name), zap.Error(err))
		p = gateway.ToProblem(err)
	}
	ev := store.AuditEvent{Actor: "agent", Action: gateway.ActionIngress, Keychain: call.keychain, Package: call.pkg,
		Keys: []string{name}, RequestID: call.requestID}
	if audited := t.app.Settle(req.Context(), "ingress", ev, p, time.Now()); audited != nil {
		p = audited
	}
	return p
}

// plaintextHeader names the header carrying a secret in plaintext mode:
// header names with underscores are dropped by many proxies, so
// STRIPE_SECRET_KEY travels as Keygate-Secret-STRIPE-SECRET-KEY.
func plaintextHeader(name string) string {
	return "Keygate-Secret-" + strings.ReplaceAll(name, "_", "-")
}

// addPlaintext puts one usable secret into out's Keygate-Secret-<NAME>
// header. What it gives is decided by the stored secret's kind, never by
// the manifest: a value set by hand goes as it is, an OAuth key as its
// current access token only (refreshed first when due), so the sealed
// record with its refresh token never leaves keygate.
func (t *ingressTransport) addPlaintext(req, out *http.Request, call *ingressCall, name, host, port string) *gateway.Problem {
	oauth := false
	err := t.app.Store().OpenSecretContext(req.Context(), call.keychain, name, func(meta store.SecretMeta, value []byte) error {
		// Checked again here: allowed_hosts may have changed since the
		// call was decided.
		if !policy.HostAllowed(meta.AllowedHosts, host, port) {
			return errPlaintextHost
		}
		if meta.Kind != "" {
			oauth = meta.Kind == store.SecretKindOAuth
			if !oauth {
				return errUnknownKind
			}
			return nil
		}
		out.Header.Set(plaintextHeader(name), string(value))
		return nil
	})
	switch {
	case err != nil:
		return t.refuseDelivery(req, call, name, host, err)
	case !oauth:
		return nil
	}
	tok, err := t.app.OAuth().AccessToken(req.Context(), call.keychain, call.pkg, name)
	if err != nil {
		return t.app.OAuthProblem(err, call.keychain, call.pkg, name)
	}
	out.Header.Set(plaintextHeader(name), tok)
	return nil
}

var errUnknownKind = errors.New("keygate: a secret of an unknown kind is never handed out")

// Cleanup closes both transports' idle connections (see PackageHandler.Cleanup).
func (t *ingressTransport) Cleanup() error {
	return errors.Join(t.plain.Cleanup(), t.tls.Cleanup())
}
