package cli

import (
	"net/http"
	"net/url"
	"time"

	"github.com/spf13/pflag"
)

// keychain is a keychain as the API answers it.
type keychain struct {
	ID           string    `json:"id"`
	Owner        string    `json:"owner"`
	Environment  string    `json:"environment"`
	Name         string    `json:"name"`
	CreatedAt    time.Time `json:"created_at"`
	TokenVersion uint64    `json:"token_version"`
	Token        string    `json:"token"`
	Secrets      []secret  `json:"secrets"`
	Grants       []grant   `json:"grants"`
}

// tokenNotice labels a token wherever one is printed.
const tokenNotice = "shown once, store it now; keygate cannot show it again"

func keychainCommands() []leaf {
	return []leaf{
		{
			name:  "create",
			usage: "--owner <owner> [--env <environment>] [--name <name>]",
			short: "Creates a keychain and prints its id and token (once)",
			long: `
Creates a keychain for an owner (a user or organization id) in one
environment (default production) and prints its id and its token. The
token is shown this once; store it now.`,
			maxArgs: 0,
			flags: func(f *pflag.FlagSet) {
				f.String("owner", "", "owner of the keychain: a user or organization id (required)")
				f.String("env", "", "environment (default production)")
				f.String("name", "", "a name for people")
			},
			run: keychainCreate,
		},
		{
			name:    "list",
			usage:   "[--owner <owner>]",
			short:   "Lists keychains",
			maxArgs: 0,
			flags: func(f *pflag.FlagSet) {
				f.String("owner", "", "only this owner's keychains")
			},
			run: keychainList,
		},
		{
			name:    "show",
			usage:   "<keychain>",
			short:   "Shows a keychain with its secrets' metadata and its grants",
			minArgs: 1, maxArgs: 1,
			run: keychainShow,
		},
		{
			name:    "delete",
			usage:   "<keychain>",
			short:   "Deletes a keychain with all its secrets and grants",
			minArgs: 1, maxArgs: 1,
			run: keychainDelete,
		},
		{
			name:  "token",
			usage: "<keychain>",
			short: "Rotates a keychain's token and prints the new one (once)",
			long: `
Issues a new token for the keychain and prints it, once. Every earlier
token of the keychain stops working at once.`,
			minArgs: 1, maxArgs: 1,
			run: keychainToken,
		},
		keychainLoginLink(),
	}
}

func keychainCreate(e *env, _ []string) error {
	var body struct {
		Owner       string `json:"owner"`
		Environment string `json:"environment,omitempty"`
		Name        string `json:"name,omitempty"`
	}
	body.Owner, _ = e.flags.GetString("owner")
	body.Environment, _ = e.flags.GetString("env")
	body.Name, _ = e.flags.GetString("name")
	if body.Owner == "" {
		return usageErrorf("--owner is required")
	}
	c, err := e.api()
	if err != nil {
		return err
	}
	var kc keychain
	resp, err := c.sendJSON(e.ctx, http.MethodPost, "/v1/keychains", body, &kc)
	if err != nil {
		return err
	}
	if e.json {
		e.printJSON(resp.body)
		return nil
	}
	e.printf("Created keychain %s\n", oneLine(kc.ID))
	fields(e.stdout, "  owner", kc.Owner, "  environment", kc.Environment, "  name", kc.Name)
	e.printf("Token (%s):\n%s\n", tokenNotice, oneLine(kc.Token))
	return nil
}

func keychainList(e *env, _ []string) error {
	q := url.Values{}
	if owner, _ := e.flags.GetString("owner"); owner != "" {
		q.Set("owner", owner)
	}
	var kcs []keychain
	if done, err := e.show("/v1/keychains", q, &kcs); done || err != nil {
		return err
	}
	t := newTable(e.stdout, "ID", "OWNER", "ENVIRONMENT", "NAME", "CREATED")
	for _, kc := range kcs {
		t.row(kc.ID, kc.Owner, kc.Environment, kc.Name, fmtTime(kc.CreatedAt))
	}
	t.flush()
	return nil
}

func keychainShow(e *env, args []string) error {
	var kc keychain
	if done, err := e.show("/v1/keychains/"+segment(args[0]), nil, &kc); done || err != nil {
		return err
	}
	fields(e.stdout,
		"ID", kc.ID,
		"Owner", kc.Owner,
		"Environment", kc.Environment,
		"Name", kc.Name,
		"Created", fmtTime(kc.CreatedAt),
		"Token version", formatUint(kc.TokenVersion),
	)
	e.printf("\nSecrets:\n")
	printSecrets(e, kc.Secrets)
	e.printf("\nGrants:\n")
	printGrants(e, kc.Grants)
	return nil
}

func keychainDelete(e *env, args []string) error {
	c, err := e.api()
	if err != nil {
		return err
	}
	if _, err := c.do(e.ctx, http.MethodDelete, "/v1/keychains/"+segment(args[0]), nil, nil); err != nil {
		return err
	}
	if !e.json {
		e.printf("Deleted keychain %s with its secrets and grants.\n", oneLine(args[0]))
	}
	return nil
}

func keychainToken(e *env, args []string) error {
	c, err := e.api()
	if err != nil {
		return err
	}
	var out struct {
		Token string `json:"token"`
	}
	resp, err := c.sendJSON(e.ctx, http.MethodPost, "/v1/keychains/"+segment(args[0])+"/token", nil, &out)
	if err != nil {
		return err
	}
	if e.json {
		e.printJSON(resp.body)
		return nil
	}
	e.printf("New token for keychain %s (%s; earlier tokens no longer work):\n%s\n", oneLine(args[0]), tokenNotice, oneLine(out.Token))
	return nil
}
