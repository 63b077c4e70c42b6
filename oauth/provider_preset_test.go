package oauth

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/keygate/keygate/preset"
)

// TestProviderPresets: every preset with OAuth makes a valid provider
// from JSON config alone, and applying it twice changes nothing.
func TestProviderPresets(t *testing.T) {
	n := 0
	for _, p := range preset.All() {
		if p.OAuth == nil {
			continue
		}
		n++
		var ps Providers
		if err := json.Unmarshal([]byte(`{"`+p.Name+`": {"preset": "`+p.Name+`"}}`), &ps); err != nil {
			t.Fatal(err)
		}
		if err := ps.Validate(); err != nil {
			t.Errorf("%s: %v", p.Name, err)
			continue
		}
		got := ps[0]
		if got.TokenURL != p.OAuth.TokenURL || got.AuthorizeURL != p.OAuth.AuthorizeURL || got.RevokeURL != p.OAuth.RevokeURL ||
			got.AuthStyle != p.OAuth.AuthStyle || got.pkce() != p.OAuth.PKCE || len(got.ExtraAuthorizeParams) != len(p.OAuth.ExtraAuthorizeParams) {
			t.Errorf("%s: %+v", p.Name, got)
		}
		before, _ := json.Marshal(got)
		if err := ps.Validate(); err != nil {
			t.Fatal(err)
		}
		if after, _ := json.Marshal(ps[0]); string(after) != string(before) {
			t.Errorf("%s: applying twice changed %s to %s", p.Name, before, after)
		}
	}
	if n < 10 {
		t.Fatalf("only %d presets with OAuth", n)
	}
	bad := Providers{{Name: "x", Preset: "nope"}}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "known presets are") {
		t.Fatalf("%v", err)
	}
}
