package egress

import (
	"fmt"

	"github.com/keygate/keygate/preset"
)

// applyPreset fills what the route leaves out from its preset (`preset
// <name>`): the placement, unless the route names one (header, basic_auth,
// query, hmac, or a sigv4 block, whose service the preset may fill), and
// the token header, unless the route names one. It runs when the
// Caddyfile is read and again at provisioning, for JSON configs; the
// second run changes nothing.
func (t *Transport) applyPreset() error {
	if t.Preset == "" {
		return nil
	}
	p, err := preset.Get(t.Preset)
	if err != nil {
		return fmt.Errorf("keygate transport: %w", err)
	}
	if t.TokenHeader == "" {
		t.TokenHeader = p.TokenHeader
	}
	pl := p.Placement
	sigv4 := pl.Kind() == preset.KindSigV4
	if t.Header != "" || t.BasicAuthUser != "" || t.Query != "" || t.HMAC != nil || (t.SigV4 != nil && !sigv4) {
		return nil
	}
	switch pl.Kind() {
	case preset.KindSigV4:
		if t.SigV4 == nil || t.SigV4.Region == "" {
			return fmt.Errorf("keygate transport: preset %s signs with sigv4 for service %s: add 'sigv4 { region <region> }'", p.Name, pl.SigV4Service)
		}
		if t.SigV4.Service == "" {
			t.SigV4.Service = pl.SigV4Service
		}
	case preset.KindBasic:
		if pl.BasicAuthUser == "" {
			return fmt.Errorf("keygate transport: preset %s sends the secret as the basic auth password: add 'basic_auth <user>', the user being %s", p.Name, pl.UserIs)
		}
		t.BasicAuthUser = pl.BasicAuthUser
	case preset.KindQuery:
		t.Query = pl.Query
	default:
		t.Header, t.Template = pl.Header, pl.Template
	}
	return nil
}
