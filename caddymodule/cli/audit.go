package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"
)

// event is an audit event as the API answers it.
type event struct {
	ID        string    `json:"id"`
	Time      time.Time `json:"time"`
	Actor     string    `json:"actor"`
	Action    string    `json:"action"`
	Keychain  string    `json:"keychain"`
	Package   string    `json:"package"`
	Keys      []string  `json:"keys"`
	Decision  string    `json:"decision"`
	Status    int       `json:"status"`
	Reason    string    `json:"reason"`
	RequestID string    `json:"request_id"`
	Host      string    `json:"host"`

	raw json.RawMessage
}

// Following the audit log: the API has no stream, so --follow polls.
// Events are stamped when they happen and written in batches, so one can
// land behind a newer one already seen: each poll looks back
// followOverlap and drops events already printed, by id.
var followEvery = time.Second

const (
	followOverlap     = 5 * time.Second
	followPage        = 1000 // the API's largest limit
	followMaxFailures = 30   // consecutive failed polls before giving up
	auditTimeFormat   = "2006-01-02T15:04:05.000Z07:00"
)

func auditCmd() leaf {
	return leaf{
		name:  "audit",
		usage: "[verify] [--keychain <keychain>] [--package <@scope/name>] [--since <time|duration>] [--limit <n>] [--follow | --summary]",
		short: "Shows the audit log: injections, denials and changes",
		long: `
Shows audit events, oldest first. --since takes an RFC 3339 time or a
duration back from now (1h, 30m); --limit is 1 to 1000 (default 100).

--follow keeps printing new events as they are written, until interrupted.
--summary prints a table instead: each package's calls with each key,
allowed and denied, and the last one, over the last 30 days unless --since
says otherwise (from the newest 1000 events, which it says when it is cut),
and its DAILY column draws the newest 31 days' calls, one character a day:
the owners' page charts the same counts. With --json its rows also hold
the counts per UTC day. With --json, events are printed as the API's JSON: one array, or with
--follow one object per line.

keygate audit verify checks the whole trail's HMAC chain (keyed from the
master key): exit 0 when it is whole, 1 when it is broken, naming the first
bad segment and what is wrong with it (edited, deleted, reordered, forged,
replayed or truncated).`,
		maxArgs: 0,
		tooMany: "unknown argument: want 'keygate audit' or 'keygate audit verify'",
		subs: []leaf{{
			name:  "verify",
			short: "Checks the audit trail's HMAC chain: exit 0 when whole, 1 when broken",
			long: `
Checks the whole audit trail's HMAC chain (keyed from the master key)
through the API: exit 0 when it is whole, 1 when it is broken, naming the
first bad segment and what is wrong with it (edited, deleted, reordered,
forged, replayed or truncated). With --witness <file>, a keygate.audit log
exported from the nodes (JSON lines), it also fails when the database is
behind the newest "audit chain head" line in it: a database rolled back or
replaced as a whole keeps its chain whole, but not the segments the log saw.`,
			flags: func(f *pflag.FlagSet) {
				f.String("witness", "", "an exported keygate.audit log; fail if the database is behind its newest chain head")
			},
			run: func(e *env, _ []string) error { return auditVerify(e) },
		}},
		flags: func(f *pflag.FlagSet) {
			f.String("keychain", "", "only events of this keychain")
			f.String("package", "", "only events of this package")
			f.String("since", "", "only events at or after this RFC 3339 time, or this long ago (e.g. 1h)")
			f.Int("limit", 0, "at most this many events, newest kept (1 to 1000; default 100)")
			f.BoolP("follow", "f", false, "keep printing new events until interrupted")
			f.Bool("summary", false, "a table of each package's use of each key (default --since 720h)")
		},
		run: auditRun,
	}
}

func auditRun(e *env, _ []string) error {
	q := url.Values{}
	for _, name := range []string{"keychain", "package"} {
		if v, _ := e.flags.GetString(name); v != "" {
			q.Set(name, v)
		}
	}
	sinceFlag, _ := e.flags.GetString("since")
	since, err := parseSince(sinceFlag, time.Now())
	if err != nil {
		return err
	}
	limit, _ := e.flags.GetInt("limit")
	if limit < 0 || limit > followPage || (e.flags.Changed("limit") && limit == 0) {
		return usageErrorf("--limit must be from 1 to %d", followPage)
	}
	follow, _ := e.flags.GetBool("follow")
	summary, _ := e.flags.GetBool("summary")
	if summary && follow {
		return usageErrorf("--summary and --follow do not go together")
	}
	c, err := e.api()
	if err != nil {
		return err
	}
	if summary {
		if sinceFlag == "" {
			since = time.Now().Add(-summaryWindow)
		}
		if limit == 0 {
			limit = followPage
		}
		evs, _, _, err := queryAudit(e.ctx, c, q, since, limit)
		if err != nil {
			return err
		}
		return printSummary(e, evs, since, len(evs) == limit)
	}
	if !follow {
		evs, raw, _, err := queryAudit(e.ctx, c, q, since, limit)
		if err != nil {
			return err
		}
		if e.json {
			e.printJSON(raw)
			return nil
		}
		t := newTable(e.stdout, auditHeader...)
		for _, ev := range slices.Backward(evs) {
			t.row(auditCells(ev)...)
		}
		t.flush()
		return nil
	}
	ctx, stop := signal.NotifyContext(e.ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	return (&follower{e: e, c: c, q: q, seen: map[string]time.Time{}}).run(ctx, since, limit)
}

// parseSince reads an RFC 3339 time or a duration back from now.
func parseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, usageErrorf("--since must be an RFC 3339 time such as 2026-01-02T15:04:05Z, or a duration such as 1h")
}

