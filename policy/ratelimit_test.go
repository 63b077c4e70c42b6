package policy

import (
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

func TestLimiterAllow(t *testing.T) {
	c := newClock()
	l := NewLimiter(2, 3, LimiterOptions{Now: c.Now}) // 2/s, burst 3
	type step struct {
		advance time.Duration
		key     string
		ok      bool
		wait    time.Duration
	}
	steps := []step{
		{0, "a", true, 0},
		{0, "a", true, 0},
		{0, "a", true, 0},
		{0, "a", false, 500 * time.Millisecond}, // burst spent; one token every 500ms
		{0, "b", true, 0},                       // other keys have their own bucket
		{100 * time.Millisecond, "a", false, 400 * time.Millisecond},
		{400 * time.Millisecond, "a", true, 0},
		{0, "a", false, 500 * time.Millisecond},
		{10 * time.Second, "a", true, 0}, // refilled, but never beyond burst
		{0, "a", true, 0},
		{0, "a", true, 0},
		{0, "a", false, 500 * time.Millisecond},
	}
	for i, s := range steps {
		c.Add(s.advance)
		ok, wait := l.Allow(s.key)
		if ok != s.ok || wait != s.wait {
			t.Fatalf("step %d: Allow(%q) = %v, %v; want %v, %v", i, s.key, ok, wait, s.ok, s.wait)
		}
	}
}

func TestLimiterRefusalDoesNotCost(t *testing.T) {
	// A refused call takes no token, so a client hammering a limit gets in
	// as soon as the refill allows, not later.
	c := newClock()
	l := NewLimiter(1, 1, LimiterOptions{Now: c.Now})
	l.Allow("k")
	for i := 0; i < 10; i++ {
		c.Add(50 * time.Millisecond)
		if ok, _ := l.Allow("k"); ok {
			t.Fatalf("allowed after %d refusals", i)
		}
	}
	c.Add(500 * time.Millisecond)
	if ok, _ := l.Allow("k"); !ok {
		t.Fatal("refused after the refill")
	}
}

func TestLimiterRetryAfterRoundsUp(t *testing.T) {
	c := newClock()
	l := NewLimiter(3, 1, LimiterOptions{Now: c.Now}) // a token every 333.33ms
	l.Allow("k")
	ok, wait := l.Allow("k")
	if ok || wait < 333333333*time.Nanosecond || wait > 333333334*time.Nanosecond {
		t.Fatalf("wait = %v", wait)
	}
	c.Add(wait)
	if ok, _ := l.Allow("k"); !ok {
		t.Fatal("refused after waiting the advertised time")
	}
}

func TestLimiterUnlimited(t *testing.T) {
	for _, r := range []rate.Limit{0, -1, rate.Inf} {
		l := NewLimiter(r, 0, LimiterOptions{})
		for i := 0; i < 1000; i++ {
			if ok, wait := l.Allow("k" + strconv.Itoa(i%3)); !ok || wait != 0 {
				t.Fatalf("rate %v refused", r)
			}
		}
		if n := l.Len(); n != 0 {
			t.Fatalf("rate %v keeps %d buckets", r, n)
		}
	}
}

func TestLimiterBurstAtLeastOne(t *testing.T) {
	c := newClock()
	l := NewLimiter(1, 0, LimiterOptions{Now: c.Now})
	if ok, _ := l.Allow("k"); !ok {
		t.Fatal("burst 0 refused the first call")
	}
	if ok, _ := l.Allow("k"); ok {
		t.Fatal("burst 0 allowed two")
	}
}

func TestLimiterSweepsIdleBuckets(t *testing.T) {
	c := newClock()
	// Refill time 40/20 = 2s; IdleTTL 1s is raised to it.
	l := NewLimiter(20, 40, LimiterOptions{Now: c.Now, IdleTTL: time.Second})
	for i := 0; i < 10000; i++ {
		l.Allow("kc_" + strconv.Itoa(i))
	}
	if n := l.Len(); n != 10000 {
		t.Fatalf("Len = %d", n)
	}
	c.Add(time.Second + time.Millisecond) // less than the refill time: kept
	l.Allow("x")
	if n := l.Len(); n < 10000 {
		t.Fatalf("swept buckets that were not full yet: Len = %d", n)
	}
	c.Add(2 * time.Second)
	// Sweeps run per shard on access; touching every shard sweeps them all.
	for i := 0; i < 2000; i++ {
		l.Allow("y" + strconv.Itoa(i))
	}
	if n := l.Len(); n > 2001 {
		t.Fatalf("idle buckets kept: Len = %d", n)
	}
}

func TestLimiterEvictedBucketIsFull(t *testing.T) {
	c := newClock()
	l := NewLimiter(1, 2, LimiterOptions{Now: c.Now})
	l.Allow("k")
	l.Allow("k")
	c.Add(time.Hour)
	for i := 0; i < 1000; i++ { // sweeps "k"'s shard among others
		l.Allow("other" + strconv.Itoa(i))
	}
	for i := 0; i < 2; i++ {
		if ok, _ := l.Allow("k"); !ok {
			t.Fatalf("call %d after eviction refused", i)
		}
	}
}

// TestLimiterBoundedWithAMillionKeys feeds a million distinct keys at one
// instant, so that nothing is idle and only the MaxKeys cap can keep memory
// bounded.
func TestLimiterBoundedWithAMillionKeys(t *testing.T) {
	if testing.Short() {
		t.Skip("a million keys")
	}
	c := newClock()
	const maxKeys = 4096
	l := NewLimiter(10, 10, LimiterOptions{Now: c.Now, MaxKeys: maxKeys})
	buf := make([]byte, 0, 16)
	for i := 0; i < 1_000_000; i++ {
		buf = strconv.AppendInt(append(buf[:0], "kc_"...), int64(i), 10)
		if ok, _ := l.Allow(string(buf)); !ok {
			t.Fatalf("new key %d refused", i)
		}
		if i%100_000 == 0 {
			c.Add(time.Millisecond)
		}
	}
	if n := l.Len(); n > maxKeys {
		t.Fatalf("Len = %d, cap %d", n, maxKeys)
	}
}

func TestLimiterCapDropsLeastRecentlyUsed(t *testing.T) {
	// Eight buckets per shard: a key in use keeps its state while a
	// thousand strangers come and go through the same shards.
	c := newClock()
	l := NewLimiter(1, 1, LimiterOptions{Now: c.Now, MaxKeys: 8 * limiterShards})
	l.Allow("hot")
	for i := 0; i < 1000; i++ {
		c.Add(time.Microsecond)
		l.Allow("cold" + strconv.Itoa(i))
		c.Add(time.Microsecond)
		if ok, _ := l.Allow("hot"); ok {
			t.Fatalf("hot key's bucket was dropped after %d strangers", i)
		}
	}
	if n := l.Len(); n > 8*limiterShards {
		t.Fatalf("Len = %d", n)
	}
}

func TestLimiterConcurrent(t *testing.T) {
	c := newClock()
	var mu sync.Mutex
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return c.Now() }
	l := NewLimiter(1, 100, LimiterOptions{Now: now, MaxKeys: 128})
	var wg sync.WaitGroup
	var allowed [4]int
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				if ok, _ := l.Allow("shared"); ok {
					allowed[g]++
				}
				l.Allow("g" + strconv.Itoa(g) + "-" + strconv.Itoa(i))
			}
		}()
	}
	wg.Wait()
	// The clock does not move, so "shared" gets exactly its burst, unless
	// the cap dropped it (then it starts full again): at least 100.
	if sum := allowed[0] + allowed[1] + allowed[2] + allowed[3]; sum < 100 {
		t.Fatalf("shared allowed %d", sum)
	}
	if n := l.Len(); n > 128 {
		t.Fatalf("Len = %d", n)
	}
}

