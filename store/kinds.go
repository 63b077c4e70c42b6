package store

// Record kinds for people: what CopyCounts.ByKind counts by key prefix,
// named as an operator knows them. Index and chain bookkeeping records go
// under one name.

// KindCount is a number of records of one kind.
type KindCount struct {
	Kind  string
	Count int
}

// kindNames names the prefixes that hold things; every other prefix is an
// index or the audit chain's bookkeeping.
var kindNames = []struct{ prefix, name string }{
	{pfxSecret, "secrets"},
	{pfxAppSecret, "app secrets"},
	{pfxKeychain, "keychains"},
	{pfxPackage, "packages"},
	{pfxGrant, "grants"},
	{pfxAudit, "audit segments"},
	{pfxSigningKey, "signing keys"},
	{pfxWebhookDelivery, "webhook deliveries"},
	{pfxOwnerLink, "owner sign-in links"},
	{pfxOwnerSession, "owner sessions"},
	{pfxOAuthState, "OAuth connect states"},
	{pfxLease, "leases"},
}

const kindIndexes = "indexes and chain records"

// CountsByKind turns counts by key prefix into counts by kind, in a fixed
// order, leaving out kinds with no records.
func CountsByKind(byPrefix map[string]int) []KindCount {
	var out []KindCount
	named := map[string]bool{}
	for _, k := range kindNames {
		named[k.prefix] = true
		if n := byPrefix[k.prefix]; n > 0 {
			out = append(out, KindCount{k.name, n})
		}
	}
	rest := 0
	for p, n := range byPrefix {
		if !named[p] {
			rest += n
		}
	}
	if rest > 0 {
		out = append(out, KindCount{kindIndexes, rest})
	}
	return out
}
