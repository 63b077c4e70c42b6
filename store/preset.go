package store

import (
	"fmt"
	"slices"

	"github.com/keygate/keygate/preset"
)

// applyPreset fills what a key's manifest entry leaves out from the
// provider preset it names ("preset": "openai"): its hosts, its
// placement (["header"] or ["query"]; a sigv4 placement's service), and,
// when the entry has an oauth block, that block's provider (the preset's
// name, for the operator's oauth_provider of that name) and scopes. A
// field the entry gives wins, whole. The stored manifest holds the
// resolved fields, so the grant's approval digest covers what the owner
// approves, and a later preset table changes nothing stored.
func applyPreset(field string, k *KeySpec) error {
	if k.Preset == "" {
		return nil
	}
	p, err := preset.Get(k.Preset)
	if err != nil {
		return invalid(field+".preset", err.Error())
	}
	if len(k.Hosts) == 0 {
		k.Hosts = slices.Clone(p.Hosts)
	}
	switch pl := p.Placement; {
	case pl.Kind() != preset.KindSigV4:
		if k.Placement == nil {
			where := "header"
			if pl.Kind() == preset.KindQuery {
				where = "query"
			}
			k.Placement = &Placement{Where: []string{where}}
		}
	case k.Placement == nil || (k.Placement.SigV4 != nil && k.Placement.SigV4.Region == ""):
		return invalid(field+".placement", fmt.Sprintf(`preset %s signs with sigv4 for service %s: give the region, {"sigv4": {"region": "us-east-1"}}`, p.Name, pl.SigV4Service))
	case k.Placement.SigV4 != nil && k.Placement.SigV4.Service == "":
		k.Placement.SigV4.Service = pl.SigV4Service
	}
	if k.OAuth == nil {
		return nil
	}
	if k.OAuth.Provider == "" {
		if p.OAuth == nil {
			return invalid(field+".oauth.provider", fmt.Sprintf("is empty, and preset %s has no OAuth to name", p.Name))
		}
		k.OAuth.Provider = p.Name
	}
	if len(k.OAuth.Scopes) == 0 && p.OAuth != nil {
		k.OAuth.Scopes = slices.Clone(p.OAuth.Scopes)
	}
	return nil
}
