package cli

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/keygate/keygate/preset"
)

// presetCommands list and show keygate's provider presets. They read the
// table built into the binary; no API is asked.
func presetCommands() []leaf {
	jsonFlag := func(f *pflag.FlagSet) { f.Bool("json", false, "print the presets as JSON") }
	return []leaf{{
		name:  "list",
		usage: "[--json]",
		short: "Lists the provider presets: hosts, placement, OAuth",
		long: `
Lists the provider presets that an egress route ("preset openai" in its
transport block), a manifest key ("preset": "openai") and an oauth_provider
block ("preset github") may name. docs/presets.md has the same table, with
each provider's documentation.`,
		maxArgs: 0,
		flags:   jsonFlag,
		run:     presetList,
	}, {
		name:    "show",
		usage:   "<name> [--json]",
		short:   "Shows one provider preset in full",
		minArgs: 1, maxArgs: 1,
		flags: jsonFlag,
		run:   presetShow,
	}}
}

func presetList(e *env, _ []string) error {
	all := preset.All()
	if json, _ := e.flags.GetBool("json"); json {
		return e.printValue(all)
	}
	t := newTable(e.stdout, "NAME", "HOSTS", "PLACEMENT", "OAUTH")
	for _, p := range all {
		t.row(p.Name, someHosts(p.Hosts), p.Placement.String(), yesNo(p.OAuth != nil))
	}
	t.flush()
	return nil
}

func presetShow(e *env, args []string) error {
	p, err := preset.Get(args[0])
	if err != nil {
		return usageErrorf("%s", err.Error())
	}
	if json, _ := e.flags.GetBool("json"); json {
		return e.printValue(p)
	}
	kv := []string{"name", p.Name, "title", p.Title, "hosts", list(p.Hosts), "placement", p.Placement.String(), "token header", p.TokenHeader}
	if o := p.OAuth; o != nil {
		pkce := "off"
		if o.PKCE {
			pkce = "on"
		}
		kv = append(kv, "authorize url", o.AuthorizeURL, "token url", o.TokenURL, "revoke url", o.RevokeURL,
			"auth style", o.AuthStyle, "pkce", pkce, "scopes", strings.Join(o.Scopes, " "), "extra params", extraParams(o.ExtraAuthorizeParams))
	}
	kv = append(kv, "note", p.Note, "docs", strings.Join(p.Docs, " "))
	fields(e.stdout, kv...)
	return nil
}

// someHosts keeps the table narrow: the first two hosts, and how many
// more `preset show` lists.
func someHosts(hosts []string) string {
	if len(hosts) <= 2 {
		return list(hosts)
	}
	return fmt.Sprintf("%s,+%d more", list(hosts[:2]), len(hosts)-2)
}

func extraParams(m map[string]string) string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, k+"="+m[k])
	}
	return strings.Join(out, " ")
}

// printValue writes v as indented JSON, for --json.
func (e *env) printValue(v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	e.printJSON(b)
	return nil
}
