package store

import (
	"context"
	"time"
)

// These assignments pin the exported API caddymodule relies on: a
// changed signature fails to compile here before it breaks caddymodule.
var (
	_ func(SecretMeta, time.Time) bool                = SecretMeta.RotationDue
	_ func(*Manifest, string) (KeySpec, bool)         = (*Manifest).Key
	_ func(*Manifest, string) (KeySpec, bool)         = (*Manifest).AppKey
	_ func(MasterKey, ...MasterKey) (*Keyring, error) = NewKeyring
	_ func(*Keyring) string                           = (*Keyring).CurrentID
	_ func(string) (*Keyring, error)                  = ParseMasterKeys
	_ func(string) (MasterKey, error)                 = GenerateMasterKey
	_ func(MasterKey) string                          = MasterKey.Encode
	_ func(Options) (*Store, error)                   = Open
	_ func(*Store) error                              = (*Store).Close

	_ func(*Store, string, string, string) (Keychain, error)  = (*Store).CreateKeychain
	_ func(*Store, string) (Keychain, error)                  = (*Store).GetKeychain
	_ func(*Store, context.Context, string) (Keychain, error) = (*Store).GetKeychainContext
	_ func(*Store, string) ([]Keychain, error)                = (*Store).ListKeychains
	_ func(*Store, string) error                              = (*Store).DeleteKeychain
	_ func(*Store, string) (Keychain, error)                  = (*Store).RotateKeychainToken

	_ func(*Store, string, string, []byte, SecretOptions) (SecretMeta, error)                = (*Store).PutSecret
	_ func(*Store, string, string) (SecretMeta, error)                                       = (*Store).GetSecretMeta
	_ func(*Store, context.Context, string, string) (SecretMeta, error)                      = (*Store).GetSecretMetaContext
	_ func(*Store, context.Context, string, string) (bool, error)                            = (*Store).HasSecretContext
	_ func(*Store, context.Context, string, string) (bool, error)                            = (*Store).HasAppSecretContext
	_ func(*Store, context.Context, string, string, func(SecretMeta, []byte) error) error    = (*Store).OpenSecretContext
	_ func(*Store, context.Context, string, string, func(SecretMeta, []byte) error) error    = (*Store).OpenAppSecretContext
	_ func(*Store, context.Context, string, string) (*Grant, error)                          = (*Store).GrantRecordContext
	_ func(*Store, context.Context, string) (*Manifest, error)                               = (*Store).PackageRecordContext
	_ func(*Store, context.Context, string) (*Manifest, error)                               = (*Store).PackageRecordByHostContext
	_ func(*Store, context.Context, string, string, string, string, time.Time) (bool, error) = (*Store).ClaimWebhookDeliveryContext
	_ func(*Store, string) ([]SecretMeta, error)                                             = (*Store).ListSecrets
	_ func(*Store, string, string) error                                                     = (*Store).DeleteSecret
	_ func(*Store, string, string) (bool, error)                                             = (*Store).HasSecret
	_ func(*Store, string, string, func(meta SecretMeta, value []byte) error) error          = (*Store).OpenSecret

	_ func(*Store, string, string, []byte) (SecretMeta, error)                      = (*Store).PutAppSecret
	_ func(*Store, string) ([]SecretMeta, error)                                    = (*Store).ListAppSecrets
	_ func(*Store, string, string) error                                            = (*Store).DeleteAppSecret
	_ func(*Store, string, string) (bool, error)                                    = (*Store).HasAppSecret
	_ func(*Store, string, string, func(meta SecretMeta, value []byte) error) error = (*Store).OpenAppSecret

	_ func([]byte) (Manifest, error)                        = DecodeManifest
	_ func(*Manifest) error                                 = ValidateManifest
	_ func(*Store, Manifest) (bool, error)                  = (*Store).PutPackage
	_ func(*Store, string) (Manifest, error)                = (*Store).GetPackage
	_ func(*Store, string) (Manifest, error)                = (*Store).GetPackageByHost
	_ func(*Store) ([]Manifest, error)                      = (*Store).ListPackages
	_ func(*Store, string) error                            = (*Store).DeletePackage
	_ func(*Store, string, string, []string) (Grant, error) = (*Store).PutGrant
	_ func(*Store, string, string) (Grant, error)           = (*Store).GetGrant
	_ func(*Store, string) ([]Grant, error)                 = (*Store).ListGrants
	_ func(*Store, string, string) error                    = (*Store).DeleteGrant

	_ func(*Store, []AuditEvent) error               = (*Store).AppendAudit
	_ func(*Store, AuditQuery) ([]AuditEvent, error) = (*Store).QueryAudit
	_ func(*Store, time.Time) (int, error)           = (*Store).PruneAudit
	_ func(*Store, SigningKey) error                 = (*Store).PutSigningKey
	_ func(*Store) ([]SigningKey, error)             = (*Store).ListSigningKeys
	_ func(*Store, context.Context) (int, error)     = (*Store).Rewrap
	_ func(*Store, context.Context, time.Duration)   = (*Store).RunGC
	_ func(string) error                             = ValidateSecretName
	_ func([]byte, int) error                        = ValidateSecretValue
	_ func(string) error                             = ValidateHostPattern

	_ error  = (*ValidationError)(nil)
	_ Logger = (*recordingLogger)(nil)
	_        = ValidationError{Field: "", Problem: ""}
	_        = MasterKey{ID: "", Key: nil}
	_        = Options{Dir: "", InMemory: false, Keyring: nil, MaxValueBytes: 0, Logger: nil, Now: nil}
	_        = AuditQuery{Keychain: "", Package: "", Since: time.Time{}, Limit: 0}
	_        = SigningKey{ID: "", Secret: nil, CreatedAt: time.Time{}, Retired: false}
	_        = SecretOptions{AllowedHosts: nil, RotationHintDays: 0}
	_        = []error{ErrNotFound, ErrInvalid, ErrConflict, ErrMasterKey, ErrClosed, ErrUnavailable}

	// Round 2: shared storage.
	_                                                                        = Options{Postgres: "", Timeout: 0}
	_ func(*Store, string, func() error) (bool, error)                       = (*Store).RunExclusive
	_ func(*Store, string, string, time.Duration) (string, time.Time, error) = (*Store).CreateOwnerLink
	_ func(*Store, string) (OwnerLink, error)                                = (*Store).TakeOwnerLink
	_ func(*Store, string, time.Duration) (string, OwnerSession, error)      = (*Store).CreateOwnerSession
	_ func(*Store, string) (OwnerSession, error)                             = (*Store).GetOwnerSession
	_ func(*Store, string) error                                             = (*Store).DeleteOwnerSession
	_ func(*Store) (int, error)                                              = (*Store).PruneOwnerState
	_ func(*Store, *Store, bool, func(int)) (CopyCounts, error)              = CopyWithProgress
	_ func(*Store, *Store) error                                             = VerifyCopy
	_ func(string, *Keyring) (*Store, error)                                 = OpenSpec
	_                                                                        = OwnerLink{Owner: "", Keychain: "", Expires: time.Time{}}
	_                                                                        = OwnerSession{Owner: "", CSRF: "", Expires: time.Time{}}
	_                                                                        = CopyCounts{Records: 0, Bytes: 0, ByKind: nil}
)
