package store

import (
	"sort"
	"time"
)

// KeyUsage is one package's use of one key over a run of days: the calls
// allowed and denied, the last one, and the same counts per day. It holds
// names and counts only, never a value.
type KeyUsage struct {
	Package string     `json:"package"`
	Key     string     `json:"key"` // "" for calls that named no key
	Allowed int        `json:"allowed"`
	Denied  int        `json:"denied"`
	Last    time.Time  `json:"last"`
	Days    []DayUsage `json:"days"` // oldest first, one per UTC day
}

// DayUsage is the calls of one UTC day.
type DayUsage struct {
	Day     time.Time `json:"day"` // midnight UTC
	Allowed int       `json:"allowed"`
	Denied  int       `json:"denied"`
}

// UsageTally counts agents' and packages' calls (ingress and egress
// events) by package, key and UTC day, from the day of from to the day of
// until. Events that name no package (the admin's changes, sign-ins) and
// events outside those days are left out; a call that names no key counts
// under "". The owners' page charts it and keygate audit --summary prints
// it, so both count the same way.
type UsageTally struct {
	first time.Time // midnight UTC of the first day
	days  int
	rows  map[[2]string]*KeyUsage
}

// NewUsageTally tallies the days from from's to until's, both included.
func NewUsageTally(from, until time.Time) *UsageTally {
	first := utcDay(from)
	days := int(utcDay(until).Sub(first)/(24*time.Hour)) + 1
	return &UsageTally{first: first, days: max(days, 1), rows: map[[2]string]*KeyUsage{}}
}

func utcDay(t time.Time) time.Time {
	return t.UTC().Truncate(24 * time.Hour)
}

// Add counts ev if it is a call of a package inside the tally's days.
func (t *UsageTally) Add(ev *AuditEvent) {
	if ev.Package == "" || (ev.Action != "ingress" && ev.Action != "egress") || ev.Time.Before(t.first) {
		return
	}
	day := int(ev.Time.Sub(t.first) / (24 * time.Hour))
	if day >= t.days {
		return
	}
	keys := ev.Keys
	if len(keys) == 0 {
		keys = []string{""}
	}
	for _, k := range keys {
		u := t.rows[[2]string{ev.Package, k}]
		if u == nil {
			u = &KeyUsage{Package: ev.Package, Key: k, Days: make([]DayUsage, t.days)}
			for i := range u.Days {
				u.Days[i].Day = t.first.Add(time.Duration(i) * 24 * time.Hour)
			}
			t.rows[[2]string{ev.Package, k}] = u
		}
		if ev.Decision == "allow" {
			u.Allowed++
			u.Days[day].Allowed++
		} else {
			u.Denied++
			u.Days[day].Denied++
		}
		if ev.Time.After(u.Last) {
			u.Last = ev.Time
		}
	}
}

// Rows returns the tally by package, then key.
func (t *UsageTally) Rows() []KeyUsage {
	out := make([]KeyUsage, 0, len(t.rows))
	for _, u := range t.rows {
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
