package egress

import (
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/keygate/keygate/sign"
)

// unmarshalSigning reads a `sigv4 { ... }` or `hmac { ... }` block of the
// keygate transport (a preset may give sigv4's service; UnmarshalCaddyfile
// checks both are there):
//
//	sigv4 {
//		service <s>
//		region <r>
//	}
//	hmac {
//		algorithm sha256|sha512
//		message "<template over {method} {path} {query} {body} {timestamp}>"
//		header <name> | query <param>
//		encoding hex|base64
//		timestamp_header <name>
//		timestamp_format unix|unix_ms|iso8601_ms
//		timestamp_offset <duration>
//	}
func (t *Transport) unmarshalSigning(d *caddyfile.Dispenser) error {
	kind := d.Val()
	if d.NextArg() {
		return d.Errf("%s takes a block, not arguments", kind)
	}
	if kind == "sigv4" {
		if t.SigV4 != nil {
			return d.Err("sigv4 is given twice")
		}
		t.SigV4 = new(SigV4Route)
	} else {
		if t.HMAC != nil {
			return d.Err("hmac is given twice")
		}
		t.HMAC = new(sign.HMAC)
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		var v string
		if !d.AllArgs(&v) {
			return d.Errf("%s: want '%s <value>'", kind, opt)
		}
		if kind == "hmac" && opt == "timestamp_offset" {
			off, err := caddy.ParseDuration(v)
			if err != nil || off < 0 {
				return d.Err("hmac: timestamp_offset must be a duration, such as 60s")
			}
			t.HMAC.TimestampOffset = off
			continue
		}
		field := t.signingOption(kind, opt)
		if field == nil {
			return d.Errf("%s: unknown option %q", kind, opt)
		}
		if *field != "" {
			return d.Errf("%s: %s is given twice", kind, opt)
		}
		if opt == "message" {
			v = caddyShorthands.Replace(v)
		}
		*field = v
	}
	if kind == "hmac" && t.HMAC.Message == "" {
		return d.Err("hmac needs 'message \"<template>\"'")
	}
	return nil
}

// signingOption is the field an option of a sigv4 or hmac block sets, or
// nil when the block has no such option.
func (t *Transport) signingOption(kind, opt string) *string {
	if kind == "sigv4" {
		switch opt {
		case "service":
			return &t.SigV4.Service
		case "region":
			return &t.SigV4.Region
		}
		return nil
	}
	h := t.HMAC
	switch opt {
	case "algorithm":
		return &h.Algorithm
	case "message":
		return &h.Message
	case "header":
		return &h.Header
	case "query":
		return &h.Query
	case "encoding":
		return &h.Encoding
	case "timestamp_header":
		return &h.TimestampHeader
	case "timestamp_format":
		return &h.TimestampFormat
	}
	return nil
}

// caddyShorthands undoes the Caddyfile adapter's expansion of {method},
// {path} and {query}, which it reads as its own placeholders.
var caddyShorthands = strings.NewReplacer(
	"{http.request.method}", "{method}",
	"{http.request.uri.path}", "{path}",
	"{http.request.uri.query}", "{query}",
)
