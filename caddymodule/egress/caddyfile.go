package egress

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/keygate/keygate/caddymodule/gateway"
	"github.com/keygate/keygate/preset"
)

// UnmarshalCaddyfile reads the keygate transport:
//
//	transport keygate {
//		secret <NAME> [app]
//		preset <provider>                # see preset_route.go
//		header <Header> "<template with {secret}>"
//		basic_auth <user>|{secret}
//		query <param>
//		token_header <Header>
//		scrub on|off
//		rate <events>/<window> [burst <n>]   # per keychain and package, see rate.go
//		sigv4 { ... } | hmac { ... }   # see sign_caddyfile.go
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
		case "preset":
			if !d.AllArgs(&t.Preset) {
				return d.Err("want 'preset <provider>'")
			}
			if _, err := preset.Get(t.Preset); err != nil {
				return d.Err(err.Error())
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
		case "token_header":
			if !d.AllArgs(&t.TokenHeader) {
				return d.Err("want 'token_header <Header>'")
			}
		case "scrub":
			var v string
			if !d.AllArgs(&v) || (v != "on" && v != "off") {
				return d.Err("want 'scrub on' or 'scrub off'")
			}
			on := v == "on"
			t.Scrub = &on
		case "rate":
			if t.Rate != nil {
				return d.Err("rate is set twice")
			}
			rl, err := gateway.RateArgs(d)
			if err != nil {
				return err
			}
			t.Rate = rl
		case "sigv4", "hmac":
			if err := t.unmarshalSigning(d); err != nil {
				return err
			}
		default:
			httpTokens = append(httpTokens, d.NextSegment()...)
		}
	}
	if t.Secret == "" {
		return d.Err("the keygate transport needs 'secret <NAME>'")
	}
	if err := t.applyPreset(); err != nil {
		return d.Err(err.Error())
	}
	if t.SigV4 != nil && (t.SigV4.Service == "" || t.SigV4.Region == "") {
		return d.Err("sigv4 needs 'service <name>' and 'region <name>'")
	}
	if len(httpTokens) == 0 {
		return nil
	}
	// Hand the other options to the http transport, as a block of their
	// own, keeping their file and line for its errors.
	// The braces go on their own lines: the dispenser ends an option's
	// arguments at a line break, so a "}" on the last option's line would
	// read as one more argument of it.
	opening, closing := name, httpTokens[len(httpTokens)-1]
	opening.Text, closing.Text = "{", "}"
	closing.Line++
	toks := append([]caddyfile.Token{name, opening}, httpTokens...)
	toks = append(toks, closing)
	return t.HTTPTransport.UnmarshalCaddyfile(caddyfile.NewDispenser(toks))
}

// Interface guards
var _ caddyfile.Unmarshaler = (*Transport)(nil)
