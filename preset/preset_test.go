package preset

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// want pins each preset's fields as the provider documents them: hosts,
// placement (as Placement.String shows it), token header, and the OAuth
// endpoints, auth style, PKCE and scopes ("-" for none).
var want = map[string]struct {
	hosts, placement, tokenHeader string
	oauth                         string // authorize token revoke style pkce scopes
}{
	"airtable":     {"api.airtable.com", "Authorization: Bearer {secret}", "", "https://airtable.com/oauth2/v1/authorize https://airtable.com/oauth2/v1/token - header true data.records:read,schema.bases:read"},
	"anthropic":    {"api.anthropic.com", "X-Api-Key: {secret}", "X-Api-Key", ""},
	"atlassian":    {"api.atlassian.com", "Authorization: Bearer {secret}", "", "https://auth.atlassian.com/authorize https://auth.atlassian.com/oauth/token - params false read:jira-work,offline_access"},
	"aws-s3":       {"s3.amazonaws.com *.s3.amazonaws.com", "sigv4, service s3", "", ""},
	"azure-openai": {"*.openai.azure.com", "Api-Key: {secret}", "Api-Key", ""},
	"cloudflare":   {"api.cloudflare.com", "Authorization: Bearer {secret}", "", ""},
	"cohere":       {"api.cohere.com api.cohere.ai", "Authorization: Bearer {secret}", "", ""},
	"datadog":      {"api.datadoghq.com api.us3.datadoghq.com api.us5.datadoghq.com api.ap1.datadoghq.com api.datadoghq.eu api.ddog-gov.com", "Dd-Api-Key: {secret}", "Dd-Api-Key", ""},
	"deepseek":     {"api.deepseek.com", "Authorization: Bearer {secret}", "", ""},
	"discord":      {"discord.com", "Authorization: Bot {secret}", "", "https://discord.com/oauth2/authorize https://discord.com/api/oauth2/token https://discord.com/api/oauth2/token/revoke header false identify"},
	"dropbox":      {"*.dropboxapi.com", "Authorization: Bearer {secret}", "", "https://www.dropbox.com/oauth2/authorize https://api.dropboxapi.com/oauth2/token - header true files.metadata.read"},
	"elevenlabs":   {"api.elevenlabs.io", "Xi-Api-Key: {secret}", "Xi-Api-Key", ""},
	"gemini":       {"generativelanguage.googleapis.com", "X-Goog-Api-Key: {secret}", "X-Goog-Api-Key", ""},
	"github":       {"api.github.com uploads.github.com", "Authorization: Bearer {secret}", "", "https://github.com/login/oauth/authorize https://github.com/login/oauth/access_token - params true repo"},
	"gitlab":       {"gitlab.com", "Authorization: Bearer {secret}", "", "https://gitlab.com/oauth/authorize https://gitlab.com/oauth/token https://gitlab.com/oauth/revoke params true read_api"},
	"google":       {"*.googleapis.com", "Authorization: Bearer {secret}", "", "https://accounts.google.com/o/oauth2/v2/auth https://oauth2.googleapis.com/token https://oauth2.googleapis.com/revoke params true openid,email"},
	"google-maps":  {"maps.googleapis.com", "query ?key={secret}", "", ""},
	"groq":         {"api.groq.com", "Authorization: Bearer {secret}", "", ""},
	"hubspot":      {"api.hubapi.com", "Authorization: Bearer {secret}", "", "https://app.hubspot.com/oauth/authorize https://api.hubapi.com/oauth/v1/token - params false oauth,crm.objects.contacts.read"},
	"huggingface":  {"huggingface.co router.huggingface.co api-inference.huggingface.co", "Authorization: Bearer {secret}", "", ""},
	"linear":       {"api.linear.app", "Authorization: {secret}", "", "https://linear.app/oauth/authorize https://api.linear.app/oauth/token - params false read"},
	"mailgun":      {"api.mailgun.net api.eu.mailgun.net", "basic auth: user api, secret as password", "", ""},
	"microsoft":    {"graph.microsoft.com", "Authorization: Bearer {secret}", "", "https://login.microsoftonline.com/common/oauth2/v2.0/authorize https://login.microsoftonline.com/common/oauth2/v2.0/token - params true offline_access,User.Read"},
	"mistral":      {"api.mistral.ai", "Authorization: Bearer {secret}", "", ""},
	"notion":       {"api.notion.com", "Authorization: Bearer {secret}", "", "https://api.notion.com/v1/oauth/authorize https://api.notion.com/v1/oauth/token - header false -"},
	"openai":       {"api.openai.com", "Authorization: Bearer {secret}", "", ""},
	"openrouter":   {"openrouter.ai", "Authorization: Bearer {secret}", "", ""},
	"pagerduty":    {"api.pagerduty.com api.eu.pagerduty.com", "Authorization: Token token={secret}", "", ""},
	"postmark":     {"api.postmarkapp.com", "X-Postmark-Server-Token: {secret}", "X-Postmark-Server-Token", ""},
	"resend":       {"api.resend.com", "Authorization: Bearer {secret}", "", ""},
	"sendgrid":     {"api.sendgrid.com", "Authorization: Bearer {secret}", "", ""},
	"shopify":      {"*.myshopify.com", "X-Shopify-Access-Token: {secret}", "X-Shopify-Access-Token", ""},
	"slack":        {"slack.com files.slack.com", "Authorization: Bearer {secret}", "", "https://slack.com/oauth/v2/authorize https://slack.com/api/oauth.v2.access - header false chat:write"},
	"stripe":       {"api.stripe.com files.stripe.com", "basic auth: secret as user, empty password", "", ""},
	"twilio":       {"*.twilio.com", "basic auth: the Account SID (AC...) or API key SID (SK...) as user, secret as password", "", ""},
	"xai":          {"api.x.ai", "Authorization: Bearer {secret}", "", ""},
	"zoom":         {"api.zoom.us", "Authorization: Bearer {secret}", "", "https://zoom.us/oauth/authorize https://zoom.us/oauth/token - header true -"},
}

