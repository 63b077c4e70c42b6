package cli

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"
)

// summaryWindow is how far back keygate audit --summary looks by default:
// the owners' page's 30 days.
const summaryWindow = 30 * 24 * time.Hour

// usage is one package's use of one key in a summary.
type usage struct {
	Package string    `json:"package"`
	Key     string    `json:"key"`
	Allowed int       `json:"allowed"`
	Denied  int       `json:"denied"`
	Last    time.Time `json:"last"`
}

// summarize counts events by package and key: allowed and denied calls
// and the last one. Events that name no package (changes by the admin,
// sign-ins) are left out; a call that names no key counts under "-".
func summarize(evs []event) []usage {
	byKey := map[[2]string]*usage{}
	for _, ev := range evs {
		if ev.Package == "" || (ev.Action != "ingress" && ev.Action != "egress") {
			continue
		}
		keys := ev.Keys
		if len(keys) == 0 {
			keys = []string{""}
		}
		for _, k := range keys {
			u := byKey[[2]string{ev.Package, k}]
			if u == nil {
				u = &usage{Package: ev.Package, Key: k}
				byKey[[2]string{ev.Package, k}] = u
			}
			if ev.Decision == "allow" {
				u.Allowed++
			} else {
				u.Denied++
			}
			if ev.Time.After(u.Last) {
				u.Last = ev.Time
			}
		}
	}
	out := make([]usage, 0, len(byKey))
	for _, u := range byKey {
		out = append(out, *u)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Package != out[j].Package {
			return out[i].Package < out[j].Package
		}
		return out[i].Key < out[j].Key
	})
	return out
}

// printSummary prints the table of keygate audit --summary (with --json,
// its rows); truncated says the API's page was full, so older events were
// left out.
func printSummary(e *env, evs []event, since time.Time, truncated bool) error {
	rows := summarize(evs)
	if e.json {
		b, err := json.Marshal(rows)
		if err != nil {
			return err
		}
		e.printJSON(b)
		return nil
	}
	t := newTable(e.stdout, "PACKAGE", "KEY", "ALLOWED", "DENIED", "LAST")
	for _, u := range rows {
		t.row(u.Package, u.Key, strconv.Itoa(u.Allowed), strconv.Itoa(u.Denied), fmtTime(u.Last))
	}
	t.flush()
	if truncated && len(evs) > 0 {
		fmt.Fprintf(e.stdout, "(the newest %d events since %s only: narrow with --keychain, --package or --since)\n",
			len(evs), since.UTC().Format(time.RFC3339))
	}
	return nil
}
