package caddymodule

import (
	"encoding/json"
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("keygate", parseGlobalOption)
	httpcaddyfile.RegisterHandlerDirective("keygate_package", parsePackageHandler)
	httpcaddyfile.RegisterDirectiveOrder("keygate_package", httpcaddyfile.Before, "reverse_proxy")
}

// parseGlobalOption sets up the keygate app from the global options:
//
//	keygate {
//		storage badger <dir>
//		master_key <spec>
//		admin_token <token>
//		invocation_ttl <duration>
//		max_value_bytes <n>
//		audit_retention <duration>
//		keychain_rate <events>/<window> [burst <n>]
//		public_url <url>
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
			case len(args) == 1 && args[0] != "badger":
				app.Storage = args[0]
			default:
				return nil, d.Errf("storage: want 'storage badger <directory>'")
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
			dur, err := durationArg(d)
			if err != nil {
				return nil, err
			}
			app.InvocationTTL = dur
		case "audit_retention":
			dur, err := durationArg(d)
			if err != nil {
				return nil, err
			}
			app.AuditRetention = dur
		case "max_value_bytes":
			var s string
			if !d.AllArgs(&s) {
				return nil, d.ArgErr()
			}
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 {
				return nil, d.Errf("max_value_bytes: want a whole number above 0, got %q", s)
			}
			app.MaxValueBytes = n
		case "keychain_rate":
			rl, err := rateArgs(d)
			if err != nil {
				return nil, err
			}
			app.KeychainRate = rl
		default:
			return nil, d.Errf("unrecognized keygate option %q", d.Val())
		}
	}
	return httpcaddyfile.App{Name: "keygate", Value: caddyconfig(app)}, nil
}

func caddyconfig(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

// parsePackageHandler reads:
//
//	keygate_package [<suffix>] {
//		suffix <suffix>
//		mode sealed|plaintext
//		rate <events>/<window> [burst <n>]
//		dial_timeout <duration>
//		response_timeout <duration>
//	}
func parsePackageHandler(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	ph := new(PackageHandler)
	return ph, ph.UnmarshalCaddyfile(h.Dispenser)
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens.
func (h *PackageHandler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		h.Suffix = d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "suffix":
			if !d.AllArgs(&h.Suffix) {
				return d.ArgErr()
			}
		case "mode":
			if !d.AllArgs(&h.Mode) {
				return d.ArgErr()
			}
			if h.Mode != modeSealed && h.Mode != modePlaintext {
				return d.Errf("mode must be %s or %s, got %q", modeSealed, modePlaintext, h.Mode)
			}
		case "rate":
			rl, err := rateArgs(d)
			if err != nil {
				return err
			}
			h.Rate = rl
		case "dial_timeout":
			dur, err := durationArg(d)
			if err != nil {
				return err
			}
			h.DialTimeout = dur
		case "response_timeout":
			dur, err := durationArg(d)
			if err != nil {
				return err
			}
			h.ResponseTimeout = dur
		default:
			return d.Errf("unrecognized keygate_package option %q", d.Val())
		}
	}
	if h.Suffix == "" {
		return d.Err("keygate_package needs a suffix, e.g. 'suffix instant.host'")
	}
	return nil
}

// UnmarshalCaddyfile reads the keygate transport:
//
//	transport keygate {
//		secret <NAME> [app]
//		header <Header> "<template with {secret}>"
//		basic_auth <user>|{secret}
//		query <param>
//		# ...and any option of the http transport
//	}
func (t *Transport) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // transport name
	name := d.Token()
	var httpTokens []caddyfile.Token
	for d.NextBlock(0) {
		switch d.Val() {
		case "secret":
			args := d.RemainingArgs()
			if len(args) < 1 || len(args) > 2 || (len(args) == 2 && args[1] != scopeApp) {
				return d.Err("want 'secret <NAME> [app]'")
			}
			t.Secret = args[0]
			if len(args) == 2 {
				t.Scope = scopeApp
			}
		case "header":
			args := d.RemainingArgs()
			if len(args) < 1 || len(args) > 2 {
				return d.Err("want 'header <Header> [\"<template with {secret}>\"]'")
			}
			t.Header = args[0]
			if len(args) == 2 {
				t.Template = args[1]
			}
		case "basic_auth":
			if !d.AllArgs(&t.BasicAuthUser) {
				return d.Err("want 'basic_auth <user>' or 'basic_auth {secret}'")
			}
		case "query":
			if !d.AllArgs(&t.Query) {
				return d.Err("want 'query <parameter>'")
			}
		default:
			httpTokens = append(httpTokens, d.NextSegment()...)
		}
	}
	if t.Secret == "" {
		return d.Err("the keygate transport needs 'secret <NAME>'")
	}
	if len(httpTokens) == 0 {
		return nil
	}
	// Hand the other options to the http transport, as a block of their
	// own, keeping their file and line for its errors.
	// The braces go on their own lines: the dispenser ends an option's
	// arguments at a line break, so a "}" on the last option's line would
	// read as one more argument of it.
	open, close := name, httpTokens[len(httpTokens)-1]
	open.Text, close.Text = "{", "}"
	close.Line++
	toks := append([]caddyfile.Token{name, open}, httpTokens...)
	toks = append(toks, close)
	return t.HTTPTransport.UnmarshalCaddyfile(caddyfile.NewDispenser(toks))
}

// rateArgs reads "<events>/<window> [burst <n>]".
func rateArgs(d *caddyfile.Dispenser) (*RateLimit, error) {
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

func durationArg(d *caddyfile.Dispenser) (caddy.Duration, error) {
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

// Interface guards
var (
	_ caddyfile.Unmarshaler = (*PackageHandler)(nil)
	_ caddyfile.Unmarshaler = (*Transport)(nil)
)
