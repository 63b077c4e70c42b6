package store

import (
	"bytes"
	"testing"
	"time"
)

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
