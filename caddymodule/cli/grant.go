package cli

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// grant is a grant as the API answers it, with whether it works now.
type grant struct {
	Keychain      string    `json:"keychain"`
	Package       string    `json:"package"`
	Keys          []string  `json:"keys"`
	SHA256        string    `json:"sha256"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
	Status        string    `json:"status"`
	CurrentSHA256 string    `json:"current_sha256"`
	MissingKeys   []string  `json:"missing_keys"`
	// oauthKeys are the package's OAuth keys among the missing ones: they
	// get their value by keygate connect, not keygate secret set. Filled
	// by markOAuth, from the manifest.
	oauthKeys []string
}

func grantCmd() leaf {
	return leaf{
		name:  "grant",
		usage: "<keychain> <@scope/name> (<KEY>... | --all)",
		short: "Approves a package's use of some of a keychain's secrets",
		long: `
Approves the package, as its current sha256, to use the named keys of the
keychain, or with --all every key the package requests. The keys must be
ones the package requests. Running it again replaces the approved keys;
after the package's sha256 changes, run it again to approve the new code.
Naming no key is refused rather than taken as "approve nothing": to take
a grant away, use keygate revoke.`,
		minArgs: 2, maxArgs: -1,
		flags: func(f *pflag.FlagSet) {
			f.Bool("all", false, "approve every key the package requests")
		},
		run: grantRun,
	}
}

func grantRun(e *env, args []string) error {
	kc, pkg, keys := args[0], args[1], args[2:]
	all, _ := e.flags.GetBool("all")
	switch {
	case all && len(keys) > 0:
		return usageErrorf("name keys or give --all, not both")
	case !all && len(keys) == 0:
		return usageErrorf("name the keys to approve, or --all for every key the package requests (keygate revoke takes a grant away)")
	}
	for _, k := range keys {
		if err := checkName("key", k); err != nil {
			return err
		}
	}
	c, err := e.api()
	if err != nil {
		return err
	}
	var m *manifest
	if all {
		m = new(manifest)
		if _, err := c.getJSON(e.ctx, "/v1/packages/"+segment(pkg), nil, m); err != nil {
			return err
		}
		for _, k := range m.Keys {
			keys = append(keys, k.Name)
		}
		if len(keys) == 0 {
			return fmt.Errorf("package %s requests no keys", oneLine(pkg))
		}
	}
	body := struct {
		Keys []string `json:"keys"`
	}{Keys: append([]string{}, keys...)}
	var g grant
	resp, err := c.sendJSON(e.ctx, http.MethodPut, "/v1/keychains/"+segment(kc)+"/grants/"+segment(pkg), body, &g)
	if err != nil {
		return err
	}
	if e.json {
		e.printJSON(resp.body)
		return nil
	}
	markOAuth(e, c, []*grant{&g}, map[string]*manifest{g.Package: m})
	e.printf("Granted package %s (sha256 %s) keys %s in keychain %s: %s.\n",
		oneLine(g.Package), short(g.SHA256), orNone(list(g.Keys)), oneLine(g.Keychain), oneLine(statusText(g)))
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return oneLine(s)
}

// statusText says what a grant's status means for people.
func statusText(g grant) string {
	switch g.Status {
	case "active":
		return "active"
	case "stale":
		return "stale: the package changed (sha256 " + short(g.CurrentSHA256) + "); grant it again to approve"
	case "missing_keys":
		return missingText(g)
	case "":
		return "-"
	}
	return g.Status
}

// missingText says, for each required key the grant cannot use yet,
// what it lacks. A key the grant approves lacks its value (Decide demands
// both); one it does not approve lacks the approval.
func missingText(g grant) string {
	var noValue, notApproved []string
	for _, k := range g.MissingKeys {
		if slices.Contains(g.Keys, k) {
			noValue = append(noValue, k)
		} else {
			notApproved = append(notApproved, k)
		}
	}
	var parts []string
	if len(notApproved) > 0 {
		parts = append(parts, "not approved: "+list(notApproved)+" (keygate grant)")
	}
	set := slices.DeleteFunc(slices.Clone(noValue), func(k string) bool { return slices.Contains(g.oauthKeys, k) })
	connect := slices.DeleteFunc(noValue, func(k string) bool { return !slices.Contains(g.oauthKeys, k) })
	if len(set) > 0 {
		parts = append(parts, "waiting for values of "+list(set)+" (keygate secret set)")
	}
	if len(connect) > 0 {
		parts = append(parts, "waiting for "+list(connect)+" to be connected (keygate connect)")
	}
	return "missing keys: " + strings.Join(parts, "; ")
}

func grantsCmd() leaf {
	return leaf{
		name:  "grants",
		usage: "<keychain>",
		short: "Lists a keychain's grants and whether each works now",
		long: `
Lists the packages a keychain's owner approved, the keys each may use, and
whether each grant works now: active; stale, when the package's sha256
changed since the approval (grant it again); or missing keys, naming the
keys not approved (keygate grant) and those without a value (keygate
secret set, or keygate connect for an OAuth key).`,
		minArgs: 1, maxArgs: 1,
		run: func(e *env, args []string) error {
			var gs []grant
			if done, err := e.show("/v1/keychains/"+segment(args[0])+"/grants", nil, &gs); done || err != nil {
				return err
			}
			printGrants(e, gs)
			return nil
		},
	}
}

func printGrants(e *env, gs []grant) {
	if c, err := e.api(); err == nil {
		ptrs := make([]*grant, len(gs))
		for i := range gs {
			ptrs[i] = &gs[i]
		}
		markOAuth(e, c, ptrs, map[string]*manifest{})
	}
	t := newTable(e.stdout, "PACKAGE", "KEYS", "STATUS", "SHA256", "UPDATED")
	for _, g := range gs {
		t.row(g.Package, list(g.Keys), statusText(g), short(g.SHA256), fmtTime(g.UpdatedAt))
	}
	t.flush()
}

func revokeCmd() leaf {
	return leaf{
		name:  "revoke",
		usage: "<keychain> <@scope/name>",
		short: "Revokes a package's grant on a keychain, at once",
		long: `
Deletes the package's grant on the keychain: the package's next call with
this keychain is refused (403). The keychain's secrets stay; keygate grant
approves the package again.`,
		minArgs: 2, maxArgs: 2,
		run: func(e *env, args []string) error {
			c, err := e.api()
			if err != nil {
				return err
			}
			if _, err := c.do(e.ctx, http.MethodDelete, "/v1/keychains/"+segment(args[0])+"/grants/"+segment(args[1]), nil, nil); err != nil {
				return err
			}
			if !e.json {
				e.printf("Revoked package %s in keychain %s.\n", oneLine(args[1]), oneLine(args[0]))
			}
			return nil
		},
	}
}

// markOAuth fills in each grant's oauthKeys, reading the manifest of each
// package with an approved key that waits for its value, once per package
// (known holds the manifests already read, nil for one not read yet). It is
// a hint only: a manifest that cannot be read leaves the hint at keygate
// secret set.
func markOAuth(e *env, c *client, gs []*grant, known map[string]*manifest) {
	for _, g := range gs {
		waiting := slices.ContainsFunc(g.MissingKeys, func(k string) bool { return slices.Contains(g.Keys, k) })
		if g.Status != "missing_keys" || !waiting {
			continue
		}
		m := known[g.Package]
		if m == nil {
			m = new(manifest)
			if _, err := c.getJSON(e.ctx, "/v1/packages/"+segment(g.Package), nil, m); err != nil {
				m = &manifest{}
			}
			known[g.Package] = m
		}
		for _, k := range m.Keys {
			if k.OAuth != nil && slices.Contains(g.MissingKeys, k.Name) {
				g.oauthKeys = append(g.oauthKeys, k.Name)
			}
		}
	}
}