func oauthLine(o *OAuth) string {
	if o == nil {
		return ""
	}
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	pkce := "false"
	if o.PKCE {
		pkce = "true"
	}
	return strings.Join([]string{dash(o.AuthorizeURL), o.TokenURL, dash(o.RevokeURL), o.AuthStyle, pkce, dash(strings.Join(o.Scopes, ","))}, " ")
}

func TestEveryPresetsFields(t *testing.T) {
	if len(table) < 20 {
		t.Fatalf("%d presets, want at least 20", len(table))
	}
	if len(want) != len(table) {
		t.Errorf("the test pins %d presets, the table has %d", len(want), len(table))
	}
	for _, p := range All() {
		w, ok := want[p.Name]
		if !ok {
			t.Errorf("preset %s is not pinned by this test", p.Name)
			continue
		}
		if got := strings.Join(p.Hosts, " "); got != w.hosts {
			t.Errorf("%s: hosts %q, want %q", p.Name, got, w.hosts)
		}
		if got := p.Placement.String(); got != w.placement {
			t.Errorf("%s: placement %q, want %q", p.Name, got, w.placement)
		}
		if p.TokenHeader != w.tokenHeader {
			t.Errorf("%s: token header %q, want %q", p.Name, p.TokenHeader, w.tokenHeader)
		}
		if got := oauthLine(p.OAuth); got != w.oauth {
			t.Errorf("%s: oauth %q, want %q", p.Name, got, w.oauth)
		}
	}
}

var (
	nameRE  = regexp.MustCompile(`^[a-z][a-z0-9-]{0,63}$`)
	hostRE  = regexp.MustCompile(`^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$`)
	scopeRE = regexp.MustCompile(`^[!#-\[\]-~]+$`) // RFC 6749 scope-token
)

