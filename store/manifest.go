package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"unicode/utf8"
)

const (
	// MaxManifestBytes caps DecodeManifest's input.
	MaxManifestBytes   = 1 << 20
	maxDescription     = 4096
	maxKeysPerManifest = 256
	maxPackageName     = 214 // npm's limit
	maxVersion         = 128
	maxUpstream        = 2048
)

// DecodeManifest parses one manifest strictly (unknown fields, trailing
// data and inputs over 1 MiB are refused), then validates and normalises it.
func DecodeManifest(data []byte) (Manifest, error) {
	if len(data) > MaxManifestBytes {
		return Manifest{}, invalid("manifest", fmt.Sprintf("is larger than %d bytes", MaxManifestBytes))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return Manifest{}, invalid("manifest", describeJSONError(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Manifest{}, invalid("manifest", "must be a single JSON object")
	}
	if err := ValidateManifest(&m); err != nil {
		return Manifest{}, err
	}
	return m, nil
}

// describeJSONError keeps json's own wording for unknown fields and type
// errors (which name fields, not values) and hides the rest.
func describeJSONError(err error) string {
	var te *json.UnmarshalTypeError
	switch {
	case errors.Is(err, errPlacementForm):
		return err.Error()
	case errors.As(err, &te):
		return fmt.Sprintf("field %q has the wrong type", te.Field)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return strings.TrimPrefix(err.Error(), "json: ")
	case errors.Is(err, io.EOF):
		return "is empty"
	default:
		return "is not valid JSON"
	}
}

// ValidateManifest normalises m in place (lowercase host and sha256,
// lowercase key host patterns) and validates every field.
func ValidateManifest(m *Manifest) error {
	if err := checkPackageName("name", m.Name); err != nil {
		return err
	}
	if m.Version == "" {
		return invalid("version", "is empty")
	}
	if len(m.Version) > maxVersion {
		return invalid("version", fmt.Sprintf("is longer than %d characters", maxVersion))
	}
	for i := 0; i < len(m.Version); i++ {
		if c := m.Version[i]; c <= ' ' || c >= 0x7f {
			return invalid("version", "must be printable ASCII without spaces")
		}
	}
	m.SHA256 = strings.ToLower(m.SHA256)
	if !isHex(m.SHA256, 64) {
		return invalid("sha256", "must be 64 hex characters")
	}
	m.Host = strings.ToLower(m.Host)
	if !validDNSLabel(m.Host) {
		return invalid("host", "must be one DNS label (a-z, 0-9, -)")
	}
	if err := checkUpstream(m.Upstream); err != nil {
		return err
	}
	if len(m.Keys) > maxKeysPerManifest || len(m.AppKeys) > maxKeysPerManifest {
		return invalid("keys", fmt.Sprintf("has more than %d entries", maxKeysPerManifest))
	}
	seen := make(map[string]string, len(m.Keys)+len(m.AppKeys))
	for _, list := range []struct {
		field string
		keys  []KeySpec
	}{{"keys", m.Keys}, {"app_keys", m.AppKeys}} {
		for i := range list.keys {
			k := &list.keys[i]
			field := fmt.Sprintf("%s[%d]", list.field, i)
			if err := checkSecretName(field+".name", k.Name); err != nil {
				return err
			}
			if prev, dup := seen[k.Name]; dup {
				return invalid(field+".name", fmt.Sprintf("repeats %s (key %s)", prev, k.Name))
			}
			seen[k.Name] = field + ".name"
			if len(k.Description) > maxDescription {
				return invalid(field+".description", fmt.Sprintf("is longer than %d bytes", maxDescription))
			}
			if !utf8.ValidString(k.Description) {
				return invalid(field+".description", "is not valid UTF-8")
			}
			if err := applyPreset(field, k); err != nil {
				return err
			}
			hosts, err := normalizeHostPatterns(field+".hosts", k.Hosts)
			if err != nil {
				return err
			}
			if len(hosts) == 0 {
				hosts = nil
			}
			k.Hosts = hosts
			if k.MaxBytes < 0 {
				return invalid(field+".max_bytes", "must not be negative")
			}
			if k.RotationHintDays < 0 || k.RotationHintDays > maxRotationHintDays {
				return invalid(field+".rotation_hint_days", fmt.Sprintf("must be 0 to %d", maxRotationHintDays))
			}
			if err := checkApproveRules(field+".approve", k.Approve); err != nil {
				return err
			}
			if k.Placement != nil {
				if err := checkPlacement(field+".placement", k.Placement, k.OAuth != nil); err != nil {
					return err
				}
			}
			if k.OAuth != nil {
				if err := checkOAuthSpec(field+".oauth", k.OAuth, list.field == "app_keys", m.AppKeys); err != nil {
					return err
				}
			}
		}
	}
	return validateWebhooks(m)
}

// checkPackageName accepts "@scope/name", each part lowercase npm-like
// characters (a-z 0-9 - . _ ~) not starting with . or _.
func checkPackageName(field, name string) error {
	if name == "" {
		return invalid(field, "is empty")
	}
	if len(name) > maxPackageName {
		return invalid(field, fmt.Sprintf("is longer than %d characters", maxPackageName))
	}
	scope, pkg, ok := strings.Cut(strings.TrimPrefix(name, "@"), "/")
	if !strings.HasPrefix(name, "@") || !ok || !npmPart(scope) || !npmPart(pkg) {
		return invalid(field, "must be @scope/name in lowercase (a-z 0-9 - . _ ~)")
	}
	return nil
}

func npmPart(s string) bool {
	if s == "" || s[0] == '.' || s[0] == '_' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(('a' <= c && c <= 'z') || ('0' <= c && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

func checkUpstream(raw string) error {
	if raw == "" {
		return invalid("upstream", "is empty")
	}
	if len(raw) > maxUpstream {
		return invalid("upstream", fmt.Sprintf("is longer than %d characters", maxUpstream))
	}
	u, err := url.Parse(raw)
	if err != nil {
		return invalid("upstream", "is not a URL")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return invalid("upstream", "must be an absolute http:// or https:// URL")
	case u.Opaque != "" || u.Host == "" || u.Hostname() == "":
		return invalid("upstream", "must have a host")
	case u.User != nil:
		return invalid("upstream", "must not carry userinfo")
	case u.RawQuery != "" || u.ForceQuery:
		return invalid("upstream", "must not have a query")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return invalid("upstream", "must not have a fragment")
	}
	if p := u.Port(); p != "" {
		if err := checkPort(p); err != nil {
			return invalid("upstream", "has an invalid port")
		}
	}
	if metadataHost(u.Hostname()) {
		return invalid("upstream", "must not be a link-local, metadata-service, unspecified or multicast address")
	}
	return nil
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(('0' <= c && c <= '9') || ('a' <= c && c <= 'f')) {
			return false
		}
	}
	return true
}
