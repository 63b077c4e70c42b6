package store

import (
	"bytes"
	"context"
	"crypto/sha256"
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

func TestAuditVerifyFindsTampering(t *testing.T) {
	const n = 4 // segments; seq 1..4, keys[0..3]
	for _, tc := range []struct {
		name    string
		tamper  func(t *testing.T, s *Store, clk *clock, keys [][]byte)
		seq     uint64
		problem string
		segment string // "" = do not check
	}{
		{"edit an event", func(t *testing.T, s *Store, _ *clock, keys [][]byte) {
			v := rawGet(t, s, keys[1])
			rawSet(t, s, keys[1], bytes.Replace(v, []byte(`"allow"`), []byte(`"deny!"`), 1))
		}, 2, auditEdited, ""},
		{"edit the seq field", func(t *testing.T, s *Store, _ *clock, keys [][]byte) {
			h, events, _, _ := decodeSegment(rawGet(t, s, keys[1]))
			h.seq = 9
			rawSet(t, s, keys[1], encodeSegment(&h, events))
		}, 2, auditOrder, ""},
		{"edit the key id", func(t *testing.T, s *Store, _ *clock, keys [][]byte) {
			h, events, _, _ := decodeSegment(rawGet(t, s, keys[1]))
			h.keyID = "k9"
			rawSet(t, s, keys[1], encodeSegment(&h, events))
		}, 2, fmt.Sprintf(auditNoKey, "k9"), ""},
		{"garbage segment", func(t *testing.T, s *Store, _ *clock, keys [][]byte) {
			rawSet(t, s, keys[1], []byte{0xff, 1, 2})
		}, 2, auditEdited, ""},
		{"segment turned legacy", func(t *testing.T, s *Store, _ *clock, keys [][]byte) {
			_, events, _, _ := decodeSegment(rawGet(t, s, keys[1]))
			rawSet(t, s, keys[1], events)
		}, 2, auditEdited, ""},
		{"delete a middle segment", func(t *testing.T, s *Store, _ *clock, keys [][]byte) {
			rawDelete(t, s, keys[1])
		}, 2, fmt.Sprintf(auditMissing, 3), ""},
		{"delete a middle segment and its index entry", func(t *testing.T, s *Store, _ *clock, keys [][]byte) {
			rawDelete(t, s, keys[1], auditSeqKey(2))
		}, 2, fmt.Sprintf(auditMissing, 3), ""},
		{"delete the last segment", func(t *testing.T, s *Store, _ *clock, keys [][]byte) {
			rawDelete(t, s, keys[3], auditSeqKey(4))
		}, 4, auditTruncated, "head"},
		{"delete the last segment, not its index entry", func(t *testing.T, s *Store, _ *clock, keys [][]byte) {
			rawDelete(t, s, keys[3])
		}, 4, fmt.Sprintf(auditMissing, 5), ""},
		{"delete the first segment", func(t *testing.T, s *Store, _ *clock, keys [][]byte) {
			rawDelete(t, s, keys[0], auditSeqKey(1))
		}, 1, fmt.Sprintf(auditMissing, 2), ""},
		{"swap two segments", func(t *testing.T, s *Store, _ *clock, keys [][]byte) {
			a, b := rawGet(t, s, keys[1]), rawGet(t, s, keys[2])
			rawSet(t, s, keys[1], b)
			rawSet(t, s, keys[2], a)
		}, 2, auditOrder, ""},
		{"swap two index entries", func(t *testing.T, s *Store, _ *clock, keys [][]byte) {
			rawSet(t, s, auditSeqKey(2), keys[2])
			rawSet(t, s, auditSeqKey(3), keys[1])
		}, 2, auditOrder, ""},
		{"move a segment to another key", func(t *testing.T, s *Store, clk *clock, keys [][]byte) {
			v := rawGet(t, s, keys[1])
			rawDelete(t, s, keys[1])
			rawSet(t, s, forgedKey(clk), v)
			rawSet(t, s, auditSeqKey(2), forgedKey(clk))
		}, 2, auditEdited, "ev_forged"},
		{"insert a forged segment", func(t *testing.T, s *Store, clk *clock, keys [][]byte) {
			h, events, _, _ := decodeSegment(rawGet(t, s, keys[1]))
			h.mac[0] ^= 1
			rawSet(t, s, forgedKey(clk), encodeSegment(&h, events))
		}, 2, auditForged, "ev_forged"},
		{"append a forged segment after the head", func(t *testing.T, s *Store, clk *clock, keys [][]byte) {
			h, events, _, _ := decodeSegment(rawGet(t, s, keys[3]))
			h.seq, h.mac[0] = 5, h.mac[0]^1
			rawSet(t, s, forgedKey(clk), encodeSegment(&h, events))
			rawSet(t, s, auditSeqKey(5), forgedKey(clk))
		}, 5, auditForged, "ev_forged"},
		{"insert a legacy segment", func(t *testing.T, s *Store, clk *clock, keys [][]byte) {
			_, events, _, _ := decodeSegment(rawGet(t, s, keys[1]))
			rawSet(t, s, forgedKey(clk), events)
		}, 0, auditForged, "ev_forged"},
		{"replay an old segment under a new key", func(t *testing.T, s *Store, clk *clock, keys [][]byte) {
			rawSet(t, s, forgedKey(clk), rawGet(t, s, keys[0]))
		}, 1, auditReplayed, "ev_forged"},
		{"replay an old segment over a later one", func(t *testing.T, s *Store, _ *clock, keys [][]byte) {
			rawSet(t, s, keys[2], rawGet(t, s, keys[0]))
		}, 3, auditReplayed, ""},
		{"edit the head", func(t *testing.T, s *Store, _ *clock, _ [][]byte) {
			v := rawGet(t, s, []byte(keyAuditHead))
			v[len(v)-1] ^= 1
			rawSet(t, s, []byte(keyAuditHead), v)
		}, 0, auditEdited, "head"},
		{"roll the head back", func(t *testing.T, s *Store, _ *clock, keys [][]byte) {
			// The attacker can copy a link, not MAC it.
			h, events, _, _ := decodeSegment(rawGet(t, s, keys[2]))
			d := sha256.Sum256(events)
			link := segmentLink(&h, keys[2], &d)
			v := rawGet(t, s, []byte(keyAuditHead))
			body := appendBytes([]byte{auditChainFormatV1}, "k1")
			body = append(body, (&chainHead{seq: 3, link: link}).fields()...)
			rawSet(t, s, []byte(keyAuditHead), append(body, v[len(v)-32:]...))
			rawDelete(t, s, keys[3], auditSeqKey(4))
		}, 0, auditEdited, "head"},
		{"delete the head", func(t *testing.T, s *Store, _ *clock, _ [][]byte) {
			rawDelete(t, s, []byte(keyAuditHead))
		}, 0, auditTruncated, "head"},
		{"delete the anchor", func(t *testing.T, s *Store, _ *clock, _ [][]byte) {
			rawDelete(t, s, []byte(keyAuditAnchor))
		}, 0, auditNoAnchor, "anchor"},
		{"edit the anchor", func(t *testing.T, s *Store, _ *clock, _ [][]byte) {
			rawSet(t, s, []byte(keyAuditAnchor), []byte{1})
		}, 0, auditEdited, "anchor"},
		{"delete head and anchor", func(t *testing.T, s *Store, _ *clock, _ [][]byte) {
			rawDelete(t, s, []byte(keyAuditHead), []byte(keyAuditAnchor))
		}, 1, auditForged, ""},
		{"delete a keychain's index entry", func(t *testing.T, s *Store, _ *clock, keys [][]byte) {
			rawDelete(t, s, auditIndexKeyOf(pfxAuditByKC, "kc_1", keys[1]))
		}, 2, fmt.Sprintf(auditUnindexed, "keychain kc_1"), ""},
		{"delete a package's index entry", func(t *testing.T, s *Store, _ *clock, keys [][]byte) {
			rawDelete(t, s, auditIndexKeyOf(pfxAuditByPkg, "@p/x", keys[2]))
		}, 3, fmt.Sprintf(auditUnindexed, "package @p/x"), ""},
		{"junk in the seq index", func(t *testing.T, s *Store, _ *clock, keys [][]byte) {
			rawSet(t, s, []byte(pfxAuditBySeq+"x"), keys[0])
		}, 0, auditForged, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, clk := memStore(t)
			appendSegments(t, s, clk, n)
			keys := chainKeys(t, s)
			if len(keys) != n {
				t.Fatalf("%d segments", len(keys))
			}
			if rep := verifyOK(t, s); rep.Segments != n || rep.Events != 3*n || rep.Legacy != 0 {
				t.Fatalf("before: %+v", rep)
			}
			tc.tamper(t, s, clk, keys)
			rep, err := s.VerifyAudit()
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK || rep.FirstBad == nil {
				t.Fatalf("tampering not found: %+v", rep)
			}
			bad := rep.FirstBad
			if bad.Problem != tc.problem || bad.Seq != tc.seq || (tc.segment != "" && bad.Segment != tc.segment) {
				t.Fatalf("first bad = %+v, want seq %d %q segment %q", bad, tc.seq, tc.problem, tc.segment)
			}
		})
	}
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

func TestAuditPruneKeepsChainVerifiable(t *testing.T) {
	s, clk := memStore(t)
	t0 := clk.Now()
	appendSegments(t, s, clk, 5) // segment i holds t0+i s .. +2 ms
	if _, err := s.PruneAudit(t0.Add(2 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if rep := verifyOK(t, s); rep.Segments != 3 || rep.Events != 9 {
		t.Fatalf("after pruning 2 segments: %+v", rep)
	}
	// Cut into segment 3 twice: the anchor vouches for what is left.
	for _, step := range []struct {
		cut  time.Duration
		left int
	}{{time.Millisecond, 8}, {2 * time.Millisecond, 7}} {
		if n, err := s.PruneAudit(t0.Add(2*time.Second + step.cut)); err != nil || n != 1 {
			t.Fatalf("trim %v: %d %v", step.cut, n, err)
		}
		if rep := verifyOK(t, s); rep.Segments != 3 || rep.Events != step.left {
			t.Fatalf("after trim %v: %+v", step.cut, rep)
		}
	}
	// The trimmed segment is still proven: editing what is left shows.
	keys := chainKeys(t, s)
	trimmed := rawGet(t, s, keys[0])
	rawSet(t, s, keys[0], bytes.Replace(trimmed, []byte(`"allow"`), []byte(`"deny!"`), 1))
	if rep, _ := s.VerifyAudit(); rep.FirstBad == nil || rep.FirstBad.Problem != auditEdited || rep.FirstBad.Seq != 3 {
		t.Fatalf("edit of a trimmed segment: %+v", rep.FirstBad)
	}
	// Pruning stops at the break and keeps the evidence.
	_, err := s.PruneAudit(clk.Now().Add(time.Hour))
	wantErr(t, err, ErrCorrupt)
	if len(chainKeys(t, s)) != 3 {
		t.Fatal("pruning deleted a broken segment")
	}
	rawSet(t, s, keys[0], trimmed)

	// A pruned segment brought back is a replay.
	first := rawGet(t, s, keys[0])
	if _, err := s.PruneAudit(t0.Add(3 * time.Second)); err != nil {
		t.Fatal(err)
	}
	verifyOK(t, s)
	rawSet(t, s, keys[0], first)
	rawSet(t, s, auditSeqKey(3), keys[0])
	if rep, _ := s.VerifyAudit(); rep.FirstBad == nil || rep.FirstBad.Problem != auditReplayed {
		t.Fatalf("pruned segment replayed: %+v", rep.FirstBad)
	}
	rawDelete(t, s, keys[0], auditSeqKey(3))

	// Everything pruned, then the chain goes on from the anchor.
	if _, err := s.PruneAudit(clk.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if rep := verifyOK(t, s); rep.Segments != 0 {
		t.Fatalf("after pruning all: %+v", rep)
	}
	clk.Add(2 * time.Hour)
	appendSegments(t, s, clk, 2)
	if rep := verifyOK(t, s); rep.Segments != 2 || rep.Events != 6 {
		t.Fatalf("after appending again: %+v", rep)
	}
	if got, _ := s.QueryAudit(AuditQuery{Keychain: "kc_1"}); len(got) != 3 {
		t.Fatalf("query after prune: %d events of kc_1", len(got))
	}
}

func TestAuditPruneManyBatches(t *testing.T) {
	s, clk := memStore(t)
	t0 := clk.Now()
	for range purgeBatch + 10 {
		if err := s.AppendAudit([]AuditEvent{{Action: "egress", Decision: "allow"}}); err != nil {
			t.Fatal(err)
		}
		clk.Add(time.Second)
	}
	n, err := s.PruneAudit(t0.Add((purgeBatch + 5) * time.Second))
	if err != nil || n != purgeBatch+5 {
		t.Fatalf("prune: %d %v", n, err)
	}
	if rep := verifyOK(t, s); rep.Segments != 5 {
		t.Fatalf("after prune: %+v", rep)
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

func TestAuditChainSurvivesRotation(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	open := func(kr *Keyring) *Store {
		s, err := Open(Options{Dir: dir, Keyring: kr, Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open(testKeyring(t, "k1"))
	appendSegments(t, s, clk, 3)
	// Prune segment 1 and trim segment 2: the anchor, under k1, vouches for the rest.
	if n, err := s.PruneAudit(clk.Now().Add(-2*time.Second + time.Millisecond)); err != nil || n != 4 {
		t.Fatalf("prune: %d %v", n, err)
	}
	s.Close()

	s = open(testKeyring(t, "k2", "k1"))
	appendSegments(t, s, clk, 2) // under k2, chained after k1's
	verifyOK(t, s)
	n, err := s.Rewrap(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n != 2+1 { // k1's two segments left and the anchor; k2 moved the head
		t.Fatalf("rewrap changed %d records", n)
	}
	if n2, err := s.Rewrap(context.Background()); err != nil || n2 != 0 {
		t.Fatalf("idempotent re-run: %d %v", n2, err)
	}
	s.Close()

	s = open(testKeyring(t, "k2"))
	defer s.Close()
	if rep := verifyOK(t, s); rep.Segments != 4 || rep.Events != 2+3+6 {
		t.Fatalf("after retiring k1: %+v", rep)
	}
	appendSegments(t, s, clk, 1)
	verifyOK(t, s)
}

func TestAuditRewrapDoesNotLaunder(t *testing.T) {
	s, clk := memStore(t)
	appendSegments(t, s, clk, 3)
	keys := chainKeys(t, s)
	v := rawGet(t, s, keys[1])
	rawSet(t, s, keys[1], bytes.Replace(v, []byte(`"allow"`), []byte(`"deny!"`), 1))
	log := &recordingLogger{}
	s.log = log
	s.kr = testKeyring(t, "k2", "k1") // rotate in place (in memory)
	n, err := s.Rewrap(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n != 2+2 { // the two good segments, head and anchor
		t.Fatalf("rewrap changed %d records", n)
	}
	if h, _, _, _ := decodeSegment(rawGet(t, s, keys[1])); h.keyID != "k1" {
		t.Fatal("rewrap re-MACed an edited segment")
	}
	if !strings.Contains(strings.Join(log.all(), "\n"), "seq 2 fails its check") {
		t.Fatalf("no warning: %q", log.all())
	}
	rep, _ := s.VerifyAudit()
	if rep.FirstBad == nil || rep.FirstBad.Seq != 2 || rep.FirstBad.Problem != auditEdited {
		t.Fatalf("after rewrap: %+v", rep.FirstBad)
	}
	s.kr = testKeyring(t, "k2")
	rep, _ = s.VerifyAudit()
	if rep.FirstBad == nil || rep.FirstBad.Seq != 2 || rep.FirstBad.Problem != fmt.Sprintf(auditNoKey, "k1") {
		t.Fatalf("after retiring k1: %+v", rep.FirstBad)
	}
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
					err := s.update(func(w writer) error { return chainSegment(w, s.kr, seg, events) })
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
