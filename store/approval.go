package store

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"strings"
)

// A grant approves more than the package's code: where its keys may go
// and how keygate obtains them are the manifest's to say, and a change to
// them must not ride on an approval given before. The approval digest
// covers every such part (sha256, upstream, each key's and app key's
// name, scope, hosts, placement and oauth block, as resolved from any
// preset, each webhook); a grant records the
// digest it approved, and any change to it leaves the grant stale until
// the owner approves again, as a new sha256 does. Descriptions, version,
// required flags and size limits are not in it: they move no secret.

// approvalKey is the part of a key spec the digest covers.
type approvalKey struct {
	Name  string     `json:"name"`
	Hosts []string   `json:"hosts"`
	OAuth *OAuthSpec `json:"oauth"`
	// Placement is left out when unset, so that digests recorded before
	// it was covered still match a manifest without one.
	Placement *Placement `json:"placement,omitempty"`
}

type approvalPart struct {
	SHA256   string        `json:"sha256"`
	Upstream string        `json:"upstream"`
	Keys     []approvalKey `json:"keys"`
	AppKeys  []approvalKey `json:"app_keys"`
	Webhooks []WebhookSpec `json:"webhooks"`
}

// approvalDigest is the hex SHA-256 of m's approved part, in a canonical
// form (keys, hosts and webhooks sorted) so that reordering alone changes
// nothing.
func approvalDigest(m *Manifest) string {
	keys := func(specs []KeySpec) []approvalKey {
		out := make([]approvalKey, 0, len(specs))
		for _, k := range specs {
			k = k.clone()
			slices.Sort(k.Hosts)
			if k.OAuth != nil {
				slices.Sort(k.OAuth.Scopes)
			}
			out = append(out, approvalKey{Name: k.Name, Hosts: k.Hosts, OAuth: k.OAuth, Placement: k.Placement})
		}
		slices.SortFunc(out, func(a, b approvalKey) int { return strings.Compare(a.Name, b.Name) })
		return out
	}
	hooks := append([]WebhookSpec{}, m.Webhooks...)
	slices.SortFunc(hooks, func(a, b WebhookSpec) int { return strings.Compare(a.Name, b.Name) })
	raw, err := json.Marshal(approvalPart{SHA256: m.SHA256, Upstream: m.Upstream, Keys: keys(m.Keys), AppKeys: keys(m.AppKeys), Webhooks: hooks})
	if err != nil {
		panic("store: approval digest: " + err.Error()) // plain structs of strings always marshal
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

// Approves reports whether g approves m as it stands: its code and the
// approved part of its manifest. A grant written before digests were
// recorded has none; it approves the manifest it was made for, which is
// the current one until the next PutPackage (that fills the digest in).
func (g *Grant) Approves(m *Manifest) bool {
	return g.SHA256 != "" && g.SHA256 == m.SHA256 && g.Approval == m.Approval
}

// backfillApprovals gives the grants of old's package that were written
// before digests were recorded the digest of old, which they approved,
// so that the manifest replacing it is compared with what they approved.
func backfillApprovals(w writer, old *Manifest, oldDigest string) error {
	var grants []string
	err := w.Iterate(iterOptions{Prefix: scope(pfxGrantByPkg, old.Name), KeysOnly: true}, func(k, _ []byte) error {
		grants = append(grants, lastPart(k, pfxGrantByPkg))
		return nil
	})
	if err != nil {
		return err
	}
	for _, kc := range grants {
		var g Grant
		switch err := getJSON(w, key(pfxGrant, kc, old.Name), &g); {
		case errors.Is(err, errNoKey):
			continue
		case err != nil:
			return err
		}
		if g.Approval != "" || g.SHA256 != old.SHA256 {
			continue
		}
		g.Approval = oldDigest
		if err := setJSON(w, key(pfxGrant, kc, old.Name), g); err != nil {
			return err
		}
	}
	return nil
}
