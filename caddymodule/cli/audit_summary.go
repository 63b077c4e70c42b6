package cli

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/keygate/keygate/store"
)

// summaryWindow is how far back keygate audit --summary looks by default:
// the owners' page's 30 days.
const summaryWindow = 30 * 24 * time.Hour

// summarize tallies the events by package, key and day
// (store.UsageTally, which the owners' page charts too), from since's day
// to the newest event's or today.
func summarize(evs []event, since time.Time) []store.KeyUsage {
	until := time.Now()
	for _, ev := range evs {
		if ev.Time.After(until) {
			until = ev.Time
		}
	}
	t := store.NewUsageTally(since, until)
	for _, ev := range evs {
		t.Add(&store.AuditEvent{Time: ev.Time, Action: ev.Action, Package: ev.Package, Keys: ev.Keys, Decision: ev.Decision})
	}
	return t.Rows()
}

// printSummary prints the table of keygate audit --summary (with --json,
// its rows); truncated says the API's page was full, so older events were
// left out.
func printSummary(e *env, evs []event, since time.Time, truncated bool) error {
	rows := summarize(evs, since)
	if e.json {
		b, err := json.Marshal(rows)
		if err != nil {
			return err
		}
		e.printJSON(b)
		return nil
	}
	t := newTable(e.stdout, "PACKAGE", "KEY", "ALLOWED", "DENIED", "LAST", "DAILY")
	for _, u := range rows {
		key := u.Key
		if key == "" {
			key = "-"
		}
		t.row(u.Package, key, strconv.Itoa(u.Allowed), strconv.Itoa(u.Denied), fmtTime(u.Last), sparkline(u.Days))
	}
	t.flush()
	if truncated && len(evs) > 0 {
		fmt.Fprintf(e.stdout, "(the newest %d events since %s only: narrow with --keychain, --package or --since)\n",
			len(evs), since.UTC().Format(time.RFC3339))
	}
	return nil
}

// sparkDays is how many of the newest days the DAILY column draws.
const sparkDays = 31

// sparkline draws the calls of each of the newest days, oldest first, as
// the owners' page's bars in one line: "." for a day without calls, else
// a block as high as the day's calls against the busiest day's.
func sparkline(days []store.DayUsage) string {
	days = days[max(0, len(days)-sparkDays):]
	peak := 0
	for _, d := range days {
		peak = max(peak, d.Allowed+d.Denied)
	}
	blocks := []rune("▁▂▃▄▅▆▇█")
	var b strings.Builder
	for _, d := range days {
		n := d.Allowed + d.Denied
		if n == 0 {
			b.WriteByte('.')
			continue
		}
		b.WriteRune(blocks[(n*len(blocks)-1)/peak])
	}
	return b.String()
}
