package egress

import (
	"strings"
	"testing"

	"github.com/keygate/keygate/preset"
)

// TestPresetRoutes: every preset fills a route's placement and token
// header as the table says (aws-s3 with the route's region, twilio with
// the route's user).
func TestPresetRoutes(t *testing.T) {
	for _, p := range preset.All() {
		body := "secret KEY\npreset " + p.Name
		switch p.Name {
		case "aws-s3":
			body += "\nsigv4 {\nregion eu-west-1\n}"
		case "twilio":
			body += "\nbasic_auth AC0123"
		}
		tr, err := parseTransport(t, body)
		if err != nil {
			t.Errorf("%s: %v", p.Name, err)
			continue
		}
		pl := p.Placement
		switch pl.Kind() {
		case preset.KindSigV4:
			if tr.SigV4.Service != pl.SigV4Service || tr.SigV4.Region != "eu-west-1" || tr.Header != "" {
				t.Errorf("%s: %+v %q", p.Name, tr.SigV4, tr.Header)
			}
		case preset.KindBasic:
			user := pl.BasicAuthUser
			if user == "" {
				user = "AC0123"
			}
			if tr.BasicAuthUser != user || tr.Header != "" {
				t.Errorf("%s: basic_auth %q header %q", p.Name, tr.BasicAuthUser, tr.Header)
			}
		case preset.KindQuery:
			if tr.Query != pl.Query || tr.Header != "" {
				t.Errorf("%s: query %q header %q", p.Name, tr.Query, tr.Header)
			}
		default:
			if tr.Header != pl.Header || tr.Template != pl.Template {
				t.Errorf("%s: header %q template %q", p.Name, tr.Header, tr.Template)
			}
		}
		if tr.TokenHeader != p.TokenHeader {
			t.Errorf("%s: token_header %q, want %q", p.Name, tr.TokenHeader, p.TokenHeader)
		}
		// Provisioning a JSON config applies the preset again: no change.
		before := *tr
		if err := tr.applyPreset(); err != nil || tr.Header != before.Header || tr.Template != before.Template ||
			tr.BasicAuthUser != before.BasicAuthUser || tr.Query != before.Query || tr.TokenHeader != before.TokenHeader {
			t.Errorf("%s: a second applyPreset changed the route: %v", p.Name, err)
		}
	}
}

// TestPresetRouteExplicitWins: what the route says itself is kept, in
// any order of the options.
func TestPresetRouteExplicitWins(t *testing.T) {
	tr, err := parseTransport(t, "header X-Other \"Token {secret}\"\npreset openai\nsecret KEY")
	if err != nil || tr.Header != "X-Other" || tr.Template != "Token {secret}" {
		t.Fatalf("%v %+v", err, tr)
	}
	tr, err = parseTransport(t, "secret KEY\npreset anthropic\ntoken_header X-Sdk-Key")
	if err != nil || tr.TokenHeader != "X-Sdk-Key" || tr.Header != "X-Api-Key" {
		t.Fatalf("%v %q %q", err, tr.TokenHeader, tr.Header)
	}
	tr, err = parseTransport(t, "secret KEY\npreset stripe\nheader Authorization \"Bearer {secret}\"")
	if err != nil || tr.BasicAuthUser != "" || tr.Template != "Bearer {secret}" {
		t.Fatalf("%v %+v", err, tr)
	}
	tr, err = parseTransport(t, "secret KEY\npreset aws-s3\nsigv4 {\nservice s3-outposts\nregion us-east-1\n}")
	if err != nil || tr.SigV4.Service != "s3-outposts" {
		t.Fatalf("%v %+v", err, tr.SigV4)
	}
}

// TestPresetRouteRefusals: bad preset lines are Caddyfile errors naming
// the line and saying what to write.
func TestPresetRouteRefusals(t *testing.T) {
	cases := map[string]struct{ body, want string }{
		"unknown":            {"secret A\npreset openapi", `unknown preset "openapi": known presets are airtable, anthropic,`},
		"no name":            {"secret A\npreset", "want 'preset <provider>'"},
		"two names":          {"secret A\npreset openai anthropic", "want 'preset <provider>'"},
		"uppercase":          {"secret A\npreset OpenAI", "unknown preset"},
		"long":               {"secret A\npreset " + strings.Repeat("a", 5000), "a name of 5000 characters"},
		"control":            {"secret A\npreset \"open\\x00ai\"", "unknown preset"},
		"s3 no region":       {"secret A\npreset aws-s3", "add 'sigv4 { region <region> }'"},
		"s3 block no region": {"secret A\npreset aws-s3\nsigv4 {\nservice s3\n}", "add 'sigv4 { region <region> }'"},
		"twilio no user":     {"secret A\npreset twilio", "add 'basic_auth <user>', the user being the Account SID"},
		"sigv4 no service":   {"secret A\nsigv4 {\nregion r\n}", "sigv4 needs 'service <name>'"},
	}
	for name, c := range cases {
		_, err := parseTransport(t, c.body)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
			continue
		}
		if !strings.Contains(err.Error(), "Testfile:") {
			t.Errorf("%s: the error does not name the line: %v", name, err)
		}
		if len(err.Error()) > 1500 {
			t.Errorf("%s: error of %d bytes", name, len(err.Error()))
		}
	}
	// A JSON config naming an unknown preset is refused at provisioning.
	tr := &Transport{Secret: "A", Preset: "nope"}
	if err := tr.applyPreset(); err == nil || !strings.Contains(err.Error(), "known presets are") {
		t.Fatalf("%v", err)
	}
}
