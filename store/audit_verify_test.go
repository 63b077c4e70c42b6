package store

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"testing"
)

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
