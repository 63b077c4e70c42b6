package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
)

// AuditVerifyReport is what VerifyAudit found. Counts run up to the
// first break.
type AuditVerifyReport struct {
	OK       bool        `json:"ok"`
	Segments int         `json:"segments"` // chained segments verified
	Events   int         `json:"events"`   // events in them
	Legacy   int         `json:"legacy"`   // segments from before the chain, which nothing proves
	FirstBad *AuditBreak `json:"first_bad,omitempty"`
}

// AuditBreak names the first place the chain does not hold. Segment is
// the id of the segment's first event, or "head" or "anchor"; Seq is the
// chain position (0 when unknown). Problem is one of "mac mismatch
// (edited)", "missing segment (deleted) before seq N", "out of order",
// "inserted/forged", "replayed old segment", "head does not match last
// segment (truncated)", "anchor missing (deleted)" or "made under master
// key "ID", which the keyring lacks".
type AuditBreak struct {
	Segment string `json:"segment"`
	Seq     uint64 `json:"seq"`
	Problem string `json:"problem"`
}

// VerifyAudit checks the whole audit trail in one snapshot: every chained
// segment's MAC, consecutive seqs and links from the anchor to the head,
// and that no segment sits outside the chain. It reports the first break;
// the error is for a store that could not be read.
func (s *Store) VerifyAudit() (AuditVerifyReport, error) {
	if err := s.enter(); err != nil {
		return AuditVerifyReport{}, err
	}
	defer s.leave()
	var rep AuditVerifyReport
	err := s.be.View(context.Background(), func(r reader) error {
		v := auditVerifier{r: r, kr: s.kr}
		err := v.run()
		rep = v.rep
		return err
	})
	if err != nil {
		return AuditVerifyReport{}, err
	}
	rep.OK = rep.FirstBad == nil
	return rep, nil
}

type auditVerifier struct {
	r   reader
	kr  *Keyring
	rep AuditVerifyReport
}

// fail records the first break and stops the walk.
func (v *auditVerifier) fail(segment string, seq uint64, problem string) error {
	if v.rep.FirstBad == nil {
		v.rep.FirstBad = &AuditBreak{Segment: segment, Seq: seq, Problem: problem}
	}
	return errStop
}

func (v *auditVerifier) run() error {
	anchor, anchored, aProblem, err := loadAnchor(v.r, v.kr)
	if err != nil {
		return err
	}
	head, headed, hProblem, err := loadHead(v.r, v.kr)
	if err != nil {
		return err
	}
	switch {
	case aProblem != "":
		v.fail("anchor", 0, aProblem)
	case hProblem != "":
		v.fail("head", 0, hProblem)
	case headed && !anchored:
		v.fail("anchor", 0, auditNoAnchor)
	case anchored && (!headed || head.seq < anchor.seq):
		v.fail("head", 0, auditTruncated)
	}
	if v.rep.FirstBad != nil {
		return nil
	}
	if anchored {
		if err := v.walkChain(&anchor, &head); err != nil || v.rep.FirstBad != nil {
			return err
		}
	}
	return v.walkRecords(&anchor, anchored)
}

// walkChain follows the chain from the anchor to the head, in seq order.
func (v *auditVerifier) walkChain(a *chainAnchor, head *chainHead) error {
	seq, prev := a.seq, a.link
	err := v.r.Iterate(iterOptions{Prefix: []byte(pfxAuditBySeq), Start: auditSeqKey(a.seq + 1)}, func(k, segKey []byte) error {
		name := segmentName(segKey)
		if len(k) != len(pfxAuditBySeq)+8 {
			return v.fail(name, 0, auditForged)
		}
		at, want := binary.BigEndian.Uint64(k[len(pfxAuditBySeq):]), seq+1
		switch {
		case at > head.seq:
			return v.fail(name, at, auditForged)
		case at != want:
			return v.fail("", want, fmt.Sprintf(auditMissing, at))
		}
		raw, err := v.r.Get(segKey)
		if errors.Is(err, errNoKey) {
			return v.fail(name, want, fmt.Sprintf(auditMissing, want+1))
		}
		if err != nil {
			return err
		}
		h, events, chained, err := decodeSegment(raw)
		switch {
		case err != nil || !chained:
			return v.fail(name, want, auditEdited)
		case h.seq < want:
			return v.fail(name, want, auditReplayed)
		case h.seq > want:
			return v.fail(name, want, auditOrder)
		}
		link, problem := checkSegment(v.kr, segKey, &h, events, a.trim)
		if problem != "" {
			return v.fail(name, want, problem)
		}
		if h.prev != prev {
			return v.fail(name, want, auditOrder)
		}
		var evs []AuditEvent
		if decodeJSON(events, &evs) != nil {
			return v.fail(name, want, auditEdited)
		}
		if problem, err := checkAuditIndex(v.r, segKey, evs); problem != "" || err != nil {
			if err != nil {
				return err
			}
			return v.fail(name, want, problem)
		}
		v.rep.Segments++
		v.rep.Events += len(evs)
		seq, prev = want, link
		return nil
	})
	if err != nil || v.rep.FirstBad != nil {
		return err
	}
	if seq != head.seq || prev != head.link {
		v.fail("head", head.seq, auditTruncated)
	}
	return nil
}

// walkRecords finds segment records outside the chain, and counts the
// legacy ones.
func (v *auditVerifier) walkRecords(a *chainAnchor, anchored bool) error {
	return v.r.Iterate(iterOptions{Prefix: []byte(pfxAudit)}, func(k, raw []byte) error {
		name := segmentName(k)
		h, _, chained, err := decodeSegment(raw)
		switch {
		case err != nil:
			return v.fail(name, 0, auditEdited)
		case !chained:
			if anchored && (a.legacyUntil == nil || bytes.Compare(k, a.legacyUntil) > 0) {
				return v.fail(name, 0, auditForged)
			}
			v.rep.Legacy++
			return nil
		case !anchored:
			return v.fail(name, h.seq, auditForged)
		case h.seq <= a.seq:
			return v.fail(name, h.seq, auditReplayed) // a pruned segment back
		}
		at, err := v.r.Get(auditSeqKey(h.seq))
		if errors.Is(err, errNoKey) {
			return v.fail(name, h.seq, auditForged)
		}
		if err != nil {
			return err
		}
		if bytes.Equal(at, k) {
			return nil // walkChain checked it
		}
		if other, err := v.r.Get(at); err == nil {
			if oh, _, ok, err := decodeSegment(other); err == nil && ok && oh.mac == h.mac {
				return v.fail(name, h.seq, auditReplayed) // a copy under another key
			}
		}
		return v.fail(name, h.seq, auditForged)
	})
}

// segmentName is the first event id in a segment key, hex if unprintable.
func segmentName(segKey []byte) string {
	if len(segKey) < len(pfxAudit)+auditTimeLength || !bytes.HasPrefix(segKey, []byte(pfxAudit)) {
		return hex.EncodeToString(segKey)
	}
	id := segKey[len(pfxAudit)+auditTimeLength:]
	for _, c := range id {
		if c < 0x21 || c > 0x7e {
			return hex.EncodeToString(id)
		}
	}
	return string(id)
}
