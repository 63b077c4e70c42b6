package gateway

import (
	"math"
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/dustin/go-humanize"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("keygate", parseGlobalOption)
}

// parseGlobalOption sets up the keygate app from the global options:
//
//	keygate {
//		storage badger <dir> | storage memory | storage postgres <dsn>
//		master_key <spec>
//		admin_token <token>
//		invocation_ttl <duration>
//		max_value_bytes <n>
//		audit_retention <duration>
//		keychain_rate <events>/<window> [burst <n>]
//		public_url <url>
//		oauth_provider <name> { ... }   (see parseOAuthProvider; repeatable)
//		oauth_refresh_before <duration>
//		approval_max_pending <n>
//		approval_wait_max <duration>
//		approval_webhook <url> <whsec_secret>
//	}
func parseGlobalOption(d *caddyfile.Dispenser, _ any) (any, error) {
	app := new(App)
	d.Next() // option name
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "storage":
			args := d.RemainingArgs()
			switch {
			case len(args) == 2 && args[0] == "badger":
				app.Storage = args[1]
			case len(args) == 2 && args[0] == "postgres":
				app.StoragePostgres = args[1]
			case len(args) == 1 && args[0] == "memory":
				app.StorageMemory = true
			case len(args) == 1 && args[0] != "badger" && args[0] != "postgres":
				app.Storage = args[0]
			default:
				return nil, d.Errf("storage: want 'storage badger <directory>', 'storage postgres <dsn>' or 'storage memory'")
			}
		case "master_key":
			if !d.AllArgs(&app.MasterKey) {
				return nil, d.ArgErr()
			}
		case "admin_token":
			if !d.AllArgs(&app.AdminToken) {
				return nil, d.ArgErr()
			}
		case "public_url":
			if !d.AllArgs(&app.PublicURL) {
				return nil, d.ArgErr()
			}
		case "invocation_ttl":
			dur, err := DurationArg(d)
			if err != nil {
				return nil, err
			}
			app.InvocationTTL = dur
		case "audit_retention":
			dur, err := DurationArg(d)
			if err != nil {
				return nil, err
			}
			app.AuditRetention = dur
		case "max_value_bytes":
			n, err := SizeArg(d, checkMaxValueBytes)
			if err != nil {
				return nil, err
			}
			app.MaxValueBytes = int(n)
		case "oauth_provider":
			p, err := parseOAuthProvider(d)
			if err != nil {
				return nil, err
			}
			app.OAuthProviders = append(app.OAuthProviders, p)
		case "oauth_refresh_before":
			dur, err := DurationArg(d)
			if err != nil {
				return nil, err
			}
			app.OAuthRefreshBefore = dur
		case "approval_max_pending":
			var s string
			if !d.AllArgs(&s) {
				return nil, d.ArgErr()
			}
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 {
				return nil, d.Errf("approval_max_pending: want a whole number above 0, got %q", s)
			}
			app.ApprovalMaxPending = n
		case "approval_wait_max":
			dur, err := DurationArg(d)
			if err != nil {
				return nil, err
			}
			app.ApprovalWaitMax = dur
		case "approval_webhook":
			w := new(ApprovalWebhook)
			if !d.AllArgs(&w.URL, &w.Secret) {
				return nil, d.Errf("approval_webhook: want 'approval_webhook <url> <secret>', the secret whsec_<base64> or a placeholder such as {env.KEYGATE_APPROVAL_WEBHOOK_SECRET}")
			}
			app.ApprovalWebhook = w
		case "keychain_rate":
			rl, err := RateArgs(d)
			if err != nil {
				return nil, err
			}
			app.KeychainRate = rl
		default:
			return nil, d.Errf("unrecognized keygate option %q", d.Val())
		}
	}
	return httpcaddyfile.App{Name: "keygate", Value: caddyconfig.JSON(app, nil)}, nil
}

// SizeArg reads one size for the option at the cursor, as Caddy reads
// sizes (humanize.ParseBytes: 4096, 64KiB, 1MB), and checks it with the
// rule the module's Validate applies, so both give the same answer.
func SizeArg(d *caddyfile.Dispenser, check func(int64) error) (int64, error) {
	opt := d.Val()
	var s string
	if !d.AllArgs(&s) {
		return 0, d.ArgErr()
	}
	n, err := humanize.ParseBytes(s)
	if err != nil || n > math.MaxInt64 {
		return 0, d.Errf("%s: want a size such as 4096, 64KiB or 1MB, got %q", opt, s)
	}
	if err := check(int64(n)); err != nil {
		return 0, d.WrapErr(err)
	}
	return int64(n), nil
}

// RateArgs reads "<events>/<window> [burst <n>]".
func RateArgs(d *caddyfile.Dispenser) (*RateLimit, error) {
	args := d.RemainingArgs()
	if len(args) != 1 && len(args) != 3 {
		return nil, d.Err("want '<events>/<window> [burst <n>]', e.g. 'rate 20/s burst 40'")
	}
	rl, err := parseRate(args[0])
	if err != nil {
		return nil, d.WrapErr(err)
	}
	if len(args) == 3 {
		if args[1] != "burst" {
			return nil, d.Errf("want 'burst <n>' after the rate, got %q", args[1])
		}
		rl.Burst, err = strconv.Atoi(args[2])
		if err != nil || rl.Burst < 1 {
			return nil, d.Errf("burst must be a whole number above 0, got %q", args[2])
		}
	}
	return rl, nil
}

// DurationArg reads one duration above 0 for the option at the cursor.
func DurationArg(d *caddyfile.Dispenser) (caddy.Duration, error) {
	opt := d.Val()
	var s string
	if !d.AllArgs(&s) {
		return 0, d.ArgErr()
	}
	dur, err := caddy.ParseDuration(s)
	if err != nil || dur <= 0 {
		return 0, d.Errf("%s: want a duration above 0 such as 5m, got %q", opt, s)
	}
	return caddy.Duration(dur), nil
}
