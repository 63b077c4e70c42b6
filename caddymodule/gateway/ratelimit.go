package gateway

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"golang.org/x/time/rate"

	"github.com/keygate/keygate/policy"
)

// RateLimit is a token bucket: Events per Window, up to Burst at once.
type RateLimit struct {
	Events int            `json:"events"`
	Window caddy.Duration `json:"window"`
	Burst  int            `json:"burst,omitempty"`
}

// parseRate reads "20/s", "600/m", "1000/h" or "5/10s".
func parseRate(s string) (*RateLimit, error) {
	n, per, ok := strings.Cut(s, "/")
	if !ok {
		return nil, fmt.Errorf("rate %q: want EVENTS/WINDOW such as 20/s", s)
	}
	events, err := strconv.Atoi(n)
	if err != nil || events < 1 {
		return nil, fmt.Errorf("rate %q: events must be a whole number above 0", s)
	}
	var window time.Duration
	switch per {
	case "s":
		window = time.Second
	case "m":
		window = time.Minute
	case "h":
		window = time.Hour
	default:
		window, err = caddy.ParseDuration(per)
		if err != nil || window <= 0 {
			return nil, fmt.Errorf("rate %q: window must be s, m, h or a duration", s)
		}
	}
	return &RateLimit{Events: events, Window: caddy.Duration(window)}, nil
}

func (r *RateLimit) Validate(field string) error {
	if r.Events < 1 {
		return fmt.Errorf("%s: events must be above 0", field)
	}
	if r.Window <= 0 {
		return fmt.Errorf("%s: window must be above 0", field)
	}
	if r.Burst < 0 {
		return fmt.Errorf("%s: burst must not be negative", field)
	}
	return nil
}

// limiterPool keeps rate-limit state across config reloads, as
// mholt/caddy-ratelimit does: a reload must not hand every caller a full
// bucket. Limiters are shared by configs whose site and settings match.
var limiterPool = caddy.NewUsagePool()

type pooledLimiter struct{ *policy.Limiter }

func (pooledLimiter) Destruct() error { return nil }

// Shared returns the limiter for scope with these settings, the one an
// earlier config used when there is one, and the key to release it with.
func (r *RateLimit) Shared(scope string) (*policy.Limiter, string, error) {
	key := fmt.Sprintf("%s|%d/%s|%d", scope, r.Events, time.Duration(r.Window), r.Burst)
	v, _, err := limiterPool.LoadOrNew(key, func() (caddy.Destructor, error) {
		return pooledLimiter{r.Limiter()}, nil
	})
	if err != nil {
		return nil, "", err
	}
	return v.(pooledLimiter).Limiter, key, nil
}

func ReleaseLimiter(key string) {
	if key != "" {
		_, _ = limiterPool.Delete(key)
	}
}

// Limiter returns a new limiter with these settings.
func (r *RateLimit) Limiter() *policy.Limiter {
	burst := r.Burst
	if burst == 0 {
		burst = r.Events
	}
	every := rate.Limit(float64(r.Events) / time.Duration(r.Window).Seconds())
	return policy.NewLimiter(every, burst, policy.LimiterOptions{Share: liveNodes})
}

// liveNodes is how many nodes share the store of the running config:
// with PostgreSQL, each node allows its share of every limit, so that
// together they allow about the limit (see store.LiveNodes).
func liveNodes() int {
	if a := running.Load(); a != nil && a.shared != nil {
		return a.shared.store.LiveNodes()
	}
	return 1
}
