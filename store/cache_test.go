package store

import (
	"fmt"
	"sync"
	"testing"
)

func TestMetaCacheGenerationDropsStaleFill(t *testing.T) {
	c := newMetaCache(1 << 20)
	k := []byte("kc/x")
	_, found, gen := c.get(k)
	if found {
		t.Fatal("empty cache found a key")
	}
	// A write commits and invalidates between the reader's backend read
	// and its fill: the fill must be dropped.
	c.invalidate([]string{"kc/x"})
	c.put(k, "stale", 5, gen)
	if _, found, _ := c.get(k); found {
		t.Fatal("stale fill was kept")
	}
	_, _, gen = c.get(k)
	c.put(k, "fresh", 5, gen)
	if v, found, _ := c.get(k); !found || v != "fresh" {
		t.Fatal("fill lost")
	}
}

func TestMetaCacheBounded(t *testing.T) {
	c := newMetaCache(64 << 10)
	for i := range 10000 {
		_, _, gen := c.get(nil)
		c.put([]byte(fmt.Sprintf("sec/%d", i)), i, 100, gen)
	}
	if c.bytes > c.max || len(c.m) == 0 {
		t.Fatalf("cache holds %d bytes in %d entries, max %d", c.bytes, len(c.m), c.max)
	}
	var nilCache *metaCache
	nilCache.put([]byte("k"), 1, 1, 0) // disabled cache is a no-op
	if _, found, _ := nilCache.get([]byte("k")); found {
		t.Fatal("nil cache found a key")
	}
}

// Readers racing writers never see a value older than the last write that
// returned before their read began. Run with -race.
func TestCacheConsistentUnderConcurrency(t *testing.T) {
	s, _ := memStore(t)
	kc := mustKeychain(t, s)
	mustPackage(t, s, "@acme/tools", "tools")
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				name := fmt.Sprintf("W%d", w)
				if _, err := s.PutSecret(kc.ID, name, []byte(fmt.Sprint(i)), SecretOptions{}); err != nil {
					t.Error(err)
					return
				}
				// Our own write is visible at once, through the cache.
				if m, err := s.GetSecretMeta(kc.ID, name); err != nil || m.Version != uint64(i+1) {
					t.Errorf("read after write: version %d, want %d (%v)", m.Version, i+1, err)
					return
				}
				if got := openValue(t, s, kc.ID, name); got != fmt.Sprint(i) {
					t.Errorf("value %q, want %d", got, i)
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 200 {
			s.HasSecret(kc.ID, "W0")
			s.GetKeychain(kc.ID)
			s.GetPackageByHost("tools")
			if i%50 == 0 {
				s.RotateKeychainToken(kc.ID)
			}
		}
	}()
	wg.Wait()
	if got, _ := s.GetKeychain(kc.ID); got.TokenVersion != 5 {
		t.Fatalf("token version %d, want 5", got.TokenVersion)
	}
}

func TestCacheDisabled(t *testing.T) {
	s, err := Open(Options{InMemory: true, Keyring: testKeyring(t, "k1"), CacheBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.cache != nil {
		t.Fatal("cache not disabled")
	}
	kc := mustKeychain(t, s)
	s.PutSecret(kc.ID, "A", []byte("v"), SecretOptions{})
	if openValue(t, s, kc.ID, "A") != "v" {
		t.Fatal("read without cache")
	}
}

func TestMetaCacheAccounting(t *testing.T) {
	c := newMetaCache(16 << 10)
	for i := range 5000 {
		k := []byte(fmt.Sprintf("kc/%d", i%300))
		_, _, gen := c.get(k)
		c.put(k, i, i%50, gen)
		if i%7 == 0 {
			c.invalidate([]string{string(k)})
		}
	}
	var sum int64
	for _, e := range c.m {
		sum += e.size
	}
	if sum != c.bytes || c.bytes > c.max {
		t.Fatalf("bytes %d, entries sum %d, max %d", c.bytes, sum, c.max)
	}
	inQueue := map[string]bool{}
	for _, k := range c.fifo[c.head:] {
		inQueue[k] = true
	}
	for k := range c.m {
		if !inQueue[k] {
			t.Fatalf("%q is cached but not queued for eviction", k)
		}
	}
	if len(c.fifo)-c.head > 2*len(c.m)+1024 {
		t.Fatalf("queue grew to %d for %d entries", len(c.fifo)-c.head, len(c.m))
	}
}
