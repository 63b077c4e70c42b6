package cli

import (
	"net/http"
	"time"
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
}

func grantCmd() leaf {
	return leaf{
		name:  "grant",
		usage: "<keychain> <@scope/name> [<KEY>...]",
		short: "Approves a package's use of some of a keychain's secrets",
		long: `
Approves the package, as its current sha256, to use the named keys of the
keychain. The keys must be ones the package requests. Running it again
replaces the approved keys; after the package's sha256 changes, run it
again to approve the new code.`,
		minArgs: 2, maxArgs: -1,
		run: grantRun,
	}
}

func grantRun(e *env, args []string) error {
	kc, pkg, keys := args[0], args[1], args[2:]
	for _, k := range keys {
		if err := checkName("key", k); err != nil {
			return err
		}
	}
	c, err := e.api()
	if err != nil {
		return err
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
		return "waiting for values of " + list(g.MissingKeys) + " (keygate secret set)"
	case "":
		return "-"
	}
	return g.Status
}

func grantsCmd() leaf {
	return leaf{
		name:    "grants",
		usage:   "<keychain>",
		short:   "Lists a keychain's grants and whether each works now",
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
	t := newTable(e.stdout, "PACKAGE", "KEYS", "STATUS", "SHA256", "UPDATED")
	for _, g := range gs {
		t.row(g.Package, list(g.Keys), statusText(g), short(g.SHA256), fmtTime(g.UpdatedAt))
	}
	t.flush()
}

func revokeCmd() leaf {
	return leaf{
		name:    "revoke",
		usage:   "<keychain> <@scope/name>",
		short:   "Revokes a package's grant on a keychain, at once",
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
