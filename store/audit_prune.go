package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
)

// errChainBreak stops pruning at a break, so that the evidence stays.
func errChainBreak(seq uint64, problem string) error {
	return fmt.Errorf("audit chain breaks at seq %d (%s); pruning stops there, run audit verify: %w", seq, problem, ErrCorrupt)
}

// pruneChain deletes chained segments whose events are all older than
// limit, in seq order, and trims the first one partly older, moving the
// anchor past them. It checks what it deletes and stops at a break.
// Segments from several nodes are not quite in time order along the chain,
// so a segment can outlive its retention until those before it expire.
func (s *Store) pruneChain(limit int64) (int, error) {
	kr := s.kr
	total := 0
	for {
		deleted, segs, done := 0, 0, false
		err := s.update(func(w writer) error {
			deleted, segs, done = 0, 0, false
			a, found, problem, err := loadAnchor(w, kr)
			if err != nil || !found {
				done = true
				return err
			}
			if problem != "" {
				return errChainBreak(a.seq, problem)
			}
			var dels [][]byte
			var trimKey, trimValue []byte
			err = w.Iterate(iterOptions{Prefix: []byte(pfxAuditBySeq), Start: auditSeqKey(a.seq + 1)}, func(k, v []byte) error {
				if segs >= purgeBatch {
					return errStop
				}
				want := a.seq + 1
				if len(k) != len(pfxAuditBySeq)+8 || binary.BigEndian.Uint64(k[len(pfxAuditBySeq):]) != want {
					return errChainBreak(want, fmt.Sprintf(auditMissing, want+1))
				}
				segKey := bytes.Clone(v)
				raw, err := w.Get(segKey)
				if errors.Is(err, errNoKey) {
					return errChainBreak(want, fmt.Sprintf(auditMissing, want+1))
				}
				if err != nil {
					return err
				}
				h, events, chained, err := decodeSegment(raw)
				if err != nil || !chained || h.seq != want {
					return errChainBreak(want, auditOrder)
				}
				link, problem := checkSegment(kr, segKey, &h, events, a.trim)
				if problem != "" {
					return errChainBreak(want, problem)
				}
				if h.prev != a.link {
					return errChainBreak(want, auditOrder)
				}
				var seg, keep []AuditEvent
				if err := decodeJSON(events, &seg); err != nil {
					return err
				}
				for _, ev := range seg {
					if ev.Time.UnixNano() >= limit {
						keep = append(keep, ev)
					}
				}
				if len(keep) == len(seg) {
					done = true
					return errStop
				}
				deleted += len(seg) - len(keep)
				dels = append(dels, auditIndexDeletes(segKey, seg, keep)...)
				if len(keep) == 0 {
					dels = append(dels, segKey, bytes.Clone(k))
					a.seq, a.link, a.trim = want, link, nil
					segs++
					return nil
				}
				left, err := json.Marshal(keep)
				if err != nil {
					return err
				}
				trim := &auditTrim{seq: want, chained: sha256.Sum256(events), left: sha256.Sum256(left)}
				if a.trim != nil && a.trim.seq == want {
					trim.chained = a.trim.chained
				}
				a.trim = trim
				trimKey, trimValue = segKey, encodeSegment(&h, left)
				done = true
				return errStop
			})
			if err != nil {
				return err
			}
			if len(dels) == 0 && trimKey == nil {
				return nil
			}
			for _, k := range dels {
				if err := w.Delete(k); err != nil {
					return err
				}
			}
			if trimKey != nil {
				if err := w.Set(trimKey, trimValue); err != nil {
					return err
				}
			}
			return w.Set([]byte(keyAuditAnchor), sealAuditRecord(kr, auditAnchorLabel, a.fields()))
		})
		if err != nil {
			return total, err
		}
		total += deleted
		if done || segs < purgeBatch {
			return total, nil
		}
	}
}
