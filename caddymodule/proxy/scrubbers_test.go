package proxy

import (
	"testing"

	"github.com/keygate/keygate/scrub"
)

func TestScrubberCacheKeysOnEveryNeedle(t *testing.T) {
	var c scrubberCache
	find := []byte("sk_live_value")
	a := c.get([]scrub.Needle{{Find: find, Replace: "kgph_a"}})
	find[0] = 'X' // the cache kept a copy: the caller's buffer is its own
	if b := c.get([]scrub.Needle{{Find: []byte("sk_live_value"), Replace: "kgph_a"}}); b != a {
		t.Fatal("the same needles built a second scrubber")
	}
	if b := c.get([]scrub.Needle{{Find: []byte("sk_live_value"), Replace: "kgph_b"}}); b == a {
		t.Fatal("another placeholder got the first one's scrubber")
	}
	if b := c.get([]scrub.Needle{{Find: []byte("sk_live_value"), Replace: "kgph_a"}, {Find: []byte("other"), Replace: "kgph_a"}}); b == a {
		t.Fatal("a needle set with one more value got the smaller set's scrubber")
	}
	if n, _ := a.Text("echo sk_live_value"); n != "echo kgph_a" {
		t.Fatalf("the cached scrubber scrubbed %q", n)
	}
}
