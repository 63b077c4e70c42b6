package ingress

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/keygate/keygate/caddymodule/gateway"
	"github.com/keygate/keygate/policy"
	"github.com/keygate/keygate/store"
)

// Webhooks verified at the edge (SPEC "Webhooks verified at the edge"): a
// provider posts to /_keygate/webhooks/<keychain>/<name> on the package's
// site; keygate verifies the signature with the keychain's (or the app's)
// signing secret and forwards the body byte for byte to the webhook's path
// with an invocation token for that keychain. The signing secret never
// reaches the package, and nothing unverified is forwarded.
const webhookPrefix = "/_keygate/webhooks/"

// defaultWebhookBody bounds a delivery's body (SPEC: max_body, 1 MiB).
const defaultWebhookBody = 1 << 20

// webhookNow is the clock of signature timestamps; tests move it.
var webhookNow = time.Now

// webhookCall is a verified delivery on its way to the package.
type webhookCall struct {
	body     []byte
	delivery string
	expires  time.Time
}

func (h *PackageHandler) serveWebhook(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, rest string) error {
	start := time.Now()
	ev := store.AuditEvent{Actor: "webhook", Action: gateway.ActionWebhook, RequestID: gateway.RequestID()}
	call, u, hook, prob := h.decideWebhook(w, r, &ev, rest)
	if hook != nil && prob == nil && hook.delivery == "" {
		// A redelivery of a forwarded delivery: answered, not forwarded.
		ev.Reason = "duplicate_delivery"
	}
	if prob = h.app.Settle(r.Context(), "ingress", ev, prob, start); prob != nil {
		gateway.WriteProblem(w, prob)
		return nil
	}
	if hook.delivery == "" {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, "{\"status\":\"duplicate\",\"forwarded\":false}\n")
		return nil
	}

	fwd := r.Clone(r.Context())
	fwd.Method = http.MethodPost
	fwd.URL.Path, fwd.URL.RawPath, fwd.URL.RawQuery = call.hookPath, "", ""
	fwd.RequestURI = ""
	fwd.Body = io.NopCloser(bytes.NewReader(hook.body))
	fwd.ContentLength = int64(len(hook.body))
	fwd.Header.Set("Content-Length", strconv.Itoa(len(hook.body)))
	fwd.Header.Del("Cookie")
	repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	rec := &statusRecorder{ResponseWriterWrapper: &caddyhttp.ResponseWriterWrapper{ResponseWriter: w}}
	err := h.forward(rec, fwd, next, repl, call, u)
	// A delivery the package took (any answer but a server error, the
	// upstream_unavailable problem included) is recorded, so the provider's
	// redeliveries inside the window are answered without reaching the
	// package again. One the package failed is not: the provider's retry is
	// forwarded.
	if err == nil && rec.status > 0 && rec.status < 500 {
		if _, cerr := h.app.Store().ClaimWebhookDelivery(call.pkg, call.keychain, call.webhook, hook.delivery, hook.expires); cerr != nil {
			h.logger.Error("recording a webhook delivery", zap.String("package", call.pkg), zap.Error(cerr))
		}
	}
	return err
}

