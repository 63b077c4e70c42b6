package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// WebhookSchemes are the signature schemes a manifest's webhooks may use;
// policy verifies each (policy.ValidWebhookScheme agrees, tested there).
var WebhookSchemes = []string{"stripe", "github", "slack", "standard"}

const (
	maxWebhooks         = 32
	maxWebhookPath      = 1024
	maxWebhookTolerance = time.Hour
	// DefaultWebhookTolerance is a webhook's replay window when its
	// manifest entry names none.
	DefaultWebhookTolerance = 5 * time.Minute
)

// Webhook returns the webhook with that name.
func (m *Manifest) Webhook(name string) (WebhookSpec, bool) {
	for _, w := range m.Webhooks {
		if w.Name == name {
			return w, true
		}
	}
	return WebhookSpec{}, false
}

// ToleranceDuration is the webhook's replay window.
func (w WebhookSpec) ToleranceDuration() time.Duration {
	d, err := time.ParseDuration(w.Tolerance)
	if err != nil || d <= 0 {
		return DefaultWebhookTolerance
	}
	return d
}

// validateWebhooks checks a manifest's webhooks: names unique and
// path-safe, an absolute path, a known scheme, a secret among the
// package's keys or app keys, and a sane tolerance.
func validateWebhooks(m *Manifest) error {
	if len(m.Webhooks) > maxWebhooks {
		return invalid("webhooks", fmt.Sprintf("has more than %d entries", maxWebhooks))
	}
	seen := make(map[string]string, len(m.Webhooks))
	for i, w := range m.Webhooks {
		field := fmt.Sprintf("webhooks[%d]", i)
		if !validWebhookName(w.Name) {
			return invalid(field+".name", "must be 1 to 64 characters of a-z, 0-9, - and _")
		}
		if prev, dup := seen[w.Name]; dup {
			return invalid(field+".name", fmt.Sprintf("repeats %s (webhook %s)", prev, w.Name))
		}
		seen[w.Name] = field + ".name"
		if !strings.HasPrefix(w.Path, "/") || len(w.Path) > maxWebhookPath || strings.ContainsAny(w.Path, "?#\\ \t\r\n") || strings.Contains(w.Path, "..") {
			return invalid(field+".path", "must be an absolute path such as /stripe-webhook, without query, spaces or ..")
		}
		if !slices.Contains(WebhookSchemes, w.Scheme) {
			return invalid(field+".scheme", fmt.Sprintf("must be one of %s, got %q", strings.Join(WebhookSchemes, ", "), w.Scheme))
		}
		if _, ok := m.Key(w.Secret); !ok {
			if _, ok := m.AppKey(w.Secret); !ok {
				return invalid(field+".secret", fmt.Sprintf("names %q, which is not among the package's keys or app_keys", w.Secret))
			}
		}
		if w.Tolerance != "" {
			d, err := time.ParseDuration(w.Tolerance)
			if err != nil || d < time.Second || d > maxWebhookTolerance {
				return invalid(field+".tolerance", fmt.Sprintf("must be a duration from 1s to %s, such as 5m", maxWebhookTolerance))
			}
		}
	}
	return nil
}

func validWebhookName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// ClaimWebhookDelivery records that a delivery was forwarded, until
// expires. It reports seen=true, changing nothing, when the same delivery
// of the same webhook for the same keychain is already recorded and has
// not expired: the caller answers a redelivery without forwarding again.
func (s *Store) ClaimWebhookDelivery(pkg, kc, webhook, id string, expires time.Time) (seen bool, err error) {
	return s.ClaimWebhookDeliveryContext(context.Background(), pkg, kc, webhook, id, expires)
}

// ClaimWebhookDeliveryContext is ClaimWebhookDelivery for a request: the
// transaction stops when ctx is done, and then nothing is recorded.
func (s *Store) ClaimWebhookDeliveryContext(ctx context.Context, pkg, kc, webhook, id string, expires time.Time) (seen bool, err error) {
	if pkg == "" || kc == "" || webhook == "" || id == "" || strings.IndexByte(id, sep) >= 0 {
		return false, invalid("delivery", "needs a package, keychain, webhook and delivery id")
	}
	if err := s.enter(); err != nil {
		return false, err
	}
	defer s.leave()
	now := s.now()
	k := key(pfxWebhookDelivery, pkg, kc, webhook, id)
	err = s.updateContext(ctx, func(w writer) error {
		var rec webhookDelivery
		switch err := getJSON(w, k, &rec); {
		case err == nil && now.Before(rec.Expires):
			seen = true
			return nil
		case err != nil && !errors.Is(err, errNoKey):
			return err
		}
		seen = false
		return setJSON(w, k, webhookDelivery{Expires: expires.UTC()})
	})
	return seen, err
}

// ReleaseWebhookDelivery forgets a claimed delivery that the package did
// not take, so that the provider's retry is forwarded. Releasing one that
// is not recorded is not an error.
func (s *Store) ReleaseWebhookDelivery(pkg, kc, webhook, id string) error {
	if pkg == "" || kc == "" || webhook == "" || id == "" || strings.IndexByte(id, sep) >= 0 {
		return invalid("delivery", "needs a package, keychain, webhook and delivery id")
	}
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	return s.update(func(w writer) error { return w.Delete(key(pfxWebhookDelivery, pkg, kc, webhook, id)) })
}

// SeenWebhookDelivery reports whether a delivery is recorded and unexpired.
func (s *Store) SeenWebhookDelivery(pkg, kc, webhook, id string) (bool, error) {
	if err := s.enter(); err != nil {
		return false, err
	}
	defer s.leave()
	var rec webhookDelivery
	var seen bool
	err := s.be.View(context.Background(), func(r reader) error {
		switch err := getJSON(r, key(pfxWebhookDelivery, pkg, kc, webhook, id), &rec); {
		case errors.Is(err, errNoKey):
			return nil
		case err != nil:
			return err
		}
		seen = s.now().Before(rec.Expires)
		return nil
	})
	return seen, err
}

// PruneWebhookDeliveries deletes expired delivery records.
func (s *Store) PruneWebhookDeliveries() (int, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.leave()
	now := s.now()
	var expired [][]byte
	err := s.be.View(context.Background(), func(r reader) error {
		return r.Iterate(iterOptions{Prefix: []byte(pfxWebhookDelivery)}, func(k, v []byte) error {
			var rec webhookDelivery
			if err := decodeJSON(v, &rec); err != nil || !now.Before(rec.Expires) {
				expired = append(expired, slices.Clone(k))
			}
			return nil
		})
	})
	if err != nil || len(expired) == 0 {
		return 0, err
	}
	err = s.update(func(w writer) error {
		for _, k := range expired {
			if err := w.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	return len(expired), err
}

type webhookDelivery struct {
	Expires time.Time `json:"expires"`
}
