package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestAuditAppendQueryPrune(t *testing.T) {
	s, clk := memStore(t)
	t0 := clk.Now()
	var evs []AuditEvent
	for i := range 30 {
		evs = append(evs, AuditEvent{
			Time:     t0.Add(time.Duration(i) * time.Second),
			Actor:    "agent",
			Action:   "ingress",
			Keychain: fmt.Sprintf("kc_%d", i%3),
			Package:  fmt.Sprintf("@p/%d", i%2),
			Decision: "allow",
		})
	}
	if err := s.AppendAudit(evs); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Hour)
	if err := s.AppendAudit([]AuditEvent{{Action: "secret.put", Decision: "ok"}}); err != nil { // zero time = now
		t.Fatal(err)
	}

	all, err := s.QueryAudit(AuditQuery{})
	if err != nil || len(all) != 31 {
		t.Fatalf("all: %d %v", len(all), err)
	}
	for i := 1; i < len(all); i++ {
		if all[i].Time.After(all[i-1].Time) {
			t.Fatal("not newest first")
		}
		if all[i].ID == "" || all[i].ID == all[i-1].ID {
			t.Fatal("ids missing or repeated")
		}
	}

	for _, tc := range []struct {
		name string
		q    AuditQuery
		want int
		ok   func(AuditEvent) bool
	}{
		{"keychain", AuditQuery{Keychain: "kc_1"}, 10, func(e AuditEvent) bool { return e.Keychain == "kc_1" }},
		{"package", AuditQuery{Package: "@p/0"}, 15, func(e AuditEvent) bool { return e.Package == "@p/0" }},
		{"both", AuditQuery{Keychain: "kc_0", Package: "@p/0"}, 5, func(e AuditEvent) bool { return e.Keychain == "kc_0" && e.Package == "@p/0" }},
		{"since", AuditQuery{Since: t0.Add(20 * time.Second)}, 11, func(e AuditEvent) bool { return !e.Time.Before(t0.Add(20 * time.Second)) }},
		{"since+keychain", AuditQuery{Keychain: "kc_2", Since: t0.Add(20 * time.Second)}, 4, func(e AuditEvent) bool { return e.Keychain == "kc_2" }},
		{"limit", AuditQuery{Limit: 4}, 4, func(AuditEvent) bool { return true }},
		{"unknown", AuditQuery{Keychain: "kc_9"}, 0, nil},
	} {
		got, err := s.QueryAudit(tc.q)
		if err != nil || len(got) != tc.want {
			t.Errorf("%s: %d events, %v; want %d", tc.name, len(got), err, tc.want)
			continue
		}
		for i, e := range got {
			if !tc.ok(e) {
				t.Errorf("%s: event %+v does not match", tc.name, e)
			}
			if i > 0 && e.Time.After(got[i-1].Time) {
				t.Errorf("%s: not newest first", tc.name)
			}
		}
	}
	if got, _ := s.QueryAudit(AuditQuery{Limit: 4}); !got[0].Time.Equal(clk.Now()) {
		t.Fatal("limit did not keep the newest")
	}
	_, err = s.QueryAudit(AuditQuery{Limit: -1})
	wantErr(t, err, ErrInvalid)

	n, err := s.PruneAudit(t0.Add(10 * time.Second))
	if err != nil || n != 10 {
		t.Fatalf("prune: %d %v", n, err)
	}
	if got, _ := s.QueryAudit(AuditQuery{Keychain: "kc_0"}); len(got) != 6 {
		t.Fatalf("after prune kc_0 has %d events", len(got))
	}
	// Every index entry left points to a segment that still holds events
	// of its keychain: pruning leaves no dangling or stale entries.
	idx := 0
	err = s.be.View(context.Background(), func(r reader) error {
		return r.Iterate(iterOptions{Prefix: []byte(pfxAuditByKC), KeysOnly: true}, func(k, _ []byte) error {
			idx++
			rest := k[len(pfxAuditByKC):]
			kc := string(rest[:bytes.IndexByte(rest, sep)])
			raw, err := r.Get(auditKeyFromIndex(k, len(pfxAuditByKC)+len(kc)+1))
			if err != nil {
				return fmt.Errorf("index entry of %s dangles: %w", kc, err)
			}
			seg, err := segmentEvents(raw)
			if err != nil {
				return err
			}
			if !slices.ContainsFunc(seg, func(e AuditEvent) bool { return e.Keychain == kc }) {
				return fmt.Errorf("index entry of %s points to a segment without its events", kc)
			}
			return nil
		})
	})
	if err != nil || idx == 0 {
		t.Fatalf("index after prune: %d entries, %v", idx, err)
	}
}

func TestAuditLimits(t *testing.T) {
	s, clk := memStore(t)
	evs := make([]AuditEvent, 2500) // splits into 3 transactions
	for i := range evs {
		evs[i] = AuditEvent{Time: clk.Now().Add(time.Duration(i)), Action: "egress", Decision: "allow", Keychain: "kc_x"}
	}
	if err := s.AppendAudit(evs); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.QueryAudit(AuditQuery{}); len(got) != defaultAuditLimit {
		t.Fatalf("default limit: %d", len(got))
	}
	if got, _ := s.QueryAudit(AuditQuery{Limit: 5000, Keychain: "kc_x"}); len(got) != maxAuditLimit {
		t.Fatalf("cap: %d", len(got))
	}
	n, err := s.PruneAudit(clk.Now().Add(time.Hour))
	if err != nil || n != 2500 {
		t.Fatalf("prune all: %d %v", n, err)
	}
	err = s.AppendAudit([]AuditEvent{{Keychain: "a\x00b"}})
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Field != "events[0].keychain" {
		t.Fatalf("NUL in keychain: %v", err)
	}
}

func TestAuditIDSortable(t *testing.T) {
	t0 := time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)
	prev := ""
	for i := range 5 {
		id := newAuditID(t0.AddDate(i*30, 0, 0))
		if id <= prev {
			t.Fatalf("%q <= %q", id, prev)
		}
		prev = id
	}
}
