package egress

import (
	"strings"
	"testing"

	"github.com/keygate/keygate/scrub"
)

// TestScrubberFor: a route builds one scrubber per value and header,
// tells the two apart rather than running them together, and serves a
// value seen before without allocating (the hot path's count depends on
// it). The cache itself is tested in package scrub.
func TestScrubberFor(t *testing.T) {
	tr := &Transport{scrubbers: new(scrub.Cache)}
	sent := "Bearer sk-one" + strings.Repeat("x", 40) // longer than the compiler's stack buffer for []byte(s)
	value := []byte(sent[len("Bearer "):])
	a := tr.scrubberFor(value, sent)
	if tr.scrubberFor([]byte(string(value)), strings.Clone(sent)) != a {
		t.Fatal("same value and header: not served from the cache")
	}
	if n := testing.AllocsPerRun(100, func() { tr.scrubberFor(value, sent) }); n != 0 {
		t.Fatalf("a hit allocates %v times", n)
	}
	for _, tc := range []struct{ value, sent string }{
		{"sk-two", "Bearer sk-two"},
		{"sk-one", "Basic sk-one"},
		{"sk-on", "eBearer sk-one"},
		{"sk-one\x00Bearer", " sk-one"},
		{"sk-one", ""},
	} {
		sc := tr.scrubberFor([]byte(tc.value), tc.sent)
		if sc == a {
			t.Fatalf("%q, %q got the scrubber of another value", tc.value, tc.sent)
		}
		if out, n := sc.Text("x" + tc.value + "x"); n != 1 || out != "x"+redacted+"x" {
			t.Fatalf("%q, %q: scrubber does not find its value", tc.value, tc.sent)
		}
		if tc.sent != "" {
			if out, n := sc.Text("x" + tc.sent + "x"); n != 1 || out != "x"+redacted+"x" {
				t.Fatalf("%q, %q: scrubber does not find its header", tc.value, tc.sent)
			}
		}
	}
}
