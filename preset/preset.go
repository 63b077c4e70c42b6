// Package preset is keygate's table of provider presets: for each API it
// knows, the hosts it answers on, where a credential goes in a request
// (header and scheme, basic auth, query parameter or SigV4), the header in
// which its SDKs send their key, and its OAuth endpoints and usual scopes
// where it has OAuth. An egress route, a manifest key and an
// oauth_provider name a preset instead of spelling these out; what they
// spell out themselves wins. The package imports nothing of keygate's.
package preset

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Preset is one provider's way of taking a credential.
type Preset struct {
	Name  string `json:"name"`
	Title string `json:"title"`
	// Hosts are host patterns in keygate's form (policy.MatchHost): a
	// wildcard stands for exactly one label.
	Hosts     []string  `json:"hosts"`
	Placement Placement `json:"placement"`
	// TokenHeader is the header in which the provider's SDKs send their
	// key when it is not Authorization; an egress route then takes the
	// invocation token there too.
	TokenHeader string `json:"token_header,omitempty"`
	OAuth       *OAuth `json:"oauth,omitempty"`
	// Note is what else a caller must know (a version header the SDK
	// sends, a second key the preset cannot carry).
	Note string `json:"note,omitempty"`
	// Docs are the provider's pages the preset follows.
	Docs []string `json:"docs"`
}

// Placement is where the secret goes in a request: exactly one of a header
// (with Template around it), basic auth, a query parameter, or a SigV4
// signature.
type Placement struct {
	Header string `json:"header,omitempty"`
	// Template is the header's value with {secret} standing for the secret.
	Template string `json:"template,omitempty"`
	// BasicAuth sends the secret in HTTP basic credentials: as the password
	// of BasicAuthUser, or as the user name with an empty password when
	// BasicAuthUser is "{secret}". An empty BasicAuthUser is per account
	// (Twilio's Account SID): the route names it, as UserIs describes.
	BasicAuth     bool   `json:"basic_auth,omitempty"`
	BasicAuthUser string `json:"basic_auth_user,omitempty"`
	UserIs        string `json:"user_is,omitempty"`
	Query         string `json:"query,omitempty"`
	// SigV4Service signs requests for this AWS service; the region is the
	// route's or manifest's to say.
	SigV4Service string `json:"sigv4_service,omitempty"`
}

// Placement kinds, as Kind names them.
const (
	KindHeader = "header"
	KindBasic  = "basic"
	KindQuery  = "query"
	KindSigV4  = "sigv4"
)

// Secret stands for the secret's value in a Template.
const Secret = "{secret}"

// Kind names the placement: header, basic, query or sigv4.
func (p Placement) Kind() string {
	switch {
	case p.BasicAuth:
		return KindBasic
	case p.Query != "":
		return KindQuery
	case p.SigV4Service != "":
		return KindSigV4
	}
	return KindHeader
}

// String describes the placement in one line, as `keygate preset list`
// and docs/presets.md show it.
func (p Placement) String() string {
	switch p.Kind() {
	case KindBasic:
		switch p.BasicAuthUser {
		case Secret:
			return "basic auth: secret as user, empty password"
		case "":
			return "basic auth: " + p.UserIs + " as user, secret as password"
		}
		return "basic auth: user " + p.BasicAuthUser + ", secret as password"
	case KindQuery:
		return "query ?" + p.Query + "={secret}"
	case KindSigV4:
		return "sigv4, service " + p.SigV4Service
	}
	return p.Header + ": " + p.Template
}

// OAuth is a provider's OAuth 2.0 endpoints and the scopes keys usually
// ask for.
type OAuth struct {
	AuthorizeURL string `json:"authorize_url,omitempty"`
	TokenURL     string `json:"token_url"`
	RevokeURL    string `json:"revoke_url,omitempty"` // RFC 7009 only
	// AuthStyle is how client credentials reach the token endpoint:
	// "header" (HTTP basic) or "params" (in the form body).
	AuthStyle string `json:"auth_style"`
	// PKCE is whether the provider documents PKCE (S256).
	PKCE                 bool              `json:"pkce"`
	Scopes               []string          `json:"scopes,omitempty"`
	ExtraAuthorizeParams map[string]string `json:"extra_authorize_params,omitempty"`
}

// Get returns the preset of that name, or an error that lists the known
// names.
func Get(name string) (Preset, error) {
	i, ok := slices.BinarySearchFunc(table, name, func(p Preset, n string) int { return strings.Compare(p.Name, n) })
	if !ok {
		// A name that cannot be one is not echoed: it may be a value
		// pasted in the wrong place.
		if !nameShaped(name) {
			return Preset{}, fmt.Errorf("unknown preset (a name of %d characters, not all lowercase letters, digits and dashes): known presets are %s", len(name), strings.Join(Names(), ", "))
		}
		return Preset{}, fmt.Errorf("unknown preset %q: known presets are %s", name, strings.Join(Names(), ", "))
	}
	return table[i].clone(), nil
}

// nameShaped reports whether s could be a preset's name: 1 to 64
// lowercase letters, digits and dashes, starting with a letter.
func nameShaped(s string) bool {
	if s == "" || len(s) > 64 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// Names returns every preset's name, sorted.
func Names() []string {
	out := make([]string, len(table))
	for i, p := range table {
		out[i] = p.Name
	}
	return out
}

// All returns every preset, sorted by name.
func All() []Preset {
	out := make([]Preset, len(table))
	for i, p := range table {
		out[i] = p.clone()
	}
	return out
}

// clone deep-copies p, so that no caller can change the table.
func (p Preset) clone() Preset {
	p.Hosts = slices.Clone(p.Hosts)
	p.Docs = slices.Clone(p.Docs)
	if p.OAuth != nil {
		o := *p.OAuth
		o.Scopes = slices.Clone(o.Scopes)
		o.ExtraAuthorizeParams = maps.Clone(o.ExtraAuthorizeParams)
		p.OAuth = &o
	}
	return p
}
