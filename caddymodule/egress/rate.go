package egress

import (
	"github.com/keygate/keygate/caddymodule/gateway"
	"github.com/keygate/keygate/policy"
)

// A route's rate limit bounds how often one keychain's calls through one
// package put the route's secret on the wire: token buckets keyed by
// keychain and package, as keygate_package's rate is for agent calls,
// counted after the invocation token and grant checks (no one else can
// empty a keychain's bucket) and split across the live nodes of a shared
// store like every other limit. Buckets survive config reloads; routes
// of the same secret with the same settings share them.

// provisionRate takes the route's shared limiter, when it has a rate.
func (t *Transport) provisionRate() error {
	if t.Rate == nil {
		return nil
	}
	var err error
	t.limiter, t.limiterKey, err = t.Rate.Shared("egress:" + t.Scope + ":" + t.Secret)
	return err
}

// allowRate answers 429 when the keychain's calls through the package
// have used up the route's bucket; nil otherwise.
func (t *Transport) allowRate(c *policy.InvocationClaims) *gateway.Problem {
	if t.limiter == nil {
		return nil
	}
	if ok, wait := t.limiter.Allow(c.Keychain + "|" + c.Package); !ok {
		return gateway.TooManyRequests(wait)
	}
	return nil
}

func (t *Transport) validateRate() error {
	if t.Rate == nil {
		return nil
	}
	return t.Rate.Validate("keygate transport: rate")
}

// Cleanup gives the route's buckets back to the pool (the next config
// takes them over) and closes the http transport's idle connections.
func (t *Transport) Cleanup() error {
	gateway.ReleaseLimiter(t.limiterKey)
	return t.HTTPTransport.Cleanup()
}
