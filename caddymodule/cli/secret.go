package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/spf13/pflag"
)

// secret is a secret's metadata as the API answers it; the API never
// sends a value.
type secret struct {
	Name             string    `json:"name"`
	AllowedHosts     []string  `json:"allowed_hosts"`
	RotationHintDays int       `json:"rotation_hint_days"`
	CreatedAt        time.Time `json:"created_at"`
	UpdatedAt        time.Time `json:"updated_at"`
	Version          uint64    `json:"version"`
	RotationDue      bool      `json:"rotation_due"`
	Kind             string    `json:"kind"` // "oauth", or empty for a value set by hand
	ExpiresAt        time.Time `json:"expires_at"`
	Scopes           []string  `json:"scopes"`
}

// kindText names a secret's kind, with an OAuth key's scopes.
func kindText(s secret) string {
	if s.Kind == "" {
		return "static"
	}
	if len(s.Scopes) > 0 {
		return oneLine(s.Kind) + " (" + list(s.Scopes) + ")"
	}
	return oneLine(s.Kind)
}

// secretName is the store's rule for secret and key names
// (store.ValidateSecretName). It is checked here
// too, before a value is read, so that a value typed in place of a name
// is refused without being sent or echoed.
var secretName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)

func checkName(what, name string) error {
	if !secretName.MatchString(name) {
		return fmt.Errorf("invalid %s name: it must match %s", what, secretName)
	}
	return nil
}

// noValueArg refuses a value on the command line without repeating it.
const noValueArg = "too many arguments: the value is read from stdin or a no-echo prompt, never from the command line"

func secretCommands() []leaf {
	return []leaf{
		{
			name:  "set",
			usage: "<keychain> <NAME> [--allow-host <host>]... [--rotation-days <n>] [--kind aws]",
			short: "Sets a secret; the value comes from stdin or a no-echo prompt",
			long: `
Sets the secret NAME in a keychain. The value is read from stdin when it is
piped (one trailing newline is stripped) or typed at a prompt that does not
echo; never from the command line or the environment. It may not contain
CR, LF or NUL.

--allow-host names a host the value may ever be sent to: an exact host,
host:port, or *.example.com; repeat it or separate hosts with commas. When
a secret is replaced without --allow-host or --rotation-days, its current
allowed hosts and rotation hint are kept.

--kind aws marks AWS credentials, for sigv4 routes: the value is JSON
{"access_key_id": ..., "secret_access_key": ..., "session_token": ...}
(session_token optional), checked when set. Without --kind a replaced
secret keeps its kind.

  printf '%s' "$STRIPE_KEY" | keygate secret set kc_... STRIPE_SECRET_KEY --allow-host api.stripe.com`,
			minArgs: 2, maxArgs: 2, tooMany: noValueArg,
			flags: func(f *pflag.FlagSet) {
				f.StringArray("allow-host", nil, "a host the value may be sent to (repeatable; commas separate several)")
				f.Int("rotation-days", 0, "days after which the secret is due for rotation (0: none)")
				f.String("kind", "", `"aws": the value is AWS credentials as JSON, checked when set`)
			},
			run: secretSet,
		},
		{
			name:    "list",
			usage:   "<keychain>",
			short:   "Lists a keychain's secrets: names and metadata, never values",
			minArgs: 1, maxArgs: 1,
			run: secretList,
		},
		{
			name:    "delete",
			usage:   "<keychain> <NAME>",
			short:   "Deletes a secret",
			minArgs: 2, maxArgs: 2,
			run: secretDelete,
		},
	}
}