func BenchmarkLimiterAllow(b *testing.B) {
	l := NewLimiter(rate.Limit(1e9), 1<<30, LimiterOptions{})
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "kc_" + strconv.Itoa(i) + "|@acme/stripe-tools"
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		l.Allow(keys[i&1023])
		i++
	}
}

func BenchmarkLimiterAllowParallel(b *testing.B) {
	l := NewLimiter(rate.Limit(1e9), 1<<30, LimiterOptions{})
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "kc_" + strconv.Itoa(i) + "|@acme/stripe-tools"
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			l.Allow(keys[i&1023])
			i++
		}
	})
}

// TestLimiterShare: with the limit shared by n nodes, each allows its
// share of the burst and the rate, and follows a change of n.
func TestLimiterShare(t *testing.T) {
	now := time.Unix(1000, 0)
	n := 2
	l := NewLimiter(10, 10, LimiterOptions{Now: func() time.Time { return now }, Share: func() int { return n }})
	count := func(k string, tries int) int {
		ok := 0
		for range tries {
			if a, _ := l.Allow(k); a {
				ok++
			}
		}
		return ok
	}
	if got := count("kc", 20); got != 5 {
		t.Fatalf("burst with 2 nodes: %d, want 5", got)
	}
	now = now.Add(time.Second) // 10/s shared by 2: 5 more
	if got := count("kc", 20); got != 5 {
		t.Fatalf("refill in 1 s with 2 nodes: %d, want 5", got)
	}
	n = 1 // the other node is gone: what was refilled meanwhile stays
	now = now.Add(time.Second)
	if got := count("kc", 20); got != 5 {
		t.Fatalf("refill in the second the other node left: %d, want 5", got)
	}
	now = now.Add(time.Second)
	if got := count("kc", 20); got != 10 {
		t.Fatalf("refill in 1 s alone: %d, want 10", got)
	}
	n = 3
	if got := count("other", 20); got != 4 {
		t.Fatalf("burst with 3 nodes: %d, want 4 (10/3 rounded up)", got)
	}
}

// AllowPair counts in the bucket of a + "|" + b, and a bucket that exists
// costs it no allocation; a key too long for its stack buffer still works.
func TestLimiterAllowPair(t *testing.T) {
	l := NewLimiter(1, 2, LimiterOptions{Now: func() time.Time { return time.Unix(1000, 0) }})
	if ok, _ := l.AllowPair("kc_1", "@acme/tools"); !ok {
		t.Fatal("first call refused")
	}
	if ok, _ := l.Allow("kc_1|@acme/tools"); !ok {
		t.Fatal("second call refused")
	}
	if ok, _ := l.AllowPair("kc_1", "@acme/tools"); ok {
		t.Fatal("a third call within the burst of 2 was allowed: AllowPair and Allow count apart")
	}
	if l.Len() != 1 {
		t.Fatalf("%d buckets, want 1", l.Len())
	}
	long := strings.Repeat("x", 200)
	if ok, _ := l.AllowPair(long, "p"); !ok {
		t.Fatal("a long key was refused")
	}
	if ok, _ := l.AllowPair(long, "p"); !ok {
		t.Fatal("a long key's second call was refused")
	}
	if ok, _ := l.Allow(long + "|p"); ok {
		t.Fatal("a long key's pair and its joined form count apart")
	}
	if n := testing.AllocsPerRun(100, func() { l.AllowPair("kc_1", "@acme/tools") }); n != 0 {
		t.Fatalf("AllowPair on an existing bucket allocates %v times", n)
	}
}
