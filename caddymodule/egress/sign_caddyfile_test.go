package egress

import (
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func parseTransport(t *testing.T, body string) (*Transport, error) {
	t.Helper()
	tr := new(Transport)
	err := tr.UnmarshalCaddyfile(caddyfile.NewTestDispenser("keygate {\n" + body + "\n}"))
	if err == nil {
		err = tr.provisionSigning()
	}
	if tr.Scope == "" {
		tr.Scope = scopeUser // as Provision does
	}
	if err == nil {
		err = tr.Validate()
	}
	return tr, err
}

func TestSigningCaddyfile(t *testing.T) {
	tr, err := parseTransport(t, "secret AWS\nsigv4 {\nservice s3\nregion eu-west-1\n}\ndial_timeout 5s")
	if err != nil {
		t.Fatal(err)
	}
	if tr.SigV4.Service != "s3" || tr.SigV4.Region != "eu-west-1" || tr.sigv4 == nil || tr.Header != "" {
		t.Fatalf("%+v", tr.SigV4)
	}
	tr, err = parseTransport(t, "secret BINANCE\nhmac {\nmessage \"{http.request.uri.query}{body}\"\nquery signature\n}")
	if err != nil {
		t.Fatal(err)
	}
	if tr.HMAC.Message != "{query}{body}" || tr.HMAC.Algorithm != "sha256" || tr.HMAC.Encoding != "hex" {
		t.Fatalf("%+v", tr.HMAC)
	}
	tr, err = parseTransport(t, "secret BITMEX\nhmac {\nmessage \"{http.request.method}{http.request.uri.path}?{http.request.uri.query}{timestamp}{body}\"\nheader api-signature\ntimestamp_header api-expires\ntimestamp_offset 60s\n}")
	if err != nil || tr.HMAC.TimestampOffset != time.Minute || tr.HMAC.Header != "Api-Signature" {
		t.Fatalf("%v %+v", err, tr.HMAC)
	}
}

// Every bad option is refused with a message naming it.
func TestSigningCaddyfileRefusals(t *testing.T) {
	cases := map[string]struct{ body, want string }{
		"sigv4 argument":      {"secret A\nsigv4 s3 {\nservice s3\nregion r\n}", "takes a block"},
		"sigv4 no region":     {"secret A\nsigv4 {\nservice s3\n}", "region"},
		"sigv4 unknown":       {"secret A\nsigv4 {\nservice s3\nregion r\nendpoint x\n}", "unknown option"},
		"sigv4 twice":         {"secret A\nsigv4 {\nservice s3\nregion r\n}\nsigv4 {\nservice s3\nregion r\n}", "twice"},
		"sigv4 option twice":  {"secret A\nsigv4 {\nservice s3\nservice s4\nregion r\n}", "twice"},
		"sigv4 bad service":   {"secret A\nsigv4 {\nservice S3!\nregion r\n}", "lowercase"},
		"sigv4 bad region":    {"secret A\nsigv4 {\nservice s3\nregion \"us east\"\n}", "lowercase"},
		"sigv4 two values":    {"secret A\nsigv4 {\nservice s3 s4\nregion r\n}", "want"},
		"sigv4 and header":    {"secret A\nheader X-Key\nsigv4 {\nservice s3\nregion r\n}", "exactly one"},
		"sigv4 and hmac":      {"secret A\nsigv4 {\nservice s3\nregion r\n}\nhmac {\nmessage x\nheader X\n}", "one of sigv4 and hmac"},
		"hmac no message":     {"secret A\nhmac {\nheader X\n}", "message"},
		"hmac algorithm":      {"secret A\nhmac {\nmessage x\nheader X\nalgorithm md5\n}", "algorithm"},
		"hmac encoding":       {"secret A\nhmac {\nmessage x\nheader X\nencoding base32\n}", "encoding"},
		"hmac no destination": {"secret A\nhmac {\nmessage x\n}", "exactly one of header"},
		"hmac placeholder":    {"secret A\nhmac {\nmessage \"{host}\"\nheader X\n}", "placeholders"},
		"hmac timestamp":      {"secret A\nhmac {\nmessage \"{timestamp}\"\nheader X\n}", "timestamp_header"},
		"hmac bad header":     {"secret A\nhmac {\nmessage x\nheader \"X Y\"\n}", "header"},
		"hmac keygate header": {"secret A\nhmac {\nmessage x\nheader Keygate-Sig\n}", "Keygate"},
		"hmac format":         {"secret A\nhmac {\nmessage x\nheader X\ntimestamp_format rfc1123\n}", "timestamp_format"},
		"hmac offset":         {"secret A\nhmac {\nmessage x\nheader X\ntimestamp_offset soon\n}", "timestamp_offset"},
		"hmac long offset":    {"secret A\nhmac {\nmessage x\nheader X\ntimestamp_offset 2h\n}", "timestamp_offset"},
	}
	for name, c := range cases {
		_, err := parseTransport(t, c.body)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}