// decideWebhook finds the package and webhook, reads the bounded body,
// checks the keychain's grant as for agents, verifies the signature with
// the signing secret, and mints the invocation token. A nil hook with no
// problem never happens; a hook with an empty delivery is a redelivery.
func (h *PackageHandler) decideWebhook(w http.ResponseWriter, r *http.Request, ev *store.AuditEvent, rest string) (*ingressCall, *url.URL, *webhookCall, *gateway.Problem) {
	if r.Method != http.MethodPost {
		p := gateway.NewProblem(http.StatusMethodNotAllowed, "method_not_allowed", "webhook deliveries are POST requests")
		return nil, nil, nil, p
	}
	kcID, name, ok := strings.Cut(rest, "/")
	if !ok || kcID == "" || name == "" || strings.Contains(name, "/") {
		return nil, nil, nil, gateway.NewProblem(http.StatusNotFound, "unknown_webhook", "webhook URLs are /_keygate/webhooks/<keychain-id>/<name>")
	}
	ev.Keychain = kcID
	st := h.app.Store()
	pkg, prob := h.packageAt(r.Host)
	if prob != nil {
		return nil, nil, nil, prob
	}
	ev.Package = pkg.Name
	spec, ok := pkg.Webhook(name)
	if !ok {
		return nil, nil, nil, gateway.NewProblem(http.StatusNotFound, "unknown_webhook", fmt.Sprintf("package %s declares no webhook %q", pkg.Name, name))
	}
	ev.Action = gateway.ActionWebhook + "." + spec.Name
	ev.Keys = []string{spec.Secret}

	limit := h.maxWebhookBody()
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, nil, nil, gateway.NewProblem(http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("a webhook body may be at most %d bytes", limit))
		}
		return nil, nil, nil, gateway.NewProblem(http.StatusBadRequest, "bad_body", "the webhook body could not be read")
	}

	kc, err := st.GetKeychain(kcID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil, nil, gateway.NewProblem(http.StatusNotFound, "unknown_keychain", "no such keychain")
		}
		return nil, nil, nil, gateway.ToProblem(err)
	}
	usable, grant, prob := h.decideGrant(kc.ID, pkg)
	if prob != nil {
		return nil, nil, nil, prob
	}

	// The signing secret, under the same double opt-in as any key: a user
	// key must be granted and set; an app key must be set.
	open := func(fn func(store.SecretMeta, []byte) error) error {
		return st.OpenAppSecret(pkg.Name, spec.Secret, fn)
	}
	if _, isUser := pkg.Key(spec.Secret); isUser {
		if !slices.Contains(usable, spec.Secret) {
			return nil, nil, nil, h.explainDenial(policy.CheckUsable(&policy.InvocationClaims{Invocation: policy.Invocation{Keys: usable}}, spec.Secret), kc.ID)
		}
		open = func(fn func(store.SecretMeta, []byte) error) error { return st.OpenSecret(kc.ID, spec.Secret, fn) }
	}
	var delivery policy.WebhookDelivery
	verr := open(func(_ store.SecretMeta, secret []byte) error {
		var err error
		delivery, err = policy.VerifyWebhook(spec.Scheme, secret, r.Header, body, webhookNow(), spec.ToleranceDuration())
		return err
	})
	switch {
	case errors.Is(verr, store.ErrNotFound):
		return nil, nil, nil, gateway.DenialProblem(&policy.Denial{Reason: policy.MissingKeys, Package: pkg.Name, Missing: []store.KeySpec{{Name: spec.Secret}},
			Detail: fmt.Sprintf("the signing secret %s of webhook %s has no value", spec.Secret, spec.Name)})
	case errors.Is(verr, policy.ErrWebhookStale):
		return nil, nil, nil, gateway.NewProblem(http.StatusUnauthorized, "stale_webhook", fmt.Sprintf("the delivery's timestamp is outside the %s tolerance", spec.ToleranceDuration()))
	case errors.Is(verr, policy.ErrWebhookSignature), errors.Is(verr, policy.ErrWebhookSecret):
		return nil, nil, nil, gateway.NewProblem(http.StatusUnauthorized, "bad_signature", "the delivery's signature is missing or does not verify")
	case verr != nil:
		return nil, nil, nil, gateway.ToProblem(verr)
	}

	hook := &webhookCall{body: body, delivery: delivery.ID, expires: webhookNow().Add(2 * spec.ToleranceDuration())}
	switch seen, err := st.SeenWebhookDelivery(pkg.Name, kc.ID, spec.Name, delivery.ID); {
	case err != nil:
		return nil, nil, nil, gateway.ToProblem(err)
	case seen:
		hook.delivery = ""
		return nil, nil, hook, nil
	}

	keys := slices.DeleteFunc(slices.Clone(usable), func(k string) bool { return k == spec.Secret })
	appKeys := slices.DeleteFunc(h.appKeys(pkg), func(k string) bool { return k == spec.Secret })
	call, u, prob := h.newCall(&kc, pkg, grant, keys, appKeys, ev.RequestID, true)
	if prob != nil {
		return nil, nil, nil, prob
	}
	call.webhook, call.hookPath = spec.Name, spec.Path
	return call, u, hook, nil
}

func (h *PackageHandler) maxWebhookBody() int64 {
	if h.MaxBody > 0 {
		return h.MaxBody
	}
	return defaultWebhookBody
}

// statusRecorder notes the status the package answered a webhook with.
type statusRecorder struct {
	*caddyhttp.ResponseWriterWrapper
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 && code >= 200 {
		s.status = code
	}
	s.ResponseWriterWrapper.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriterWrapper.Write(b)
}