// queryAudit returns events newest first, as the API does, with the raw
// answer and the server's clock.
func queryAudit(ctx context.Context, c *client, q url.Values, since time.Time, limit int) ([]event, []byte, time.Time, error) {
	q2 := url.Values{}
	for k, v := range q {
		q2[k] = v
	}
	if !since.IsZero() {
		q2.Set("since", since.UTC().Format(time.RFC3339Nano))
	}
	if limit > 0 {
		q2.Set("limit", strconv.Itoa(limit))
	}
	resp, err := c.do(ctx, http.MethodGet, "/v1/audit", q2, nil)
	if err != nil {
		return nil, nil, time.Time{}, err
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(resp.body, &raws); err != nil {
		return nil, nil, time.Time{}, fmt.Errorf("the API's answer is not the JSON expected: %v", err)
	}
	evs := make([]event, 0, len(raws))
	for _, r := range raws {
		var ev event
		if err := json.Unmarshal(r, &ev); err != nil {
			return nil, nil, time.Time{}, fmt.Errorf("the API's answer is not the JSON expected: %v", err)
		}
		ev.raw = r
		evs = append(evs, ev)
	}
	serverNow, err := http.ParseTime(resp.header.Get("Date"))
	if err != nil {
		serverNow = time.Now()
	}
	return evs, resp.body, serverNow, nil
}

var auditHeader = []string{"TIME", "ACTOR", "ACTION", "DECISION", "STATUS", "KEYCHAIN", "PACKAGE", "KEYS", "REASON", "HOST"}

// auditWidths are --follow's fixed column widths (0: as wide as needed),
// since a follower cannot align on rows it has not seen yet.
var auditWidths = []int{24, 8, 16, 8, 6, 29, 24, 0, 0, 0}

func auditCells(ev event) []string {
	status := ""
	if ev.Status != 0 {
		status = strconv.Itoa(ev.Status)
	}
	return []string{ev.Time.UTC().Format(auditTimeFormat), ev.Actor, ev.Action, ev.Decision, status,
		ev.Keychain, ev.Package, list(ev.Keys), ev.Reason, ev.Host}
}

func fixedRow(cells []string) string {
	var b strings.Builder
	for i, c := range cells {
		c = oneLine(c)
		if c == "" {
			c = "-"
		}
		if i > 0 {
			b.WriteString("  ")
		}
		b.WriteString(c)
		if i < len(auditWidths) && i < len(cells)-1 {
			for n := len(c); n < auditWidths[i]; n++ {
				b.WriteByte(' ')
			}
		}
	}
	return strings.TrimRight(b.String(), " ")
}

// follower prints new audit events as polls find them.
type follower struct {
	e *env
	c *client
	q url.Values

	seen   map[string]time.Time // ids printed within the look-back window
	cursor time.Time            // time of the newest event printed
	floor  time.Time            // events before this are not wanted
}

func (f *follower) run(ctx context.Context, since time.Time, limit int) error {
	first, _, serverNow, err := queryAudit(ctx, f.c, f.q, since, limit)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	f.floor, f.cursor = since, since
	pageSize := limit
	if pageSize == 0 {
		pageSize = 100
	}
	if len(first) >= pageSize {
		// Older events were left out of the first page; keep them out.
		f.floor = first[len(first)-1].Time
	}
	if len(first) == 0 && f.cursor.IsZero() {
		f.cursor = serverNow
	}
	if !f.e.json {
		fmt.Fprintln(f.e.stdout, fixedRow(auditHeader))
	}
	f.emit(first)

	ticker := time.NewTicker(followEvery)
	defer ticker.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
		evs, _, _, err := queryAudit(ctx, f.c, f.q, f.cursor.Add(-followOverlap), followPage)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ae *apiError
			failures++
			if (errors.As(err, &ae) && ae.status < 500) || failures >= followMaxFailures {
				return err
			}
			fmt.Fprintf(f.e.stderr, "keygate: %s: %s; retrying\n", f.e.path, oneLine(err.Error()))
			continue
		}
		failures = 0
		if f.emit(evs) == followPage {
			fmt.Fprintf(f.e.stderr, "keygate: %s: more than %d new events in one poll; some may be missing (see keygate audit --since)\n", f.e.path, followPage)
		}
		f.prune()
	}
}

// emit prints the events not printed yet, oldest first, and returns how
// many it printed.
func (f *follower) emit(evs []event) int {
	slices.SortStableFunc(evs, func(a, b event) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	n := 0
	for _, ev := range evs {
		if _, ok := f.seen[ev.ID]; ok || ev.Time.Before(f.floor) {
			continue
		}
		f.seen[ev.ID] = ev.Time
		if ev.Time.After(f.cursor) {
			f.cursor = ev.Time
		}
		n++
		if f.e.json {
			var b bytes.Buffer
			if json.Compact(&b, ev.raw) == nil {
				b.WriteByte('\n')
				f.e.stdout.Write(b.Bytes())
			}
			continue
		}
		fmt.Fprintln(f.e.stdout, fixedRow(auditCells(ev)))
	}
	return n
}

// prune forgets ids older than any poll can return again.
func (f *follower) prune() {
	horizon := f.cursor.Add(-2 * followOverlap)
	for id, t := range f.seen {
		if t.Before(horizon) {
			delete(f.seen, id)
		}
	}
}
