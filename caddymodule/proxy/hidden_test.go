package proxy

import "testing"

// TestHiddenPlaceholder: a placeholder the upstream would decode out of
// an escape is seen; plain text and other escapes are not refused.
func TestHiddenPlaceholder(t *testing.T) {
	for _, c := range []struct {
		kind bodyKind
		in   string
		want bool
	}{
		{bodyForm, "k=%6Bgph_AAAA", true},
		{bodyForm, "x=%zz&k=%6bgph%5FAAAA", true},
		{bodyForm, "k=%41%42&n=1", false},
		{bodyForm, "k=%6Bgph", false},
		{bodyJSON, `{"k":"\u006bgph_AAAA"}`, true},
		{bodyJSON, `{"\u006bgph_AAAA":1}`, true},
		{bodyJSON, `{"k":"\u00e9t\u00e9"}`, false},
		{bodyJSON, `{"k":"kgph_AAAA"`, false},
		{bodyXML, `<k>&#107;gph_AAAA</k>`, true},
		{bodyXML, `<k v="&#x6b;gph_AAAA"/>`, true},
		{bodyXML, `<k>a &amp; b</k>`, false},
		{bodyText, `%6Bgph_AAAA`, false},
	} {
		if got := hiddenPlaceholder(c.kind, []byte(c.in)); got != c.want {
			t.Errorf("%d %q: %v, want %v", c.kind, c.in, got, c.want)
		}
	}
}
