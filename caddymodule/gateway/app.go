package gateway

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/keygate/keygate/caddymodule/internal/clock"
	"github.com/keygate/keygate/oauth"
	"github.com/keygate/keygate/policy"
	"github.com/keygate/keygate/store"
)

func init() {
	caddy.RegisterModule(new(App))
}

// App is the keygate app: it owns the encrypted store, keygate's own
// signing keys and the audit queue, and is shared by every keygate handler
// and transport of a config. The store survives config reloads (see
// storepool.go), so a reload under traffic keeps it open.
//
// With neither master_key nor admin_token configured, keygate creates both
// as files of mode 0600 in its data directory on first run and logs their
// paths, never their values. With storage_memory, nothing is written:
// unset keys are generated in memory, once per process.
type App struct {
	// Directory of the Badger store. Default: <caddy data dir>/keygate.
	Storage string `json:"storage,omitempty"`

	// Keep the store in memory instead (Caddyfile: storage memory), for
	// dev mode and tests: everything is lost when the process exits. One
	// in-memory store per process, kept across reloads.
	StorageMemory bool `json:"storage_memory,omitempty"`

	// Keep the store in a PostgreSQL database shared by several nodes
	// instead (Caddyfile: storage postgres <dsn>): a libpq URL or
	// key=value DSN. Placeholders are expanded like master_key's; the
	// password never reaches a log line. master_key and admin_token must
	// then be configured, since every node must hold the same ones.
	StoragePostgres string `json:"storage_postgres,omitempty"`

	// Master keys, "BASE64" or "id1:BASE64,id2:BASE64" (the first seals).
	// Placeholders such as {env.KEYGATE_MASTER_KEY} or {file./path} are
	// expanded at provisioning.
	MasterKey string `json:"master_key,omitempty"`

	// Admin token for keygate_api. Placeholders are expanded.
	AdminToken string `json:"admin_token,omitempty"`

	// Lifetime of invocation tokens. Default: 5m.
	InvocationTTL caddy.Duration `json:"invocation_ttl,omitempty"`

	// Largest secret value in bytes. Default: 8192.
	MaxValueBytes int `json:"max_value_bytes,omitempty"`

	// How long audit events are kept. Default: 2160h (90 days).
	AuditRetention caddy.Duration `json:"audit_retention,omitempty"`

	// Per-keychain rate limit shared by every keygate_package site.
	// Unset means no per-keychain limit.
	KeychainRate *RateLimit `json:"keychain_rate,omitempty"`

	// Public URL of the keygate_api site, used in links to the owners'
	// page in problem responses, e.g. "https://keys.example.com".
	PublicURL string `json:"public_url,omitempty"`

	// OAuth providers (README "Connecting an OAuth account"); they need PublicURL.
	OAuthProviders oauth.Providers `json:"oauth_providers,omitempty"`

	// A token expiring within this is refreshed before use. Default: 60s.
	OAuthRefreshBefore caddy.Duration `json:"oauth_refresh_before,omitempty"`

	// Held calls (pending.go): at most this many per keychain wait at
	// once on a node (default 20), each at most ApprovalWaitMax (120s).
	ApprovalMaxPending int            `json:"approval_max_pending,omitempty"`
	ApprovalWaitMax    caddy.Duration `json:"approval_wait_max,omitempty"`
	// A Standard Webhooks signed POST for each new held call.
	ApprovalWebhook *ApprovalWebhook `json:"approval_webhook,omitempty"`

	dir            string // names the store in shared state: a path, memoryDir or "postgres:<target>"
	pgDSN          string
	masterSpec     string
	adminTokenSpec string
	masterKeyID    string
	keyring        *store.Keyring
	replaced       *store.Keyring // the keyring Start replaced, for a rollback
	ready          atomic.Bool
	readyCh        chan struct{} // closed once the store is open
	shared         *shared
	tokens         signingTokens
	adminToken     []byte
	adminGuard     *failureGuard
	logger         *zap.Logger
	metrics        *metrics
	kcLimiter      *policy.Limiter
	kcLimiterKey   string
	oauth          *oauth.Manager
	now            func() time.Time // the app's clock, set in Provision
	sharedBase     []byte           // the oldest signing key's secret: see SharedKey
	sites          packageSites
	ctx            caddy.Context // for the other apps of this config, at Start
	heldHook       *heldWebhook
}

// CaddyModule returns the Caddy module information.
func (*App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "keygate",
		New: func() caddy.Module { return new(App) },
	}
}