// TestPresetsWellFormed checks what every consumer of the table relies on:
// sorted unique names that are valid oauth_provider names, host patterns,
// one placement each with {secret} once in a header template, https docs
// and endpoints.
func TestPresetsWellFormed(t *testing.T) {
	names := Names()
	if !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
		t.Fatalf("names not sorted and unique: %v", names)
	}
	for _, p := range table {
		if !nameRE.MatchString(p.Name) || p.Title == "" {
			t.Errorf("%s: bad name or no title", p.Name)
		}
		if len(p.Hosts) == 0 {
			t.Errorf("%s: no hosts", p.Name)
		}
		for _, h := range p.Hosts {
			if !hostRE.MatchString(h) {
				t.Errorf("%s: host %q is not a lowercase host pattern", p.Name, h)
			}
		}
		pl := p.Placement
		modes := 0
		for _, set := range []bool{pl.Header != "", pl.BasicAuth, pl.Query != "", pl.SigV4Service != ""} {
			if set {
				modes++
			}
		}
		if modes != 1 {
			t.Errorf("%s: %d placements, want 1", p.Name, modes)
		}
		if pl.Header != "" && (pl.Header != http.CanonicalHeaderKey(pl.Header) || strings.Count(pl.Template, Secret) != 1) {
			t.Errorf("%s: header %q not canonical or template %q without one %s", p.Name, pl.Header, pl.Template, Secret)
		}
		if pl.Header == "" && pl.Template != "" {
			t.Errorf("%s: template without header", p.Name)
		}
		if pl.BasicAuth && (pl.BasicAuthUser == "") == (pl.UserIs == "") {
			t.Errorf("%s: basic auth wants either a fixed user or UserIs", p.Name)
		}
		if th := p.TokenHeader; th != "" && (th != http.CanonicalHeaderKey(th) || strings.EqualFold(th, "Authorization")) {
			t.Errorf("%s: token header %q", p.Name, th)
		}
		if th := p.TokenHeader; th != "" && th != pl.Header {
			t.Errorf("%s: token header %q is not the header the key goes in", p.Name, th)
		}
		if len(p.Docs) == 0 {
			t.Errorf("%s: no docs", p.Name)
		}
		for _, d := range p.Docs {
			checkHTTPS(t, p.Name+" docs", d, true)
		}
		if o := p.OAuth; o != nil {
			checkHTTPS(t, p.Name+" authorize_url", o.AuthorizeURL, true)
			checkHTTPS(t, p.Name+" token_url", o.TokenURL, true)
			checkHTTPS(t, p.Name+" revoke_url", o.RevokeURL, false)
			if o.AuthStyle != "header" && o.AuthStyle != "params" {
				t.Errorf("%s: auth_style %q", p.Name, o.AuthStyle)
			}
			for _, sc := range o.Scopes {
				if !scopeRE.MatchString(sc) {
					t.Errorf("%s: scope %q", p.Name, sc)
				}
			}
		}
	}
}

func checkHTTPS(t *testing.T, what, raw string, required bool) {
	t.Helper()
	if raw == "" && !required {
		return
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
		t.Errorf("%s: %q is not an https URL", what, raw)
	}
}

func TestGet(t *testing.T) {
	p, err := Get("openai")
	if err != nil || p.Name != "openai" {
		t.Fatalf("%v %v", p, err)
	}
	// What Get returns is a copy: changing it leaves the table alone.
	p.Hosts[0] = "evil.example"
	g, _ := Get("google")
	g.OAuth.Scopes[0] = "x"
	g.OAuth.ExtraAuthorizeParams["prompt"] = "none"
	if q, _ := Get("openai"); q.Hosts[0] != "api.openai.com" {
		t.Fatal("Get handed out the table's hosts")
	}
	if q, _ := Get("google"); q.OAuth.Scopes[0] != "openid" || q.OAuth.ExtraAuthorizeParams["prompt"] != "consent" {
		t.Fatal("Get handed out the table's oauth block")
	}
}

// TestUnknownPreset: an unknown name is refused with the known ones
// listed; a hostile one is not echoed at length or raw.
func TestUnknownPreset(t *testing.T) {
	for _, name := range []string{"", "OpenAI", "openai ", "nope", "open\x00ai", "a\r\nX-Injected: 1", strings.Repeat("x", 10000)} {
		_, err := Get(name)
		if err == nil {
			t.Fatalf("Get(%q) succeeded", name)
		}
		msg := err.Error()
		if !strings.Contains(msg, "known presets are airtable, anthropic,") || !strings.Contains(msg, "zoom") {
			t.Errorf("error does not list the presets: %s", msg)
		}
		if strings.ContainsAny(msg, "\r\n\x00") || len(msg) > 1000 {
			t.Errorf("error echoes the name raw or at length: %q", msg)
		}
	}
	// A name that is not name-shaped is not echoed (it may be a pasted
	// value); a mistyped one is, to be spotted.
	for _, v := range []string{"sk_live_4eC39HqLyjWDarjtT1zdp7dc", "OpenAI", "Bearer x", "a\r\nb", strings.Repeat("a", 65)} {
		if _, err := Get(v); strings.Contains(err.Error(), v) {
			t.Errorf("the error echoes %q", v)
		}
	}
	if _, err := Get("opneai"); !strings.Contains(err.Error(), `"opneai"`) {
		t.Errorf("a mistyped name is not named: %v", err)
	}
}
