package egress

import (
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestTokenHeaderAndScrubOptions(t *testing.T) {
	for _, tc := range []struct {
		in, wantErr string
		header      string
		scrub       *bool
	}{
		{in: "secret K\ntoken_header X-Api-Key", header: "X-Api-Key"},
		{in: "secret K\ntoken_header api-key\nscrub off", header: "api-key", scrub: new(bool)},
		{in: "secret K\nscrub maybe", wantErr: "scrub on"},
		{in: "secret K\ntoken_header", wantErr: "token_header <Header>"},
		{in: "secret K\ntoken_header a b", wantErr: "token_header <Header>"},
		{in: "secret K\ntoken_header Authorization", wantErr: "always accepted"},
		{in: "secret K\ntoken_header Keygate-Token", wantErr: "Keygate-*"},
		{in: "secret K\ntoken_header \"X Key\"", wantErr: "not a valid header name"},
		{in: "secret K\ntoken_header \"X:Key\"", wantErr: "not a valid header name"},
	} {
		var tr Transport
		err := tr.UnmarshalCaddyfile(caddyfile.NewTestDispenser("keygate {\n" + tc.in + "\n}"))
		if err == nil {
			tr.Header, tr.Template, tr.Scope = "Authorization", "Bearer {secret}", scopeUser
			err = tr.Validate()
		}
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q: got %v, want an error with %q", tc.in, err, tc.wantErr)
			}
		case err != nil:
			t.Errorf("%q: %v", tc.in, err)
		case tr.TokenHeader != tc.header || (tc.scrub == nil) != (tr.Scrub == nil) || (tc.scrub != nil && *tc.scrub != *tr.Scrub):
			t.Errorf("%q: token_header %q scrub %v", tc.in, tr.TokenHeader, tr.Scrub)
		}
	}
}
