package store

import (
	"slices"
	"time"
)

// Keychain groups one owner's secrets and grants in one environment.
type Keychain struct {
	ID           string    `json:"id"` // "kc_" + 26 lowercase base32 chars
	Owner        string    `json:"owner"`
	Environment  string    `json:"environment"` // default "production"
	Name         string    `json:"name,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	TokenVersion uint64    `json:"token_version"` // starts at 1, +1 per rotation
}

// SecretMeta is everything about a secret except its value.
type SecretMeta struct {
	Name             string    `json:"name"`
	AllowedHosts     []string  `json:"allowed_hosts"`
	RotationHintDays int       `json:"rotation_hint_days,omitempty"`
	CreatedAt        time.Time `json:"created_at"`
	UpdatedAt        time.Time `json:"updated_at"`
	Version          uint64    `json:"version"` // 1 on create, +1 per PutSecret
	// Kind is "" for a value set by hand, SecretKindOAuth for a token
	// keygate obtained; the fields below describe such a token, never
	// holding it.
	Kind        string    `json:"kind,omitempty"`
	ExpiresAt   time.Time `json:"expires_at,omitzero"` // zero: the provider gave no expiry
	Scopes      []string  `json:"scopes,omitempty"`
	ConnectedAt time.Time `json:"connected_at,omitzero"`
}

// SecretKindOAuth marks a secret whose value is a sealed OAuthToken.
const SecretKindOAuth = "oauth"

// RotationDue reports whether UpdatedAt + RotationHintDays is before now
// (false when no hint).
func (m SecretMeta) RotationDue(now time.Time) bool {
	if m.RotationHintDays <= 0 {
		return false
	}
	return m.UpdatedAt.AddDate(0, 0, m.RotationHintDays).Before(now)
}

func (m SecretMeta) clone() SecretMeta {
	m.AllowedHosts = cloneStrings(m.AllowedHosts)
	m.Scopes = cloneStrings(m.Scopes)
	return m
}

// SecretOptions are the caller-settable metadata of a secret.
type SecretOptions struct {
	AllowedHosts     []string // validated: exact host, host:port, *.wildcard, IP literal
	RotationHintDays int      // 0 = none; < 0 refused
	Kind             string   // "" or SecretKindAWS (see secret_kinds.go)
}

// KeySpec is one key a package requests.
type KeySpec struct {
	Name        string   `json:"name"`
	Required    bool     `json:"required"`
	Description string   `json:"description,omitempty"`
	Hosts       []string `json:"hosts,omitempty"`
	// Preset names a provider preset (package preset) that fills hosts,
	// placement and the oauth block's provider and scopes where the entry
	// leaves them out (store/preset.go).
	Preset string `json:"preset,omitempty"`
	// MaxBytes caps the value's length when it is set (0: the global
	// max_value_bytes, which it may not exceed).
	MaxBytes int `json:"max_bytes,omitempty"`
	// RotationHintDays is the default of the owner's rotation reminder
	// for this key; the owner may still change it.
	RotationHintDays int `json:"rotation_hint_days,omitempty"`
	// OAuth, when set, says keygate obtains the value from a provider
	// instead of the owner typing it.
	OAuth *OAuthSpec `json:"oauth,omitempty"`
	// Placement, when set, signs requests with the key (placement.go).
	Placement *Placement `json:"placement,omitempty"`

	// Approve lists the operations with this key that the owner approves
	// each time (store/manifest_approve.go).
	Approve []ApproveRule `json:"approve,omitempty"`
}

// AllowsBody reports whether k's placeholder may stand in a request body.
func (k KeySpec) AllowsBody() bool { return k.Placement.AllowsBody() }

// SignsWithSigV4 reports whether requests with k are SigV4-signed (its
// placeholder is then an access key id, one half of a pair).
func (k *KeySpec) SignsWithSigV4() bool { return k.Placement != nil && k.Placement.SigV4 != nil }

// WebhookSpec is a webhook a package takes: deliveries to
// /_keygate/webhooks/<keychain>/<name> on its site are verified with the
// secret (one of its keys or app keys) and forwarded to Path.
type WebhookSpec struct {
	Name      string `json:"name"`
	Path      string `json:"path"`
	Scheme    string `json:"scheme"` // stripe, github, slack, standard
	Secret    string `json:"secret"`
	Tolerance string `json:"tolerance,omitempty"` // Go duration; default 5m
}

// OAuthSpec is how a key's token is obtained.
type OAuthSpec struct {
	Provider     string   `json:"provider"` // a name from the operator's config
	Scopes       []string `json:"scopes,omitempty"`
	ClientID     string   `json:"client_id"`     // names an entry of app_keys
	ClientSecret string   `json:"client_secret"` // names an entry of app_keys
	// Grant is GrantAuthorizationCode for keys (the default, filled in by
	// validation) and GrantClientCredentials for app_keys.
	Grant string `json:"grant,omitempty"`
}

// OAuth grant types a manifest may name.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantClientCredentials = "client_credentials"
)

func (k KeySpec) clone() KeySpec {
	k.Hosts = cloneStrings(k.Hosts)
	if k.OAuth != nil {
		o := *k.OAuth
		o.Scopes = cloneStrings(o.Scopes)
		k.OAuth = &o
	}
	k.Placement = k.Placement.clone()
	return k
}

// Manifest is a registered package (keygate.package.json).
type Manifest struct {
	Name      string        `json:"name"` // @scope/name
	Version   string        `json:"version"`
	SHA256    string        `json:"sha256"`   // 64 lowercase hex (uppercase accepted, normalised to lower)
	Host      string        `json:"host"`     // one DNS label, lowercased
	Upstream  string        `json:"upstream"` // absolute http(s) URL
	Keys      []KeySpec     `json:"keys,omitempty"`
	AppKeys   []KeySpec     `json:"app_keys,omitempty"`
	Webhooks  []WebhookSpec `json:"webhooks,omitempty"`
	UpdatedAt time.Time     `json:"updated_at,omitempty"` // set by the store
	CodeEpoch uint64        `json:"code_epoch,omitempty"` // set by the store; see codeEpoch (packages.go)
	Approval  string        `json:"approval,omitempty"`   // set by the store; see approval.go
}

// Key returns the user-scope key spec with that name.
func (m *Manifest) Key(name string) (KeySpec, bool) { return findKey(m.Keys, name) }

// AppKey returns the app-scope key spec with that name.
func (m *Manifest) AppKey(name string) (KeySpec, bool) { return findKey(m.AppKeys, name) }

func findKey(keys []KeySpec, name string) (KeySpec, bool) {
	for _, k := range keys {
		if k.Name == name {
			return k.clone(), true
		}
	}
	return KeySpec{}, false
}

// clone deep-copies m so callers cannot alter a cached manifest.
func (m Manifest) clone() Manifest {
	m.Keys = cloneKeySpecs(m.Keys)
	m.AppKeys = cloneKeySpecs(m.AppKeys)
	if m.Webhooks != nil {
		m.Webhooks = append([]WebhookSpec(nil), m.Webhooks...)
	}
	return m
}

func cloneKeySpecs(in []KeySpec) []KeySpec {
	if in == nil {
		return nil
	}
	out := make([]KeySpec, len(in))
	for i, k := range in {
		out[i] = k.clone()
	}
	return out
}

// Grant is one keychain's approval of one package.
type Grant struct {
	Keychain  string    `json:"keychain"`
	Package   string    `json:"package"`
	Keys      []string  `json:"keys"`   // sorted, unique
	SHA256    string    `json:"sha256"` // package sha256 approved
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	Epoch     uint64    `json:"epoch,omitempty"` // set by the store; see nextGrantEpoch (grants.go)
	// Approval is the approval digest of the manifest approved (see
	// approval.go); empty on grants written before it was recorded.
	Approval string `json:"approval,omitempty"`
}

func (g Grant) clone() Grant {
	g.Keys = cloneStrings(g.Keys)
	return g
}

// AuditEvent records one injection, denial or management action.
type AuditEvent struct {
	ID        string    `json:"id"` // set by the store if empty (sortable)
	Time      time.Time `json:"time"`
	Actor     string    `json:"actor"`  // "admin", "agent", "package", "owner:<id>"
	Action    string    `json:"action"` // "ingress", "egress", "secret.put", "grant.put", ...
	Keychain  string    `json:"keychain,omitempty"`
	Package   string    `json:"package,omitempty"`
	Keys      []string  `json:"keys,omitempty"`
	Decision  string    `json:"decision"` // "allow" | "deny" | "ok"
	Status    int       `json:"status,omitempty"`
	Reason    string    `json:"reason,omitempty"` // short machine word, never a value
	RequestID string    `json:"request_id,omitempty"`
	Host      string    `json:"host,omitempty"` // upstream host, egress only
	// Method and Path (without query) of a request through the proxy site.
	Method string `json:"method,omitempty"`
	Path   string `json:"path,omitempty"`
}

// AuditQuery selects audit events, newest first.
type AuditQuery struct {
	Keychain, Package string
	Since             time.Time // zero = no bound
	Limit             int       // 0 = 100; capped at 1000
}

// SigningKey is keygate's own JWT key material; stored sealed like a secret.
type SigningKey struct {
	ID        string // kid
	Secret    []byte // 32 random bytes
	CreatedAt time.Time
	Retired   bool // retired keys no longer verify
}

func cloneStrings(in []string) []string {
	if in == nil {
		return nil
	}
	return slices.Clone(in)
}
