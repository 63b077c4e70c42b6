package store

import (
	"testing"
	"time"
)

func TestUsageTally(t *testing.T) {
	now := time.Date(2026, 3, 10, 15, 0, 0, 0, time.UTC)
	from := now.Add(-30 * 24 * time.Hour)
	tl := NewUsageTally(from, now)
	at := func(daysAgo int) time.Time { return now.Add(-time.Duration(daysAgo) * 24 * time.Hour) }
	for _, ev := range []AuditEvent{
		{Time: at(0), Action: "egress", Package: "@a/p", Keys: []string{"K"}, Decision: "allow"},
		{Time: at(0), Action: "ingress", Package: "@a/p", Keys: []string{"K", "L"}, Decision: "allow"},
		{Time: at(3), Action: "ingress", Package: "@a/p", Keys: []string{"K"}, Decision: "deny"},
		{Time: at(3), Action: "ingress", Package: "@a/p", Decision: "deny"},
		{Time: at(30), Action: "ingress", Package: "@a/p", Keys: []string{"K"}, Decision: "allow"},
		{Time: at(40), Action: "ingress", Package: "@a/p", Keys: []string{"K"}, Decision: "allow"}, // before the first day
		{Time: now.Add(24 * time.Hour), Action: "ingress", Package: "@a/p", Keys: []string{"K"}, Decision: "allow"},
		{Time: at(1), Action: "grant.put", Package: "@a/p", Keys: []string{"K"}, Decision: "ok"},
		{Time: at(1), Action: "ingress", Keys: []string{"K"}, Decision: "allow"},
	} {
		tl.Add(&ev)
	}
	rows := tl.Rows()
	if len(rows) != 3 || rows[0].Key != "" || rows[1].Key != "K" || rows[2].Key != "L" {
		t.Fatalf("rows %+v", rows)
	}
	k := rows[1]
	if len(k.Days) != 31 || !k.Days[0].Day.Equal(time.Date(2026, 2, 8, 0, 0, 0, 0, time.UTC)) || !k.Days[30].Day.Equal(time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("days %v .. %v (%d)", k.Days[0].Day, k.Days[len(k.Days)-1].Day, len(k.Days))
	}
	if k.Allowed != 3 || k.Denied != 1 || k.Days[30].Allowed != 2 || k.Days[27].Denied != 1 || k.Days[0].Allowed != 1 || !k.Last.Equal(now) {
		t.Fatalf("K: %+v", k)
	}
	if rows[0].Denied != 1 || rows[2].Allowed != 1 {
		t.Fatalf("rows %+v", rows)
	}
}
