package store

import (
	"context"
	"crypto/hmac"
	"encoding/hex"
	"errors"
	"fmt"
)

// The chain (audit_chain.go) cannot show a rollback of the whole
// database, head included. A witness can: after each segment, the node
// that wrote it logs the chain head (segment number, key id, MAC and the
// key-free link) to keygate.audit, which operators ship elsewhere.
// CheckAuditWitness later compares the database with the newest head so
// exported: a database whose chain ends before it, or holds another
// segment at its number, was rolled back or replaced. The link is what is
// compared, since a rewrap re-MACs a segment but keeps its link; the MAC
// is checked too while its key is configured.

// AuditWitness is the chain head after one segment.
type AuditWitness struct {
	Seq   uint64 `json:"segment"`
	KeyID string `json:"key_id"`
	MAC   string `json:"mac"`  // hex
	Link  string `json:"link"` // hex
}

// ErrAuditBehind: the database's audit chain is behind a witness.
var ErrAuditBehind = errors.New("the database's audit chain is behind the witness: rolled back or replaced")

// LastAuditWitness is the head after the newest segment this process
// wrote, ok=false before the first.
func (s *Store) LastAuditWitness() (AuditWitness, bool) {
	w := s.witness.Load()
	if w == nil {
		return AuditWitness{}, false
	}
	return *w, true
}

func (s *Store) noteWitness(w AuditWitness) {
	for {
		old := s.witness.Load()
		if old != nil && old.Seq >= w.Seq {
			return
		}
		if s.witness.CompareAndSwap(old, &w) {
			return
		}
	}
}

func witnessOf(h *segmentHeader, link *auditDigest) AuditWitness {
	return AuditWitness{Seq: h.seq, KeyID: h.keyID, MAC: hex.EncodeToString(h.mac[:]), Link: hex.EncodeToString(link[:])}
}

// CheckAuditWitness compares the database with a witness. It fails,
// wrapping ErrAuditBehind, when the chain ends before the witness's
// segment or holds another one at its number. note says what could not be
// compared (a segment pruned since, a key no longer configured).
func (s *Store) CheckAuditWitness(w AuditWitness) (note string, err error) {
	want, err := hex.DecodeString(w.Link)
	if err != nil || len(want) != len(auditDigest{}) || w.Seq == 0 {
		return "", invalid("witness", "want a segment number above 0 and a 64-digit hex link")
	}
	if err := s.enter(); err != nil {
		return "", err
	}
	defer s.leave()
	kr := s.kr
	err = s.be.View(context.Background(), func(r reader) error {
		note = ""
		head, found, problem, err := loadHead(r, kr)
		if err != nil {
			return err
		}
		if problem != "" {
			return fmt.Errorf("audit chain head: %s: %w", problem, ErrCorrupt)
		}
		if !found || head.seq < w.Seq {
			return fmt.Errorf("%w: the chain ends at segment %d, the witness saw segment %d", ErrAuditBehind, head.seq, w.Seq)
		}
		a, _, _, err := loadAnchor(r, kr)
		if err != nil {
			return err
		}
		var link auditDigest
		switch {
		case w.Seq == a.seq:
			link = a.link // the last pruned segment: the anchor keeps its link
		case w.Seq < a.seq:
			note = fmt.Sprintf("segment %d was pruned since; only that the chain reaches past it was checked", w.Seq)
			return nil
		default:
			segKey, err := r.Get(auditSeqKey(w.Seq))
			if err != nil {
				return fmt.Errorf("%w: segment %d is missing", ErrAuditBehind, w.Seq)
			}
			v, err := r.Get(segKey)
			if err != nil {
				return fmt.Errorf("%w: segment %d is missing", ErrAuditBehind, w.Seq)
			}
			h, events, chained, err := decodeSegment(v)
			if err != nil || !chained || h.seq != w.Seq {
				return fmt.Errorf("%w: segment %d is not the one witnessed", ErrAuditBehind, w.Seq)
			}
			var problem string
			if link, problem = checkSegment(kr, segKey, &h, events, a.trim); problem != "" {
				return fmt.Errorf("audit segment %d: %s: %w", w.Seq, problem, ErrCorrupt)
			}
		}
		if !hmac.Equal(link[:], want) {
			return fmt.Errorf("%w: segment %d differs from the one witnessed", ErrAuditBehind, w.Seq)
		}
		if key, ok := kr.auditMACKey(w.KeyID); ok {
			mac := segmentMAC(key, w.KeyID, &link)
			if hex.EncodeToString(mac[:]) != w.MAC {
				return fmt.Errorf("%w: segment %d's MAC differs from the one witnessed", ErrAuditBehind, w.Seq)
			}
		} else {
			note = fmt.Sprintf("the witness's MAC was not checked: master key %q is no longer configured", w.KeyID)
		}
		return nil
	})
	return note, err
}