// Provision fills in defaults and checks the settings; see open.
func (a *App) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	a.now = clock.Now
	a.ctx = ctx
	warnNetworkAdmin(ctx, a.logger)
	a.adminGuard = newFailureGuard(a.now)
	a.readyCh = make(chan struct{})
	if a.InvocationTTL == 0 {
		a.InvocationTTL = caddy.Duration(5 * time.Minute)
	}
	if a.MaxValueBytes == 0 {
		a.MaxValueBytes = 8192
	}
	if a.AuditRetention == 0 {
		a.AuditRetention = caddy.Duration(90 * 24 * time.Hour)
	}
	repl := caddy.NewReplacer()
	var err error
	a.dir = a.Storage
	switch {
	case a.StorageMemory:
		a.dir = memoryDir
	case a.StoragePostgres != "":
		if a.pgDSN, err = expandSecretSetting(repl, "storage postgres", a.StoragePostgres); err != nil {
			return a.lead(err)
		}
		target, err := store.PostgresTarget(a.pgDSN)
		if err != nil {
			return fmt.Errorf("keygate: storage postgres: %w", err)
		}
		a.dir = postgresPrefix + target
	case a.dir == "":
		a.dir = filepath.Join(caddy.AppDataDir(), "keygate")
	}
	if a.masterSpec, err = expandSecretSetting(repl, "master_key", a.MasterKey); err != nil {
		return a.lead(err)
	}
	if a.adminTokenSpec, err = expandSecretSetting(repl, "admin_token", a.AdminToken); err != nil {
		return a.lead(err)
	}
	if a.pgDSN != "" && (a.masterSpec == "" || a.adminTokenSpec == "") {
		return errPostgresKeys
	}
	if a.adminTokenSpec != "" {
		if err := checkAdminToken(a.adminTokenSpec); err != nil {
			return err
		}
	}
	if a.masterSpec != "" {
		if _, err := store.ParseMasterKeys(a.masterSpec); err != nil {
			return fmt.Errorf("keygate: master_key: %w", err)
		}
	}
	a.metrics = provisionMetrics(ctx)
	if a.KeychainRate != nil {
		if a.kcLimiter, a.kcLimiterKey, err = a.KeychainRate.Shared("keychain:" + a.dir); err != nil {
			return err
		}
	}
	a.PublicURL = strings.TrimRight(a.PublicURL, "/")
	if err := a.provisionHeldWebhook(ctx, repl); err != nil {
		return err
	}

	// On a reload the store is already open in this process: join it now,
	// so the new config never serves without it. Otherwise Start opens it,
	// so that `keygate validate` (which provisions but never starts) does
	// not touch the data directory, whose lock a running keygate holds.
	if refs, ok := sharedPool.References(a.dir); ok && refs > 0 {
		return a.open()
	}
	return a.checkMasterKey()
}

// open reads or creates the first-run key files, opens (or joins) the
// shared store and loads the signing keys.
func (a *App) open() error {
	masterSpec, adminToken := a.masterSpec, a.adminTokenSpec
	var err error
	if a.StorageMemory {
		masterSpec, adminToken, err = memoryDefaults(masterSpec, adminToken, a.logger)
		if err != nil {
			return err
		}
	} else if a.pgDSN == "" {
		if err := os.MkdirAll(a.dir, 0o700); err != nil {
			return fmt.Errorf("keygate: creating storage directory %s: %w", a.dir, err)
		}
	}
	if masterSpec == "" {
		if err := a.refuseLostMasterKeyFile(); err != nil {
			return err
		}
		if masterSpec, err = loadOrCreateMasterKeyFile(a.dir, a.logger); err != nil {
			return err
		}
	}
	if adminToken == "" {
		if adminToken, err = loadOrCreateAdminTokenFile(a.dir, a.logger); err != nil {
			return err
		}
	}
	if err := checkAdminToken(adminToken); err != nil {
		return err
	}
	keyring, err := store.ParseMasterKeys(masterSpec)
	if err != nil {
		return fmt.Errorf("keygate: master_key: %w", err)
	}
	opts := store.Options{
		Keyring:       keyring,
		MaxValueBytes: a.MaxValueBytes,
		Now:           a.now,
	}
	switch {
	case a.StorageMemory:
		opts.InMemory = true
	case a.pgDSN != "":
		opts.Postgres, opts.Timeout = a.pgDSN, storeTimeout
	default:
		opts.Dir = a.dir
	}
	opts.Observe = storeObserver("badger")
	if a.pgDSN != "" {
		opts.Observe = storeObserver("postgres")
	}
	sh, err := openShared(a.dir, opts, a.logger)
	if err != nil {
		return a.masterKeyAdvice(err)
	}
	a.shared = sh
	gen := sh.store.SigningKeysGen() // before loading: a change meanwhile reloads
	tokens, base, err := sh.loadTokens(time.Duration(a.InvocationTTL))
	if err != nil {
		return err
	}
	a.tokens.init(tokens, gen, true)
	a.sharedBase = base
	a.adminToken = []byte(adminToken)
	a.keyring = keyring
	a.masterKeyID = keyring.CurrentID()
	if err := a.startOAuth(); err != nil {
		return err
	}
	a.ready.Store(true)
	close(a.readyCh)
	return nil
}

