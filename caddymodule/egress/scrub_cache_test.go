package egress

import (
	"strconv"
	"testing"

	"github.com/keygate/keygate/scrub"
)

func TestScrubberCache(t *testing.T) {
	c := new(scrubberCache)
	a := c.get([]byte("sk-one"), "Bearer sk-one")
	if c.get([]byte("sk-one"), "Bearer sk-one") != a {
		t.Fatal("same value and header: not served from the cache")
	}
	// Value and header are told apart, not run together.
	for _, tc := range []struct{ value, sent string }{
		{"sk-two", "Bearer sk-two"},
		{"sk-one", "Basic sk-one"},
		{"sk-on", "eBearer sk-one"},
		{"sk-one\x00Bearer", " sk-one"},
	} {
		sc := c.get([]byte(tc.value), tc.sent)
		if sc == a {
			t.Fatalf("%q, %q got the scrubber of another value", tc.value, tc.sent)
		}
		if out, n := sc.Text("x" + tc.value + "x"); n != 1 || out != "x"+redacted+"x" {
			t.Fatalf("%q, %q: scrubber does not find its value", tc.value, tc.sent)
		}
	}
	// A hash collision is a miss, never another value's scrubber.
	key := uint64(0)
	for k := range c.m {
		key = k
		break
	}
	e := c.m[key]
	c.m[key] = &scrubberEntry{value: "other", sent: "other", sc: scrub.New(scrub.Needle{Find: []byte("other"), Replace: redacted})}
	if _, n := c.get([]byte(e.value), e.sent).Text(e.value); n != 1 {
		t.Fatal("a colliding entry was served")
	}
	// Full, it starts over rather than growing.
	for i := range scrubberCacheMax + 10 {
		c.get([]byte("sk-"+strconv.Itoa(i)), "")
	}
	if len(c.m) > scrubberCacheMax {
		t.Fatalf("cache holds %d scrubbers", len(c.m))
	}
}
