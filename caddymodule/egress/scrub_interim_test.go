package egress

import (
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"testing"

	"github.com/keygate/keygate/scrub"
)

// TestScrubInterim: the outbound request carries one client trace, ours,
// and the caller's Got1xxResponse hook gets the interim headers scrubbed,
// once.
func TestScrubInterim(t *testing.T) {
	const value = "sk_live_interim"
	var got []textproto.MIMEHeader
	caller := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		got = append(got, h)
		return nil
	}}
	req := httptest.NewRequest("GET", "http://api.example.com/", nil)
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), caller))
	sc := (&Transport{scrubbers: new(scrub.Cache)}).scrubberFor([]byte(value), "Bearer "+value)
	out := scrub.Interim(req, sc)
	upstream := textproto.MIMEHeader{"Link": {"</x?k=" + value + ">; rel=preload"}, "X-Echo": {"Bearer " + value}}
	if err := httptrace.ContextClientTrace(out.Context()).Got1xxResponse(http.StatusEarlyHints, upstream); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("the caller's hook ran %d times", len(got))
	}
	if got[0].Get("Link") != "</x?k="+redacted+">; rel=preload" || got[0].Get("X-Echo") != redacted {
		t.Fatalf("interim headers reached the caller as %v", got[0])
	}
	// Without a hook to forward to, the request is left as it is.
	plain := httptest.NewRequest("GET", "http://api.example.com/", nil)
	if scrub.Interim(plain, sc) != plain {
		t.Fatal("a request without a trace was copied")
	}
}
