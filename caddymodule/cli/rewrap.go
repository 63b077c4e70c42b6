package cli

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/keygate/keygate/store"
)

func rewrapCmd() leaf {
	return leaf{
		name:  "rewrap",
		short: "Re-wraps every stored data key under the current master key",
		long: `
After a new master key is configured first in master_key and keygate is
reloaded, new values are sealed with it while older ones still open with the
old key. rewrap re-wraps every stored data key under the new key, online; it
may be run again if it is interrupted. When it succeeds, the old key can be
removed from master_key and keygate reloaded. It reports the records it
re-wrapped by kind (secrets, app secrets, signing keys, the proxy CA, audit
chain records); on a terminal a progress line shows them as it goes.`,
		run: rewrapRun,
	}
}

func rewrapRun(e *env, _ []string) error {
	c, err := e.api()
	if err != nil {
		return err
	}
	bar := newProgress(e, "rewrapping", -1, false)
	stop := bar.poll(e.ctx, rewrapPoll, func(ctx context.Context) (string, int, bool) {
		var p struct {
			Running bool               `json:"running"`
			ByKind  store.RewrapCounts `json:"by_kind"`
		}
		if _, err := c.getJSON(ctx, "/v1/rewrap", nil, &p); err != nil || !p.Running {
			return "", 0, false
		}
		return "rewrapping: " + kindCounts(p.ByKind), p.ByKind.Total(), true
	})
	var out rewrapResult
	resp, err := c.sendJSON(e.ctx, http.MethodPost, "/v1/rewrap", nil, &out)
	stop()
	bar.done()
	if err != nil {
		return err
	}
	if e.json {
		e.printJSON(resp.body)
		return nil
	}
	e.printf("%s", out.report())
	return nil
}

// rewrapPoll is how often the progress bar asks how far the rewrap got.
const rewrapPoll = 250 * time.Millisecond

type rewrapResult struct {
	Rewrapped   int                `json:"rewrapped"`
	ByKind      store.RewrapCounts `json:"by_kind"`
	MasterKeyID string             `json:"master_key_id"`
	IDs         []string           `json:"master_key_ids"`
	SealedBy    map[string]int     `json:"sealed_by_key"`
}

// kindCounts says what a rewrap changed, by kind, in words.
func kindCounts(c store.RewrapCounts) string {
	return fmt.Sprintf("%s, %s, %s, %s, %s", plural(c.Secrets, "secret"), plural(c.AppSecrets, "app secret"),
		plural(c.SigningKeys, "signing key"), plural(c.ProxyCA, "proxy CA"), plural(c.Audit, "audit chain record"))
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

// report says which key seals new values and what each key still seals.
// A key is said to be free to leave master_key only when nothing needs it.
func (r rewrapResult) report() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Re-wrapped %d records. Active master key (seals new values): %s.\n", r.Rewrapped, oneLine(r.MasterKeyID))
	fmt.Fprintf(&b, "  re-wrapped: %s\n", kindCounts(r.ByKind))
	others := 0
	for _, id := range r.IDs {
		n := r.SealedBy[id]
		switch {
		case id == r.MasterKeyID:
			fmt.Fprintf(&b, "  %s: %d records (active)\n", oneLine(id), n)
		case n > 0:
			others++
			fmt.Fprintf(&b, "  %s: still seals %d records: keep it in master_key, and run keygate rewrap again\n", oneLine(id), n)
		default:
			others++
			fmt.Fprintf(&b, "  %s: seals nothing: it may leave master_key\n", oneLine(id))
		}
	}
	if others == 0 {
		fmt.Fprintf(&b, "%s is the only master key, so nothing can leave master_key. To rotate, put a new key first in master_key and reload; keygate reload says whether the master keys changed.\n", oneLine(r.MasterKeyID))
	}
	return b.String()
}
