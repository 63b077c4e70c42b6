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

// Webhooks verified at the edge (README "Writing a package"): a
// provider posts to /_keygate/webhooks/<keychain>/<name> on the package's
// site; keygate verifies the signature with the keychain's (or the app's)
// signing secret and forwards the body byte for byte to the webhook's path
// with an invocation token for that keychain. The signing secret never
// reaches the package, and nothing unverified is forwarded.
const webhookPrefix = "/_keygate/webhooks/"

// defaultWebhookBody bounds a delivery's body (docs/caddyfile.md, max_body).
const defaultWebhookBody = 1 << 20

// webhookCall is a verified delivery on its way to the package.
type webhookCall struct {
	body       []byte
	pkg, name  string // the package and its webhook
	delivery   string
	claimScope string // the keychain id, or appWebhookScope
	duplicate  bool   // already forwarded within the window
}

func (h *PackageHandler) serveWebhook(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, rest string) error {
	start := time.Now()
	ev := store.AuditEvent{Actor: "webhook", Action: gateway.ActionWebhook, RequestID: gateway.RequestID()}
	call, u, hook, prob := h.decideWebhook(w, r, &ev, rest)
	if hook != nil && prob == nil && hook.duplicate {
		// A redelivery of a forwarded delivery: answered, not forwarded.
		ev.Reason = "duplicate_delivery"
	}
	if prob = h.app.Settle(r.Context(), "ingress", ev, prob, start); prob != nil {
		if hook != nil && !hook.duplicate {
			h.releaseDelivery(hook)
		}
		// The body may be unread: close rather than have the server
		// drain it from a sender that may never send it.
		w.Header().Set("Connection", "close")
		gateway.WriteProblem(w, prob)
		return nil
	}
	if hook.duplicate {
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
	for _, name := range policy.WebhookSignatureHeaders {
		fwd.Header.Del(name)
	}
	repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	rec := &statusRecorder{ResponseWriterWrapper: &caddyhttp.ResponseWriterWrapper{ResponseWriter: w}}
	err := h.forward(rec, fwd, next, repl, call, u)
	// The delivery was claimed before it was forwarded, so that identical
	// deliveries arriving together go through once. One the package took
	// (any answer but a server error, the upstream_unavailable problem
	// included) stays claimed: the provider's redeliveries inside the
	// window are answered without reaching the package again. One the
	// package failed is released: the provider's retry is forwarded.
	if err != nil || rec.status == 0 || rec.status >= 500 {
		h.releaseDelivery(hook)
	}
	return err
}

// releaseDelivery forgets a claimed delivery that was not forwarded, or
// that the package failed.
func (h *PackageHandler) releaseDelivery(hook *webhookCall) {
	if err := h.app.Store().ReleaseWebhookDelivery(hook.pkg, hook.claimScope, hook.name, hook.delivery); err != nil {
		h.logger.Error("releasing a webhook delivery", zap.String("package", hook.pkg), zap.Error(err))
	}
}

// appWebhookScope stands for the keychain in the delivery records of a
// webhook signed with an app key: no keychain id is ever "app".
const appWebhookScope = "app"

// decideWebhook finds the package, webhook, keychain and grant, reads the
// bounded body only then, verifies the signature with the signing secret,
// claims the delivery and mints the invocation token. A nil hook with no
// problem never happens; a duplicate hook is a redelivery.
//
// Which keychain a delivery is for is taken from the URL, which nothing
// signs. It is trusted only when the signing secret is that keychain's own
// key: then only the holder of the keychain's secret could have signed.
// An app key signs for every keychain alike, so a delivery it signs is
// forwarded without an invocation token and without Keygate-Keychain, and
// is claimed once per package, not per keychain: the same signed bytes
// posted at other keychains' URLs are duplicates.
func (h *PackageHandler) decideWebhook(w http.ResponseWriter, r *http.Request, ev *store.AuditEvent, rest string) (*ingressCall, *url.URL, *webhookCall, *gateway.Problem) {
	if r.Method != http.MethodPost {
		p := gateway.NewProblem(http.StatusMethodNotAllowed, "method_not_allowed", "webhook deliveries are POST requests")
		return nil, nil, nil, p
	}
	kcID, name, ok := strings.Cut(rest, "/")
	if !ok || kcID == "" || name == "" || strings.Contains(name, "/") {
		return nil, nil, nil, gateway.NewProblem(http.StatusNotFound, "unknown_webhook", "webhook URLs are /_keygate/webhooks/<keychain-id>/<name>")
	}
	st := h.app.Store()
	pkg, prob := h.packageAt(r.Context(), r.Host)
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

	kc, err := st.GetKeychainContext(r.Context(), kcID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil, nil, gateway.NewProblem(http.StatusNotFound, "unknown_keychain", "no such keychain")
		}
		return nil, nil, nil, gateway.ToProblem(err)
	}
	usable, grant, prob := h.decideGrant(r.Context(), kc.ID, pkg)
	if prob != nil {
		return nil, nil, nil, prob
	}

	// The signing secret, under the same double opt-in as any key: a user
	// key must be granted and set; an app key must be set.
	open := func(fn func(store.SecretMeta, []byte) error) error {
		return st.OpenAppSecretContext(r.Context(), pkg.Name, spec.Secret, fn)
	}
	_, userKey := pkg.Key(spec.Secret)
	if userKey {
		// The one re-check every flow makes, on what was just read: the
		// keys a token minted now would carry.
		inv := policy.InvocationClaims{Invocation: invocation(&kc, pkg, grant, usable, nil, ev.RequestID)}
		if _, d := policy.Recheck(&inv, policy.Standing{Keychain: &kc, Grant: grant, Package: pkg}, spec.Secret, false); d != nil {
			return nil, nil, nil, h.app.ExplainDenial(d)
		}
		open = func(fn func(store.SecretMeta, []byte) error) error {
			return st.OpenSecretContext(r.Context(), kc.ID, spec.Secret, fn)
		}
	}

	body, prob := h.readWebhookBody(w, r, h.maxWebhookBody())
	if prob != nil {
		return nil, nil, nil, prob
	}
	var delivery policy.WebhookDelivery
	verr := open(func(_ store.SecretMeta, secret []byte) error {
		var err error
		delivery, err = policy.VerifyWebhook(spec.Scheme, secret, r.Header, body, h.app.Now(), spec.ToleranceDuration())
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

	// Only a delivery signed with the keychain's own key speaks for it:
	// only then is it audited under the keychain.
	scope := appWebhookScope
	if userKey {
		scope = kc.ID
		ev.Keychain = kc.ID
	}
	hook := &webhookCall{body: body, pkg: pkg.Name, name: spec.Name, delivery: delivery.ID, claimScope: scope}
	expires := h.app.Now().Add(2 * spec.ToleranceDuration())
	switch seen, err := st.ClaimWebhookDeliveryContext(r.Context(), pkg.Name, scope, spec.Name, delivery.ID, expires); {
	case err != nil:
		return nil, nil, nil, gateway.ToProblem(err)
	case seen:
		hook.duplicate = true
		return nil, nil, hook, nil
	}

	// No signing secret of any of the package's webhooks is usable with
	// the token: each stays keygate's, to verify with. A delivery signed
	// with an app key mints no token: it does not speak for the keychain.
	keys := withoutSigningSecrets(pkg, usable)
	call, u, prob := h.newCall(&kc, pkg, grant, keys, withoutSigningSecrets(pkg, h.appKeys(r.Context(), pkg)), ev.RequestID, userKey)
	if prob != nil {
		return nil, nil, hook, prob
	}
	if !userKey {
		call.keychain, call.keys = "", nil
	}
	call.webhook, call.hookPath = spec.Name, spec.Path
	return call, u, hook, nil
}

// withoutSigningSecrets is keys less every webhook's signing secret.
func withoutSigningSecrets(pkg *store.Manifest, keys []string) []string {
	return slices.DeleteFunc(slices.Clone(keys), func(k string) bool {
		return slices.ContainsFunc(pkg.Webhooks, func(w store.WebhookSpec) bool { return w.Secret == k })
	})
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
