package cli

import (
	"net/http"
	"time"
)

// keychainLoginLink is "keygate keychain login-link <keychain>": a one-time
// link that signs the keychain's owner in to the owners' page.
func keychainLoginLink() leaf {
	return leaf{
		name:  "login-link",
		usage: "<keychain>",
		short: "Prints a one-time sign-in link to the owners' page for the keychain's owner",
		long: `
Makes a link that signs the keychain's owner in to keygate's web page,
where they set their secrets and approve packages. It signs them in to
every keychain they own. The link works once and expires soon (15 minutes
by default, owner_link_ttl in keygate_api); send it to the owner over a
channel you trust. keygate keeps only a hash of it, in memory: a restart
voids every link not yet used.`,
		minArgs: 1, maxArgs: 1,
		run: keychainLoginLinkRun,
	}
}

func keychainLoginLinkRun(e *env, args []string) error {
	c, err := e.api()
	if err != nil {
		return err
	}
	var out struct {
		URL       string    `json:"url"`
		ExpiresAt time.Time `json:"expires_at"`
		Owner     string    `json:"owner"`
		Keychain  string    `json:"keychain"`
	}
	resp, err := c.sendJSON(e.ctx, http.MethodPost, "/v1/keychains/"+segment(args[0])+"/login-link", nil, &out)
	if err != nil {
		return err
	}
	if e.json {
		e.printJSON(resp.body)
		return nil
	}
	e.printf("Sign-in link for %s, owner of keychain %s (works once, until %s):\n%s\n",
		oneLine(out.Owner), oneLine(args[0]), fmtTime(out.ExpiresAt), oneLine(out.URL))
	return nil
}