// checkMaxValueBytes is the rule for max_value_bytes; 0 is the default
// (8192), which Provision fills in.
func checkMaxValueBytes(n int64) error {
	if n < 0 || n > 64<<10 {
		return fmt.Errorf("max_value_bytes must be between 1 and 65536 (64KiB; 0: the default 8192), got %d", n)
	}
	return nil
}

// Validate checks the configuration.
func (a *App) Validate() error {
	set := 0
	for _, on := range []bool{a.Storage != "", a.StorageMemory, a.StoragePostgres != ""} {
		if on {
			set++
		}
	}
	if set > 1 {
		return fmt.Errorf("keygate: storage, storage_memory and storage_postgres are exclusive; set one")
	}
	if err := checkMaxValueBytes(int64(a.MaxValueBytes)); err != nil {
		return fmt.Errorf("keygate: %w", err)
	}
	if a.InvocationTTL < caddy.Duration(time.Second) || a.InvocationTTL > caddy.Duration(time.Hour) {
		return fmt.Errorf("keygate: invocation_ttl must be between 1s and 1h")
	}
	if a.KeychainRate != nil {
		if err := a.KeychainRate.Validate("keychain_rate"); err != nil {
			return err
		}
	}
	if err := a.validateHeld(); err != nil {
		return err
	}
	return a.validateOAuth()
}

// Start opens the store unless Provision joined it already. The shared
// state runs its loops from the moment it is first opened, so that a
// reload does not restart them.
func (a *App) Start() error {
	if !a.ready.Load() {
		if err := a.open(); err != nil {
			return err
		}
	} else if prev := a.shared.store.Keyring(); prev != a.keyring {
		// Joined at Provision (a reload): the new keyring takes effect
		// now, not before, since a config can still fail to start after
		// provisioning (Stop undoes it then).
		if err := a.shared.store.SetKeyring(a.keyring); err != nil {
			return a.masterKeyAdvice(fmt.Errorf("keygate: master_key: %w", err))
		}
		a.replaced = prev
	}
	// Settings held by the shared state follow the config that starts,
	// its logs too: a.logger is "keygate", so this is keygate.audit.
	a.shared.audit.setLogger(a.logger.Named("audit"))
	a.shared.setRetention(time.Duration(a.AuditRetention))
	a.shared.store.SetMaxValueBytes(a.MaxValueBytes)
	warnShareableListeners(a.ctx, a.logger)
	running.Store(a)
	return nil
}

// maxReadyWait bounds how long a request waits for the store to open.
const maxReadyWait = 10 * time.Second

// AwaitReady returns once the store is open. Caddy starts its apps in no
// set order, so on a first start the http app may take requests a moment
// before this one has opened the store: they wait for it, bounded by their
// own context and maxReadyWait, rather than fail.
func (a *App) AwaitReady(ctx context.Context) error {
	if a.ready.Load() {
		return nil
	}
	t := time.NewTimer(maxReadyWait)
	defer t.Stop()
	select {
	case <-a.readyCh:
		return nil
	case <-ctx.Done():
	case <-t.C:
	}
	return errNotReady
}

// Stop undoes a keyring change when Caddy rolls back this config because
// another app of it failed to start (the store still has this config's
// keyring then; after a successful reload it has the next config's). The
// shared store itself is released by Cleanup.
func (a *App) Stop() error {
	if a.replaced == nil || caddy.Exiting() {
		return nil
	}
	st := a.shared.store
	if st.Keyring() != a.keyring {
		return nil
	}
	if err := st.SetKeyring(a.replaced); err != nil {
		a.logger.Error("restoring the previous master keys after a failed reload", zap.Error(err))
		return nil
	}
	a.logger.Info("restored the previous master keys after a failed reload", zap.String("master_key_id", a.replaced.CurrentID()))
	return nil
}

// Cleanup releases this config's hold on the shared store; the last
// config to let go closes it.
func (a *App) Cleanup() error {
	running.CompareAndSwap(a, nil)
	ReleaseLimiter(a.kcLimiterKey)
	if a.shared == nil {
		return nil
	}
	return releaseShared(a.dir, a.logger)
}

// Store returns the encrypted store.
func (a *App) Store() *store.Store { return a.shared.store }

