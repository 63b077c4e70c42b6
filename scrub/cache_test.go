package scrub

import (
	"strconv"
	"sync"
	"testing"
)

func TestCacheKeysOnEveryNeedle(t *testing.T) {
	var c Cache
	find := []byte("sk_live_value")
	a := c.Get(Needle{Find: find, Replace: "kgph_a"})
	find[0] = 'X' // the cache kept a copy: the caller's buffer is its own
	if b := c.Get(Needle{Find: []byte("sk_live_value"), Replace: "kgph_a"}); b != a {
		t.Fatal("the same needles built a second scrubber")
	}
	if out, _ := a.Text("echo sk_live_value Xk_live_value"); out != "echo kgph_a Xk_live_value" {
		t.Fatalf("the cached scrubber scrubbed %q", out)
	}
	for _, other := range [][]Needle{
		{{Find: []byte("sk_live_value"), Replace: "kgph_b"}},
		{{Find: []byte("sk_live_value"), Replace: "kgph_a"}, {Find: []byte("other"), Replace: "kgph_a"}},
		{{Find: []byte("sk_live_valu"), Replace: "ekgph_a"}}, // a byte moved from value to replacement
		{{Find: []byte("sk_live"), Replace: ""}, {Find: []byte("_value"), Replace: "kgph_a"}},
		{},
	} {
		if b := c.Get(other...); b == a {
			t.Fatalf("%q got the scrubber of another set", other)
		}
	}
}

// TestCacheCollision: two sets with one hash are told apart by their
// needles; a collision costs a rebuild, never another set's scrubber.
func TestCacheCollision(t *testing.T) {
	var c Cache
	mine := []Needle{{Find: []byte("sk-mine"), Replace: "[mine]"}}
	theirs := []Needle{{Find: []byte("sk-theirs"), Replace: "[theirs]"}}
	c.Get(mine...) // seeds the cache
	key := c.key(mine)
	planted := New(theirs...)
	c.m[key] = &cacheEntry{needles: theirs, sc: planted}

	got := c.Get(mine...)
	if got == planted {
		t.Fatal("a colliding entry was served")
	}
	if out, n := got.Text("x sk-mine x"); n != 1 || out != "x [mine] x" {
		t.Fatalf("the scrubber built on a collision scrubbed %q", out)
	}
	if c.Get(mine...) != got {
		t.Fatal("the set that won the slot is not served from it")
	}
}

// TestCacheBound: full, the cache starts over rather than growing, and
// still serves every set.
func TestCacheBound(t *testing.T) {
	var c Cache
	for i := range 3 * cacheMax {
		v := "sk-" + strconv.Itoa(i)
		sc := c.Get(Needle{Find: []byte(v), Replace: "[r]"})
		if len(c.m) > cacheMax {
			t.Fatalf("cache holds %d scrubbers", len(c.m))
		}
		if out, n := sc.Text(v + " "); n != 1 || out != "[r] " {
			t.Fatalf("set %d: scrubbed %q", i, out)
		}
	}
	if len(c.m) == 0 || len(c.m) > cacheMax {
		t.Fatalf("cache holds %d scrubbers", len(c.m))
	}
}

// TestCacheConcurrent, run with -race: goroutines sharing sets get one
// scrubber per set, and each scrubs its own values.
func TestCacheConcurrent(t *testing.T) {
	var c Cache
	const sets, workers, rounds = 8, 8, 200
	needles := func(s int) []Needle {
		v := "sk-set-" + strconv.Itoa(s)
		return []Needle{{Find: []byte(v), Replace: "[" + strconv.Itoa(s) + "]"}, {Find: []byte("Bearer " + v), Replace: "[b]"}}
	}
	got := make([][sets]*Scrubber, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for r := range rounds {
				s := (w + r) % sets
				sc := c.Get(needles(s)...)
				if got[w][s] == nil {
					got[w][s] = sc
				} else if got[w][s] != sc {
					t.Errorf("set %d: a second scrubber", s)
					return
				}
				if out, n := sc.Text("sk-set-" + strconv.Itoa(s)); n != 1 || out != "["+strconv.Itoa(s)+"]" {
					t.Errorf("set %d: scrubbed %q", s, out)
					return
				}
			}
		})
	}
	wg.Wait()
	for w := 1; w < workers; w++ {
		if got[w] != got[0] {
			t.Fatalf("worker %d got other scrubbers than worker 0", w)
		}
	}
}

func TestCacheHitDoesNotAllocate(t *testing.T) {
	var c Cache
	ns := []Needle{{Find: []byte("sk-value"), Replace: "[r]"}, {Find: []byte("Bearer sk-value"), Replace: "[r]"}}
	c.Get(ns...)
	if n := testing.AllocsPerRun(100, func() { c.Get(ns...) }); n != 0 {
		t.Fatalf("a hit allocates %v times", n)
	}
}
