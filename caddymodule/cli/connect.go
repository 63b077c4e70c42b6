package cli

import (
	"errors"
	"net/http"
	"net/url"
)

func connectCmd() leaf {
	return leaf{
		name:  "connect",
		usage: "<keychain> <@scope/name> <KEY>",
		short: "Prints the URL where an owner connects an OAuth key",
		long: `
Starts connecting an OAuth key of the package for the keychain and prints
the provider's authorize URL. Open it in a browser and approve: the
provider sends you back to keygate, which stores the token as the
keychain's secret KEY. The URL works once, for 10 minutes.`,
		minArgs: 3, maxArgs: 3,
		run: connectRun,
	}
}

func connectRun(e *env, args []string) error {
	kc, pkg, key := args[0], args[1], args[2]
	if err := checkName("key", key); err != nil {
		return err
	}
	c, err := e.api()
	if err != nil {
		return err
	}
	var out struct {
		AuthorizeURL string `json:"authorize_url"`
	}
	resp, err := c.sendJSON(e.ctx, http.MethodPost, "/v1/keychains/"+segment(kc)+"/connect/"+segment(pkg)+"/"+segment(key), nil, &out)
	if err != nil {
		return err
	}
	if e.json {
		e.printJSON(resp.body)
		return nil
	}
	// Printed whole, on its own line, so it can be copied; it is the only
	// output, and it carries no token.
	if u, perr := url.Parse(out.AuthorizeURL); perr != nil || !u.IsAbs() {
		return errors.New("the API answered without a usable authorize_url")
	}
	e.printf("%s\n", out.AuthorizeURL)
	return nil
}
