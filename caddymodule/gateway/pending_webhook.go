package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/keygate/keygate/policy"
	"github.com/keygate/keygate/store"
)

// ApprovalWebhook tells the platform of each new held call, so that it
// can reach the person (push, email, chat): a Standard Webhooks signed
// POST (webhook-id, webhook-timestamp, webhook-signature), retried with
// backoff, each delivery's outcome audited.
type ApprovalWebhook struct {
	URL string `json:"url"`
	// Secret signs deliveries: whsec_<base64>, placeholders expanded.
	Secret string `json:"secret"`
}

// heldWebhook sends the deliveries of one config.
type heldWebhook struct {
	url    string
	secret []byte
	ctx    context.Context // ends with the config
	client *http.Client
	slots  chan struct{} // bounds deliveries in flight
	now    func() time.Time
}

// Delivery settings: attempts spaced 1, 2, 4, 8 s apart.
const (
	heldHookAttempts = 5
	heldHookFirstGap = time.Second
	heldHookTimeout  = 10 * time.Second
	heldHookInFlight = 64
)

func (a *App) provisionHeldWebhook(ctx caddy.Context, repl *caddy.Replacer) error {
	w := a.ApprovalWebhook
	if w == nil {
		return nil
	}
	u, err := url.Parse(w.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("keygate: approval_webhook: want an http or https URL")
	}
	secret, err := expandSecretSetting(repl, "approval_webhook secret", w.Secret)
	if err != nil {
		return err
	}
	if err := policy.CheckWebhookSecret(policy.WebhookSchemeStandard, []byte(secret)); err != nil || secret == "" {
		return fmt.Errorf("keygate: approval_webhook: the secret must be whsec_<base64>, as Standard Webhooks has it")
	}
	a.heldHook = &heldWebhook{url: w.URL, secret: []byte(secret), ctx: ctx, client: &http.Client{Timeout: heldHookTimeout},
		slots: make(chan struct{}, heldHookInFlight), now: a.Now}
	return nil
}

// heldEvent is a delivery's body.
type heldEvent struct {
	Type      string        `json:"type"`
	Timestamp time.Time     `json:"timestamp"`
	Data      heldEventData `json:"data"`
}

type heldEventData struct {
	ID       string      `json:"id"`
	Keychain string      `json:"keychain"`
	Package  string      `json:"package,omitempty"`
	Key      string      `json:"key,omitempty"`
	Kind     string      `json:"kind"`
	Reason   string      `json:"reason"`
	Request  heldSummary `json:"request"`
	Expires  time.Time   `json:"expires"`
	OwnerURL string      `json:"owner_url,omitempty"`
}

type heldSummary struct {
	Flow       string `json:"flow"`
	Method     string `json:"method,omitempty"`
	Host       string `json:"host,omitempty"`
	Path       string `json:"path,omitempty"`
	BodySize   int64  `json:"body_size"`
	BodySHA256 string `json:"body_sha256,omitempty"`
}

// notifyHeld sends the platform a delivery for a new held call, in the
// background; with too many in flight it is dropped, and audited so.
func (a *App) notifyHeld(rec store.HeldCall) {
	hk := a.heldHook
	if hk == nil {
		return
	}
	ev := heldEvent{Type: "keygate.held_call", Timestamp: a.Now().UTC(), Data: heldEventData{
		ID: rec.ID, Keychain: rec.Keychain, Package: rec.Package, Key: rec.Key, Kind: rec.Kind, Reason: rec.Reason,
		Request: heldSummary{Flow: rec.Flow, Method: rec.Method, Host: rec.Host, Path: rec.Path, BodySize: rec.BodySize, BodySHA256: rec.BodySHA256},
		Expires: rec.Expires,
	}}
	if a.PublicURL != "" {
		ev.Data.OwnerURL = a.PublicURL + "/ui/keychains/" + url.PathEscape(rec.Keychain) + "/waiting"
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return
	}
	select {
	case hk.slots <- struct{}{}:
	default:
		a.auditHeldHook(rec, 0, "dropped: too many deliveries in flight")
		return
	}
	go func() {
		defer func() { <-hk.slots }()
		status, attempts := hk.deliver(body, rec.ID)
		outcome := "delivered"
		if status/100 != 2 {
			outcome = "undelivered"
		}
		a.auditHeldHook(rec, status, outcome+" after "+strconv.Itoa(attempts)+" attempts")
		if status/100 != 2 {
			a.logger.Warn("approval webhook not delivered", zap.String("keychain", rec.Keychain), zap.Int("status", status), zap.Int("attempts", attempts))
		}
	}()
}

// deliver POSTs body until a 2xx, the attempts run out or the config ends.
// Every attempt is signed anew (its timestamp is fresh); the webhook-id
// stays, so the platform can drop a duplicate.
func (hk *heldWebhook) deliver(body []byte, id string) (status, attempts int) {
	gap := heldHookFirstGap
	for attempts = 1; ; attempts++ {
		status = hk.attempt(body, id)
		if status/100 == 2 || attempts == heldHookAttempts {
			return status, attempts
		}
		select {
		case <-hk.ctx.Done():
			return status, attempts
		case <-time.After(gap):
		}
		gap *= 2
	}
}

func (hk *heldWebhook) attempt(body []byte, id string) int {
	h, err := policy.SignWebhook(policy.WebhookSchemeStandard, hk.secret, body, hk.now(), "msg_"+id)
	if err != nil {
		return 0
	}
	req, err := http.NewRequestWithContext(hk.ctx, http.MethodPost, hk.url, bytes.NewReader(body))
	if err != nil {
		return 0
	}
	req.Header = h
	req.Header.Set("Content-Type", "application/json")
	res, err := hk.client.Do(req)
	if err != nil {
		return 0
	}
	res.Body.Close()
	return res.StatusCode
}

func (a *App) auditHeldHook(rec store.HeldCall, status int, reason string) {
	_ = a.shared.audit.record(context.Background(), store.AuditEvent{Actor: "keygate", Action: ActionHeldWebhook, Keychain: rec.Keychain,
		Package: rec.Package, Decision: "ok", Status: status, Reason: reason, RequestID: rec.RequestID})
}
