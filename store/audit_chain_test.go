package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// appendSegments writes n segments of 3 events each, one second apart.
func appendSegments(t testing.TB, s *Store, clk *clock, n int) {
	t.Helper()
	for i := range n {
		var evs []AuditEvent
		for j := range 3 {
			evs = append(evs, AuditEvent{
				Time: clk.Now().Add(time.Duration(j) * time.Millisecond), Actor: "agent", Action: "egress",
				Keychain: fmt.Sprintf("kc_%d", i%2), Package: "@p/x", Decision: "allow", Host: "api.example.com",
			})
		}
		if err := s.AppendAudit(evs); err != nil {
			t.Fatal(err)
		}
		clk.Add(time.Second)
	}
}

// chainKeys returns the segment keys in chain order, from the seq index.
func chainKeys(t testing.TB, s *Store) [][]byte {
	t.Helper()
	var keys [][]byte
	err := s.be.View(context.Background(), func(r reader) error {
		return r.Iterate(iterOptions{Prefix: []byte(pfxAuditBySeq)}, func(_, v []byte) error {
			keys = append(keys, bytes.Clone(v))
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func rawDelete(t testing.TB, s *Store, keys ...[]byte) {
	t.Helper()
	if err := s.update(func(w writer) error {
		for _, k := range keys {
			if err := w.Delete(k); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func verifyOK(t testing.TB, s *Store) AuditVerifyReport {
	t.Helper()
	rep, err := s.VerifyAudit()
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || rep.FirstBad != nil {
		t.Fatalf("verify: %+v, first bad %+v", rep, rep.FirstBad)
	}
	return rep
}

// writeLegacySegment stores evs as keygate did before the chain: a bare
// JSON array and its index entries.
func writeLegacySegment(t testing.TB, s *Store, evs []AuditEvent) {
	t.Helper()
	for i := range evs {
		evs[i].Time = evs[i].Time.UTC()
		evs[i].ID = newAuditID(evs[i].Time)
	}
	seg := auditKey(evs[0].Time, evs[0].ID)
	kcs, pkgs := auditOwners(evs)
	if err := s.update(func(w writer) error {
		if err := setJSON(w, seg, evs); err != nil {
			return err
		}
		for _, kc := range kcs {
			if err := w.Set(auditIndexKeyOf(pfxAuditByKC, kc, seg), nil); err != nil {
				return err
			}
		}
		for _, pkg := range pkgs {
			if err := w.Set(auditIndexKeyOf(pfxAuditByPkg, pkg, seg), nil); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// forgedKey is a segment key an attacker makes up, after every real one.
func forgedKey(clk *clock) []byte {
	return auditKey(clk.Now().Add(time.Hour), "ev_forged")
}

func TestAuditAppendRefusesABrokenHead(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, s *Store)
	}{
		{"head edited", func(t *testing.T, s *Store) {
			v := rawGet(t, s, []byte(keyAuditHead))
			v[len(v)-1] ^= 1
			rawSet(t, s, []byte(keyAuditHead), v)
		}},
		{"head deleted", func(t *testing.T, s *Store) { rawDelete(t, s, []byte(keyAuditHead)) }},
		{"head and anchor deleted", func(t *testing.T, s *Store) {
			rawDelete(t, s, []byte(keyAuditHead), []byte(keyAuditAnchor))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, clk := memStore(t)
			appendSegments(t, s, clk, 2)
			tc.tamper(t, s)
			before := chainKeys(t, s)
			err := s.AppendAudit([]AuditEvent{{Action: "egress", Decision: "allow"}})
			wantErr(t, err, ErrCorrupt)
			if after := chainKeys(t, s); len(after) != len(before) {
				t.Fatalf("a refused append changed the chain: %d -> %d", len(before), len(after))
			}
		})
	}
}

func TestAuditLegacySegments(t *testing.T) {
	s, clk := memStore(t)
	t0 := clk.Now()
	for i := range 3 {
		writeLegacySegment(t, s, []AuditEvent{
			{Time: t0.Add(time.Duration(i) * time.Second), Action: "egress", Decision: "allow", Keychain: "kc_old"},
			{Time: t0.Add(time.Duration(i)*time.Second + time.Millisecond), Action: "egress", Decision: "deny", Keychain: "kc_old"},
		})
	}
	// Before the chain: legacy only, nothing to prove.
	if rep := verifyOK(t, s); rep.Legacy != 3 || rep.Segments != 0 {
		t.Fatalf("legacy only: %+v", rep)
	}
	clk.Add(10 * time.Second)
	appendSegments(t, s, clk, 2)
	if rep := verifyOK(t, s); rep.Legacy != 3 || rep.Segments != 2 || rep.Events != 6 {
		t.Fatalf("legacy then chain: %+v", rep)
	}
	if got, _ := s.QueryAudit(AuditQuery{}); len(got) != 12 {
		t.Fatalf("query reads both formats: %d events", len(got))
	}
	if got, _ := s.QueryAudit(AuditQuery{Keychain: "kc_old"}); len(got) != 6 {
		t.Fatalf("indexed query of legacy: %d events", len(got))
	}

	// An old-format segment written after the chain began is forged.
	clk.Add(time.Second)
	writeLegacySegment(t, s, []AuditEvent{{Time: clk.Now(), Action: "egress", Decision: "allow"}})
	rep, _ := s.VerifyAudit()
	if rep.FirstBad == nil || rep.FirstBad.Problem != auditForged {
		t.Fatalf("late legacy segment: %+v", rep.FirstBad)
	}
	var late []byte
	s.be.View(context.Background(), func(r reader) error {
		return r.Iterate(iterOptions{Prefix: []byte(pfxAudit), Reverse: true, KeysOnly: true}, func(k, _ []byte) error {
			late = bytes.Clone(k)
			return errStop
		})
	})
	rawDelete(t, s, late)

	// Legacy segments prune by time, trimming as before.
	if n, err := s.PruneAudit(t0.Add(1*time.Second + time.Millisecond)); err != nil || n != 3 {
		t.Fatalf("prune legacy: %d %v", n, err)
	}
	if rep := verifyOK(t, s); rep.Legacy != 2 || rep.Segments != 2 {
		t.Fatalf("after pruning legacy: %+v", rep)
	}
	if n, err := s.PruneAudit(clk.Now().Add(time.Hour)); err != nil || n != 3+6 {
		t.Fatalf("prune all: %d %v", n, err)
	}
	if rep := verifyOK(t, s); rep.Legacy != 0 || rep.Segments != 0 {
		t.Fatalf("after pruning all: %+v", rep)
	}
	for _, p := range []string{pfxAuditByKC, pfxAuditByPkg, pfxAuditBySeq} {
		if keys, _ := collectKeysView(t, s, p); len(keys) != 0 {
			t.Fatalf("%s left %d entries", p, len(keys))
		}
	}
}

func collectKeysView(t testing.TB, s *Store, prefix string) ([][]byte, error) {
	t.Helper()
	var keys [][]byte
	err := s.be.View(context.Background(), func(r reader) error {
		var err error
		keys, err = collectKeys(r, []byte(prefix), 1<<20)
		return err
	})
	return keys, err
}

func TestAuditConcurrentAppendsMakeOneChain(t *testing.T) {
	s, _ := memStore(t)
	const writers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := s.AppendAudit([]AuditEvent{{Action: "egress", Decision: "allow", RequestID: fmt.Sprintf("r%d-%d", g, i)}}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if rep := verifyOK(t, s); rep.Segments != writers*each || rep.Events != writers*each {
		t.Fatalf("%+v", rep)
	}
}

// Nodes on one database do not share a lock: their transactions race on
// the head, and the database orders them (a lost race retries).
func TestAuditConcurrentNodesMakeOneChain(t *testing.T) {
	s, clk := memStore(t)
	const nodes, each = 4, 20
	var wg sync.WaitGroup
	errs := make(chan error, nodes)
	for g := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				evs := []AuditEvent{{ID: fmt.Sprintf("ev_node%d_%03d", g, i), Time: clk.Now(), Action: "egress", Decision: "allow"}}
				events, _ := json.Marshal(evs)
				seg := auditKey(evs[0].Time, evs[0].ID)
				for {
					err := s.update(func(w writer) error { _, err := chainSegmentWitness(w, s.kr, seg, events); return err })
					if errors.Is(err, ErrConflict) {
						continue // as a node's database would retry
					}
					if err != nil {
						errs <- err
						return
					}
					break
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if rep := verifyOK(t, s); rep.Segments != nodes*each {
		t.Fatalf("%+v", rep)
	}
}

// No value reaches the audit trail, its chain records, its report or the
// store's log lines while appending, pruning, rewrapping and verifying.
func TestAuditChainHoldsNoValue(t *testing.T) {
	s, clk := memStore(t)
	log := &recordingLogger{}
	s.log = log
	const value = "sk_live_audit_must_never_see_this"
	kc := mustKeychain(t, s).ID
	if _, err := s.PutSecret(kc, "STRIPE", []byte(value), SecretOptions{}); err != nil {
		t.Fatal(err)
	}
	appendSegments(t, s, clk, 3)
	keys := chainKeys(t, s)
	rawSet(t, s, keys[2], bytes.Replace(rawGet(t, s, keys[2]), []byte("allow"), []byte("deny!"), 1))
	s.kr = testKeyring(t, "k2", "k1")
	if _, err := s.Rewrap(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, pruneErr := s.PruneAudit(clk.Now())
	rep, err := s.VerifyAudit()
	if err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(rep)
	seen := []string{string(out), fmt.Sprint(pruneErr)}
	seen = append(seen, log.all()...)
	s.be.View(context.Background(), func(r reader) error {
		for _, p := range []string{pfxAudit, pfxAuditBySeq, keyAuditHead, keyAuditAnchor} {
			r.Iterate(iterOptions{Prefix: []byte(p)}, func(k, v []byte) error {
				seen = append(seen, string(k), string(v))
				return nil
			})
		}
		return nil
	})
	for _, line := range seen {
		if strings.Contains(line, value) {
			t.Fatalf("value leaked: %q", line)
		}
	}
}

func BenchmarkAppendAudit(b *testing.B) {
	batch := func(clk *clock) []AuditEvent {
		evs := make([]AuditEvent, 100)
		for i := range evs {
			evs[i] = AuditEvent{Time: clk.Now(), Actor: "agent", Action: "egress", Keychain: benchKeychainID(i % 7),
				Package: "@acme/tools", Keys: []string{"STRIPE_SECRET_KEY"}, Decision: "allow", Status: 200,
				RequestID: "0123456789abcdef", Host: "api.stripe.com"}
		}
		return evs
	}
	for _, disk := range []bool{false, true} {
		open := func(b *testing.B) (*Store, *clock) {
			if !disk {
				return memStore(b)
			}
			clk := newClock()
			s, err := Open(Options{Dir: b.TempDir(), Keyring: testKeyring(b, "k1"), Now: clk.Now})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s, clk
		}
		where := map[bool]string{false: "memory", true: "disk"}[disk]
		// before: the segment write as it was, one JSON record and its index.
		b.Run(where+"/legacy-100", func(b *testing.B) {
			s, clk := open(b)
			b.ReportAllocs()
			for b.Loop() {
				writeLegacySegment(b, s, batch(clk))
				clk.Add(time.Millisecond)
			}
		})
		b.Run(where+"/chained-100", func(b *testing.B) {
			s, clk := open(b)
			b.ReportAllocs()
			for b.Loop() {
				if err := s.AppendAudit(batch(clk)); err != nil {
					b.Fatal(err)
				}
				clk.Add(time.Millisecond)
			}
		})
	}
}
