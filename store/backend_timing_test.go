package store

import (
	"sync"
	"testing"
	"time"
)

// Options.Observe hears each round trip, and the backend-specific parts
// (health, signals) still find the backend under the timing.
func TestObserveTimesRoundTrips(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	opts := testOptions(t, "")
	opts.Keyring, opts.Now = testKeyring(t, "k1"), newClock().Now
	opts.CacheBytes = -1 // every read goes to the backend
	opts.Observe = func(op string, d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		if d < 0 {
			t.Errorf("%s took %v", op, d)
		}
		seen[op]++
	}
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	kc := mustKeychain(t, s)
	if _, err := s.PutSecret(kc.ID, "API_KEY", []byte("v"), SecretOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetSecretMeta(kc.ID, "API_KEY"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ListKeychains(kc.Owner); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Health(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, op := range []string{"get", "view", "update"} {
		if seen[op] == 0 {
			t.Errorf("no %s observed: %v", op, seen)
		}
	}
	if _, ok := s.be.(timedBackend); !ok {
		t.Fatal("the backend is not timed")
	}
}
