package store

import "github.com/keygate/keygate/sign"

// Placement says how a key goes into the request when it is not a header
// value: "sigv4" signs the request with AWS credentials (the key's secret
// is then of kind aws). The proxy site uses it; egress routes say the same
// in their Caddyfile.
type Placement struct {
	SigV4 *SigV4Placement `json:"sigv4,omitempty"`
}

// SigV4Placement is the service and region requests are signed for.
type SigV4Placement struct {
	Service string `json:"service"`
	Region  string `json:"region"`
}

func checkPlacement(field string, p *Placement, oauth bool) error {
	switch {
	case p.SigV4 == nil:
		return invalid(field, `must name a placement: {"sigv4": {"service": ..., "region": ...}}`)
	case oauth:
		return invalid(field, "an oauth key cannot be signed with sigv4")
	case !sign.ValidScopeName(p.SigV4.Service):
		return invalid(field+".sigv4.service", "must be 1 to 64 lowercase letters, digits and dashes (s3, sts, execute-api)")
	case !sign.ValidScopeName(p.SigV4.Region):
		return invalid(field+".sigv4.region", "must be 1 to 64 lowercase letters, digits and dashes (us-east-1)")
	}
	return nil
}

func (p *Placement) clone() *Placement {
	if p == nil {
		return nil
	}
	c := *p
	if p.SigV4 != nil {
		v := *p.SigV4
		c.SigV4 = &v
	}
	return &c
}