// Now is the app's clock: the store's, and that of owner sign-ins and
// webhook timestamps. Tests move it with caddymodule/internal/clock.
// An App that was never provisioned (a unit test's) reads the same clock.
func (a *App) Now() time.Time {
	if a.now == nil {
		return clock.Now()
	}
	return a.now()
}

// Tokens returns the token signer and verifier.
func (a *App) Tokens() *policy.Tokens { return a.tokens.get(a) }

// MasterKeyID names the master key that seals new records.
func (a *App) MasterKeyID() string { return a.masterKeyID }

// KeychainLimiter is the per-keychain rate limit, nil when unset.
func (a *App) KeychainLimiter() *policy.Limiter { return a.kcLimiter }

// Dir is the store directory; it names this deployment in shared state.
func (a *App) Dir() string { return a.dir }

// SharedKey derives a 32-byte key for purpose from keygate's oldest
// signing key, which lives sealed in the store: every node of a shared
// database derives the same one, and no other purpose's key or a token
// signature follows from it.
func (a *App) SharedKey(purpose string) []byte {
	m := hmac.New(sha256.New, a.sharedBase)
	m.Write([]byte("keygate shared key\x00"))
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

// IsAdminToken reports whether tok is the admin token. It compares
// SHA-256s in constant time, so neither the token's length nor its content
// leaks through timing.
func (a *App) IsAdminToken(tok string) bool {
	got, want := sha256.Sum256([]byte(tok)), sha256.Sum256(a.adminToken)
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

// Change is an audited change: one made through the API or the owners'
// page, or what followed a request (egress.scrubbed).
type Change struct {
	Actor    string // "admin", "owner:<id>", "package"
	Action   string // one of the Action* names
	Keychain string
	Package  string
	Keys     []string
	Reason   string
	// RequestID joins the change to the request it followed; empty, the
	// change gets an id of its own.
	RequestID string
}

// RecordChange audits a change. A failing audit sink fails the change's
// answer closed, though the change itself is already stored.
func (a *App) RecordChange(ctx context.Context, c Change) error {
	defer a.keychainChanged(c.Action, c.Keychain)
	if c.RequestID == "" {
		c.RequestID = RequestID()
	}
	return a.shared.audit.record(ctx, store.AuditEvent{
		Actor:     c.Actor,
		Action:    c.Action,
		Keychain:  c.Keychain,
		Package:   c.Package,
		Keys:      c.Keys,
		Decision:  "ok",
		Reason:    c.Reason,
		RequestID: c.RequestID,
	})
}

// lead logs err on its own before Caddy returns it at the end of its
// provisioning chain, so that the line saying what to do comes first.
func (a *App) lead(err error) error {
	a.logger.Error(err.Error())
	return err
}

// expandSecretSetting expands {env.*} and {file.*} placeholders in a
// setting whose value is secret. The error names the setting and the
// {env.NAME} or {file.PATH} placeholder that failed (the config's text,
// not the value), never the rest of the setting, which may be inline.
func expandSecretSetting(repl *caddy.Replacer, name, v string) (string, error) {
	if v == "" {
		return "", nil
	}
	out, err := repl.ReplaceOrErr(v, true, true)
	if err != nil {
		for _, ph := range secretPlaceholder.FindAllString(v, -1) {
			if _, err := repl.ReplaceOrErr(ph, true, true); err != nil {
				what := "is unset or empty in keygate's environment"
				if strings.HasPrefix(ph, "{file.") {
					what = "names a file keygate cannot read, or an empty one"
				}
				return "", fmt.Errorf("keygate: %s: %s %s", name, ph, what)
			}
		}
		return "", fmt.Errorf("keygate: %s: placeholder is unknown or empty", name)
	}
	return strings.TrimSpace(out), nil
}

// secretPlaceholder matches the placeholders a secret setting may hold.
var secretPlaceholder = regexp.MustCompile(`\{(?:env|file)\.[^{}\s]+\}`)

// ErrAuditUnavailable fails requests closed when the audit sink fails.
var ErrAuditUnavailable = errors.New("audit log unavailable")

// errPostgresKeys refuses a shared database without configured keys: a
// key generated into one node's data directory would lock out the others.
var errPostgresKeys = errors.New("keygate: storage postgres needs master_key and admin_token configured: several nodes must share them")

// errNotReady answers requests that waited too long for the store to open.
var errNotReady = errors.New("keygate is starting")

// Interface guards
var (
	_ caddy.App          = (*App)(nil)
	_ caddy.Provisioner  = (*App)(nil)
	_ caddy.Validator    = (*App)(nil)
	_ caddy.CleanerUpper = (*App)(nil)
)
