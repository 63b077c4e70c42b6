package integration

import (
	"net/http"
	"testing"
	"time"
)

// TestSharedRateLimit: two nodes on one database with keychain_rate
// 10/s burst 10. Once both count each other, each allows its share, so a
// keychain's calls spread over both get about the limit in all, not twice
// it.
func TestSharedRateLimit(t *testing.T) {
	t.Parallel()
	dsn := pgDatabase(t, t.Name())
	cfg := pgNodeConfig(t, dsn)
	cfg.KeygateOptions = "keychain_rate 10/s burst 10"
	code := NewUpstream(t, nil)
	nodes := startNodes(t, dsn, cfg, 2, false)
	n1, n2 := nodes[0], nodes[1]
	m := apiKeyManifest("@it/limited", "limited", code.URL)
	n1.putPackage(t, m)
	keychain := func() string {
		kc, tok := n1.newKeychain(t, "limited")
		n1.setSecret(t, kc, "API_KEY", RandomToken(t, "v_"))
		n1.grant(t, kc, m.Name, "API_KEY")
		return tok
	}
	burst := func(tok string, ins ...*Instance) (allowed int, took time.Duration) {
		start := time.Now()
		for i := range 40 {
			r := ins[i%len(ins)].callIngress(t, m.Host, tok, "GET", "/x", nil)
			switch r.Status {
			case http.StatusOK:
				allowed++
			case http.StatusTooManyRequests:
			default:
				t.Fatalf("call %d: %s", i, r)
			}
		}
		return allowed, time.Since(start)
	}
	// Wait (bounded) until node 1 counts node 2: its own share of the
	// burst is then 5.
	shared := eventually(10*time.Second, 200*time.Millisecond, func() bool {
		allowed, took := burst(keychain(), n1)
		return float64(allowed) <= 5+10*took.Seconds()/2+1
	})
	if !shared {
		t.Fatal("node 1 never took its share of the limit")
	}
	allowed, took := burst(keychain(), n1, n2)
	limit := 10 + 10*took.Seconds() + 2 // the burst, the refill meanwhile, rounding
	if float64(allowed) > limit {
		t.Errorf("two nodes allowed %d calls in %s; the shared limit allows about %.0f", allowed, took, limit)
	}
	if allowed < 8 {
		t.Errorf("two nodes allowed only %d calls of a burst of 10", allowed)
	}
	t.Logf("two nodes allowed %d of 40 calls in %s (keychain_rate 10/s burst 10)", allowed, took)
}
