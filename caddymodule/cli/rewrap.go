package cli

import "net/http"

func rewrapCmd() leaf {
	return leaf{
		name:  "rewrap",
		short: "Re-wraps every stored data key under the current master key",
		long: `
After a new master key is configured first in master_key and keygate is
reloaded, new values are sealed with it while older ones still open with the
old key. rewrap re-wraps every stored data key under the new key, online; it
may be run again if it is interrupted. When it succeeds, the old key can be
removed from master_key and keygate reloaded.`,
		run: rewrapRun,
	}
}

func rewrapRun(e *env, _ []string) error {
	c, err := e.api()
	if err != nil {
		return err
	}
	var out struct {
		Rewrapped   int    `json:"rewrapped"`
		MasterKeyID string `json:"master_key_id"`
	}
	resp, err := c.sendJSON(e.ctx, http.MethodPost, "/v1/rewrap", nil, &out)
	if err != nil {
		return err
	}
	if e.json {
		e.printJSON(resp.body)
		return nil
	}
	e.printf("Re-wrapped %d records under master key %s; older keys may now leave master_key.\n", out.Rewrapped, oneLine(out.MasterKeyID))
	return nil
}
