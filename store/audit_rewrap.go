package store

import (
	"bytes"
	"context"
	"errors"
)

// auditRewrapBytes bounds the segment bytes one Rewrap transaction
// rewrites: segments are up to a few hundred KiB.
const auditRewrapBytes = 4 << 20

// rewrapAudit re-MACs under kr's current key the chain records made under
// another, telling note how many each page changed. It checks each first: one that
// fails keeps its old MAC, so that verify still names it.
func (s *Store) rewrapAudit(ctx context.Context, kr *Keyring, note func(changed int)) error {
	n, _, err := s.rewrapAuditPage(kr, nil, true)
	note(n)
	var start []byte
	for err == nil {
		if err = ctx.Err(); err != nil {
			break
		}
		var changed int
		changed, start, err = s.rewrapAuditPage(kr, start, false)
		note(changed)
		if start == nil {
			break
		}
	}
	return err
}

// rewrapAuditPage re-MACs the head and anchor (ends) or a page of segments
// from start, and returns the key to resume at (nil when done).
func (s *Store) rewrapAuditPage(kr *Keyring, start []byte, ends bool) (changed int, next []byte, err error) {
	if err := s.enter(); err != nil {
		return 0, nil, err
	}
	defer s.leave()
	if s.kr != kr {
		return 0, nil, errKeyringChanged
	}
	err = s.update(func(w writer) error {
		changed, next = 0, nil
		if ends {
			for _, end := range []struct{ key, label string }{{keyAuditHead, auditHeadLabel}, {keyAuditAnchor, auditAnchorLabel}} {
				v, err := w.Get([]byte(end.key))
				if errors.Is(err, errNoKey) {
					continue
				}
				if err != nil {
					return err
				}
				fields, keyID, problem := openAuditRecord(kr, end.label, v)
				if problem != "" {
					s.warnf("keygate store: audit chain %s fails its check (%s); left as it is for audit verify", end.key, problem)
					continue
				}
				if keyID == kr.current {
					continue
				}
				if err := w.Set([]byte(end.key), sealAuditRecord(kr, end.label, fields)); err != nil {
					return err
				}
				changed++
			}
			return nil
		}
		a, _, _, err := loadAnchor(w, kr)
		if err != nil {
			return err
		}
		key, _ := kr.auditMACKey(kr.current)
		var keys, values [][]byte
		visited, size := 0, 0
		err = w.Iterate(iterOptions{Prefix: []byte(pfxAudit), Start: start}, func(k, v []byte) error {
			if visited == s.rewrapPage || size >= auditRewrapBytes {
				next = bytes.Clone(k)
				return errStop
			}
			visited++
			h, events, chained, err := decodeSegment(v)
			if err != nil || !chained || h.keyID == kr.current {
				return nil
			}
			link, problem := checkSegment(kr, k, &h, events, a.trim)
			if problem != "" {
				s.warnf("keygate store: audit segment seq %d fails its check (%s); left as it is for audit verify", h.seq, problem)
				return nil
			}
			h.keyID = kr.current
			h.mac = segmentMAC(key, h.keyID, &link)
			keys = append(keys, bytes.Clone(k))
			values = append(values, encodeSegment(&h, events))
			size += len(v)
			return nil
		})
		if err != nil {
			return err
		}
		for i, k := range keys {
			if err := w.Set(k, values[i]); err != nil {
				return err
			}
		}
		changed = len(keys)
		return nil
	})
	return changed, next, err
}
