package store

import (
	"fmt"
	"slices"
)

const (
	maxOAuthProviderName = 64
	maxOAuthScopes       = 64
	maxOAuthScope        = 256
)

// ValidateOAuthProviderName checks a provider name: ^[a-z][a-z0-9_-]{0,63}$,
// the same rule for the operator's config and for manifests.
func ValidateOAuthProviderName(name string) error {
	return checkOAuthProviderName("provider", name)
}

func checkOAuthProviderName(field, name string) error {
	if name == "" {
		return invalid(field, "is empty")
	}
	if len(name) > maxOAuthProviderName {
		return invalid(field, fmt.Sprintf("is longer than %d characters", maxOAuthProviderName))
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := ('a' <= c && c <= 'z') || (i > 0 && (('0' <= c && c <= '9') || c == '-' || c == '_'))
		if !ok {
			return invalid(field, "must match ^[a-z][a-z0-9_-]{0,63}$")
		}
	}
	return nil
}

// checkOAuthSpec validates one key's oauth block. The client credentials
// must be plain app keys of the same package, so the package's operator
// (not each owner) sets them once.
func checkOAuthSpec(field string, o *OAuthSpec, appKey bool, appKeys []KeySpec) error {
	if err := checkOAuthProviderName(field+".provider", o.Provider); err != nil {
		return err
	}
	if len(o.Scopes) > maxOAuthScopes {
		return invalid(field+".scopes", fmt.Sprintf("has more than %d entries", maxOAuthScopes))
	}
	for i, sc := range o.Scopes {
		if err := checkOAuthScope(fmt.Sprintf("%s.scopes[%d]", field, i), sc); err != nil {
			return err
		}
	}
	switch {
	case appKey && o.Grant != GrantClientCredentials:
		return invalid(field+".grant", "must be client_credentials for app_keys")
	case !appKey && o.Grant == "":
		o.Grant = GrantAuthorizationCode
	case !appKey && o.Grant != GrantAuthorizationCode:
		return invalid(field+".grant", "must be authorization_code (or empty) for keys")
	}
	for _, c := range []struct{ field, name string }{
		{field + ".client_id", o.ClientID},
		{field + ".client_secret", o.ClientSecret},
	} {
		if err := checkSecretName(c.field, c.name); err != nil {
			return err
		}
		i := slices.IndexFunc(appKeys, func(k KeySpec) bool { return k.Name == c.name })
		switch {
		case i < 0:
			return invalid(c.field, fmt.Sprintf("names %s, which is not one of app_keys", c.name))
		case appKeys[i].OAuth != nil:
			return invalid(c.field, fmt.Sprintf("names %s, which is itself obtained by oauth", c.name))
		}
	}
	if o.ClientID == o.ClientSecret {
		return invalid(field+".client_secret", "must name another app key than client_id")
	}
	return nil
}

// checkOAuthScope follows RFC 6749's scope-token: printable ASCII except
// space, double quote and backslash.
func checkOAuthScope(field, sc string) error {
	if sc == "" {
		return invalid(field, "is empty")
	}
	if len(sc) > maxOAuthScope {
		return invalid(field, fmt.Sprintf("is longer than %d characters", maxOAuthScope))
	}
	for i := 0; i < len(sc); i++ {
		if c := sc[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
			return invalid(field, "must be printable ASCII without spaces, quotes or backslashes")
		}
	}
	return nil
}

// OAuthProviders returns the provider names the manifest's keys use,
// sorted and unique, for the caller to check against its configuration.
func (m *Manifest) OAuthProviders() []string {
	var out []string
	for _, list := range [][]KeySpec{m.Keys, m.AppKeys} {
		for _, k := range list {
			if k.OAuth != nil && !slices.Contains(out, k.OAuth.Provider) {
				out = append(out, k.OAuth.Provider)
			}
		}
	}
	slices.Sort(out)
	return out
}
