package cli

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/spf13/pflag"
)

// heldCall is a call held for a keychain's owner, as the API shows it.
type heldCall struct {
	ID         string    `json:"id"`
	Package    string    `json:"package"`
	Key        string    `json:"key"`
	Kind       string    `json:"kind"`
	Reason     string    `json:"reason"`
	Method     string    `json:"method"`
	Host       string    `json:"host"`
	Path       string    `json:"path"`
	BodySize   int64     `json:"body_size"`
	BodySHA256 string    `json:"body_sha256"`
	Expires    time.Time `json:"expires"`
}

func pendingCommands() []leaf {
	return []leaf{
		{
			name: "list", usage: "<keychain>",
			short:   "Lists the calls waiting for the keychain's owner",
			minArgs: 1, maxArgs: 1,
			run: pendingList,
		},
		{
			name: "approve", usage: "<keychain> <id>",
			short: "Approves a held call once, or its exact shape for a time",
			long: `
Approves the held call: once, or with --for <duration> every call of the
same exact shape (package, key, method, host, path and body) for that long.
The call goes on at once.`,
			minArgs: 2, maxArgs: 2,
			flags: func(f *pflag.FlagSet) {
				f.String("for", "", "approve this exact shape for a time, e.g. 1h (at most 720h)")
			},
			run: pendingApprove,
		},
		{
			name: "refuse", usage: "<keychain> <id>",
			short:   "Refuses a held call",
			minArgs: 2, maxArgs: 2,
			run: pendingRefuse,
		},
	}
}

func pendingList(e *env, args []string) error {
	var out struct {
		Pending []heldCall `json:"pending"`
	}
	if done, err := e.show("/v1/keychains/"+segment(args[0])+"/pending", nil, &out); done || err != nil {
		return err
	}
	if len(out.Pending) == 0 {
		e.printf("No calls are waiting for this keychain's owner.\n")
		return nil
	}
	t := newTable(e.stdout, "ID", "KIND", "PACKAGE", "KEY", "REQUEST", "BODY", "EXPIRES")
	for _, c := range out.Pending {
		req := strings.TrimSpace(c.Method + " " + c.Host + c.Path)
		body := ""
		if c.BodySHA256 != "" {
			body = fmt.Sprintf("%d B sha256 %s", c.BodySize, short(c.BodySHA256))
		}
		t.row(c.ID, c.Kind, c.Package, c.Key, req, body, fmtTime(c.Expires))
	}
	t.flush()
	return nil
}

func pendingApprove(e *env, args []string) error {
	body := map[string]string{"scope": "once"}
	if f, _ := e.flags.GetString("for"); f != "" {
		d, err := caddy.ParseDuration(f)
		if err != nil || d < time.Second {
			return usageErrorf("--for wants a duration of at least 1s such as 1h, got %q", oneLine(f))
		}
		body = map[string]string{"scope": "shape", "for": f}
	}
	return pendingDecide(e, args, "approve", body)
}

func pendingRefuse(e *env, args []string) error {
	return pendingDecide(e, args, "refuse", nil)
}

func pendingDecide(e *env, args []string, verb string, body any) error {
	c, err := e.api()
	if err != nil {
		return err
	}
	var h heldCall
	resp, err := c.sendJSON(e.ctx, http.MethodPost, "/v1/keychains/"+segment(args[0])+"/pending/"+segment(args[1])+"/"+verb, body, &h)
	if err != nil {
		return err
	}
	if e.json {
		e.printJSON(resp.body)
		return nil
	}
	done := "Approved"
	if verb == "refuse" {
		done = "Refused"
	}
	e.printf("%s held call %s (%s %s%s) of keychain %s.\n", done, oneLine(h.ID), oneLine(h.Method), oneLine(h.Host), oneLine(h.Path), oneLine(args[0]))
	return nil
}
