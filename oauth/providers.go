package oauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// Providers is the operator's provider registry. In JSON it is a list of
// providers or an object keyed by provider name.
type Providers []Provider

// UnmarshalJSON accepts [{"name": ...}, ...] or {"name": {...}, ...}.
func (ps *Providers) UnmarshalJSON(b []byte) error {
	var list []Provider
	if err := json.Unmarshal(b, &list); err == nil {
		*ps = list
		return nil
	}
	var byName map[string]Provider
	if err := json.Unmarshal(b, &byName); err != nil {
		return errors.New("oauth_providers must be a list of providers or an object keyed by name")
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	slices.Sort(names)
	out := make([]Provider, 0, len(names))
	for _, n := range names {
		p := byName[n]
		if p.Name != "" && p.Name != n {
			return fmt.Errorf("oauth_providers: %s is named %s inside", n, p.Name)
		}
		p.Name = n
		out = append(out, p)
	}
	*ps = out
	return nil
}

// Validate fills each provider from its preset, then checks every
// provider and that no name is used twice.
func (ps Providers) Validate() error {
	seen := make(map[string]bool, len(ps))
	for i := range ps {
		p := &ps[i]
		if err := p.ApplyPreset(); err != nil {
			return err
		}
		if err := p.Validate(); err != nil {
			return err
		}
		if seen[p.Name] {
			return fmt.Errorf("oauth_provider %s is defined twice", p.Name)
		}
		seen[p.Name] = true
	}
	return nil
}
