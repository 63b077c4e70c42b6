package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keygate/keygate/store"
)

// TestOriginalBody: a held call's body is the caller's, whether the
// substitution read it (and sent other bytes) or not (then it is read
// here and put back whole for sending); past max it is 413.
func TestOriginalBody(t *testing.T) {
	const body = `{"k":"kgph_x"}`
	read := &attempt{out: httptest.NewRequest("POST", "/", nil), tap: &bodyTap{src: io.NopCloser(strings.NewReader(body)), max: 64}}
	if b, _ := io.ReadAll(read.tap); string(b) != body {
		t.Fatal("the tap changed what it passed")
	}
	read.tap.off = true
	read.out.Body = io.NopCloser(strings.NewReader(`{"k":"value"}`)) // the substitution's
	if b, p := read.original(); p != nil || string(b) != body {
		t.Fatalf("original after the substitution read it: %q %v", b, p)
	}

	unread := &attempt{out: httptest.NewRequest("POST", "/", nil), tap: &bodyTap{src: io.NopCloser(strings.NewReader(body)), max: 64, off: true}}
	unread.out.Body = unread.tap
	b, p := unread.original()
	if p != nil || string(b) != body {
		t.Fatalf("original of an unread body: %q %v", b, p)
	}
	if sent, _ := io.ReadAll(unread.out.Body); string(sent) != body || unread.out.ContentLength != int64(len(body)) {
		t.Fatalf("the body to send is %q (length %d)", sent, unread.out.ContentLength)
	}

	big := &attempt{out: httptest.NewRequest("POST", "/", nil), tap: &bodyTap{src: io.NopCloser(strings.NewReader(strings.Repeat("x", 65))), max: 64, off: true}}
	big.out.Body = big.tap
	if _, p := big.original(); p == nil || p.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("a body past max: %v", p)
	}
	none := &attempt{out: httptest.NewRequest("GET", "/", nil)}
	if b, p := none.original(); b != nil || p != nil {
		t.Fatal("no body has an original")
	}
}

// TestShownURI: placeholders in the query are shown as their key's name
// (or as "placeholder" when not resolved), never as themselves.
func TestShownURI(t *testing.T) {
	const ph, other = "kgph_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "kgph_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"
	s := &substitution{seen: map[string]*substituted{ph: {spec: store.KeySpec{Name: "API_KEY"}}}}
	r := httptest.NewRequest("GET", "/v1/x?a="+ph+"&b="+other+"&c=1", nil)
	if got := s.shownURI(r); got != "/v1/x?a={API_KEY}&b={placeholder}&c=1" {
		t.Fatalf("shown as %q", got)
	}
}