func secretSet(e *env, args []string) error {
	kc, name := args[0], args[1]
	if err := checkName("secret", name); err != nil {
		return err
	}
	opts := struct {
		AllowedHosts     []string `json:"allowed_hosts"`
		RotationHintDays int      `json:"rotation_hint_days,omitempty"`
		Kind             string   `json:"kind,omitempty"`
	}{AllowedHosts: []string{}}
	opts.Kind, _ = e.flags.GetString("kind")
	if opts.Kind != "" && opts.Kind != "aws" {
		return usageErrorf("--kind must be aws (AWS credentials as JSON) or left out")
	}
	hosts, _ := e.flags.GetStringArray("allow-host")
	allowed, err := splitHosts(hosts)
	if err != nil {
		return err
	}
	opts.AllowedHosts = allowed
	opts.RotationHintDays, _ = e.flags.GetInt("rotation-days")
	if opts.RotationHintDays < 0 {
		return usageErrorf("--rotation-days must not be negative")
	}
	c, err := e.api()
	if err != nil {
		return err
	}
	// PUT replaces the metadata too: keep what the flags do not set.
	setHosts, setDays := e.flags.Changed("allow-host"), e.flags.Changed("rotation-days")
	if !setHosts || !setDays {
		var current []secret
		if _, err := c.getJSON(e.ctx, "/v1/keychains/"+segment(kc)+"/secrets", nil, &current); err != nil {
			return err
		}
		for _, s := range current {
			if s.Name != name {
				continue
			}
			if !setHosts {
				opts.AllowedHosts = s.AllowedHosts
			}
			if !setDays {
				opts.RotationHintDays = s.RotationHintDays
			}
		}
	}
	if opts.AllowedHosts == nil {
		opts.AllowedHosts = []string{}
	}
	rest, err := json.Marshal(opts)
	if err != nil {
		return err
	}
	value, err := readValue(e, "secret "+name)
	if err != nil {
		return err
	}
	body := valueBody(value, rest)
	wipe(value)
	_, err = c.do(e.ctx, http.MethodPut, "/v1/keychains/"+segment(kc)+"/secrets/"+segment(name), nil, body)
	wipe(body)
	if err != nil {
		return err
	}
	if !e.json {
		hosts := list(opts.AllowedHosts)
		if hosts == "" {
			hosts = "none: it is sent to no host until you add one with --allow-host"
		}
		e.printf("Set secret %s in keychain %s (allowed hosts: %s).\n", name, oneLine(kc), oneLine(hosts))
	}
	return nil
}

func secretList(e *env, args []string) error {
	var secrets []secret
	if done, err := e.show("/v1/keychains/"+segment(args[0])+"/secrets", nil, &secrets); done || err != nil {
		return err
	}
	printSecrets(e, secrets)
	return nil
}

func printSecrets(e *env, secrets []secret) {
	t := newTable(e.stdout, "NAME", "KIND", "ALLOWED_HOSTS", "VERSION", "UPDATED", "EXPIRES", "ROTATION_DUE")
	for _, s := range secrets {
		due := "-"
		if s.RotationHintDays > 0 {
			due = yesNo(s.RotationDue) + " (every " + strconv.Itoa(s.RotationHintDays) + "d)"
		}
		expires := "-"
		if !s.ExpiresAt.IsZero() {
			expires = fmtTime(s.ExpiresAt)
		}
		t.row(s.Name, kindText(s), list(s.AllowedHosts), formatUint(s.Version), fmtTime(s.UpdatedAt), expires, due)
	}
	t.flush()
}

func secretDelete(e *env, args []string) error {
	if err := checkName("secret", args[1]); err != nil {
		return err
	}
	c, err := e.api()
	if err != nil {
		return err
	}
	if _, err := c.do(e.ctx, http.MethodDelete, "/v1/keychains/"+segment(args[0])+"/secrets/"+segment(args[1]), nil, nil); err != nil {
		return err
	}
	if !e.json {
		e.printf("Deleted secret %s from keychain %s.\n", oneLine(args[1]), oneLine(args[0]))
	}
	return nil
}

func formatUint(n uint64) string { return strconv.FormatUint(n, 10) }

// splitHosts splits --allow-host values at commas. It is not a CSV reader
// (pflag's StringSlice is, and it quietly drops what follows a line
// break): a control character anywhere refuses the whole flag, and the
// API judges each host.
func splitHosts(flags []string) ([]string, error) {
	out := []string{}
	for _, f := range flags {
		for _, h := range strings.Split(f, ",") {
			if strings.ContainsFunc(h, unicode.IsControl) {
				return nil, usageErrorf("--allow-host must not contain control characters such as CR or LF")
			}
			if h = strings.TrimSpace(h); h != "" {
				out = append(out, h)
			}
		}
	}
	return out, nil
}
