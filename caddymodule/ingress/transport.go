package ingress

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
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
	call, ok := req.Context().Value(ingressCtxKey{}).(*ingressCall)
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
		out.Header.Set("Keygate-Keychain", call.keychain)
	}
	// A webhook delivery always carries an invocation token, in either
	// mode: the package acts for the owner through egress.
	if t.mode == modeSealed || call.webhook != "" {
		out.Header.Set("Authorization", "Bearer "+call.token)
	} else {
		out.Header.Del("Authorization")
		host, port := out.URL.Hostname(), out.URL.Port()
		if di, ok := reverseproxy.GetDialInfo(req.Context()); ok {
			host, port = di.Host, di.Port
		}
		for _, name := range call.keys {
			err := t.app.Store().OpenSecret(call.keychain, name, func(meta store.SecretMeta, value []byte) error {
				// Checked again here: allowed_hosts may have changed
				// since the call was decided.
				if !policy.HostAllowed(meta.AllowedHosts, host, port) {
					return errPlaintextHost
				}
				out.Header.Set(plaintextHeader(name), string(value))
				return nil
			})
			if err != nil {
				return gateway.ProblemResponse(req, t.refuseDelivery(req, call, name, host, err)), nil
			}
		}
	}
	rt := t.plain
	if call.scheme == "https" {
		rt = t.tls
	}
	res, err := rt.RoundTrip(out)
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

func (t *ingressTransport) Cleanup() error {
	_ = t.plain.Cleanup()
	return t.tls.Cleanup()
}
