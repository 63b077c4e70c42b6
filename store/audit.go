package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

const (
	defaultAuditLimit = 100
	maxAuditLimit     = 1000
	// auditBatch is the most events written per transaction; larger
	// batches split (and so do batches Badger finds too big).
	auditBatch   = 1000
	maxAuditID   = 128
	maxAuditText = 1024
)

// newAuditID returns "ev_" + 16 hex of the time + 16 random hex: unique,
// and sortable by time.
func newAuditID(t time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(t.UnixNano())^(1<<63))
	rand.Read(b[8:])
	// One allocation: every proxied request takes an id.
	var out [3 + 2*len(b)]byte
	copy(out[:], "ev_")
	hex.Encode(out[3:], b[:])
	return string(out[:])
}

// AppendAudit writes events in one transaction (one fsync) per 1000
// events. Empty IDs and zero times are filled in.
func (s *Store) AppendAudit(events []AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	evs := make([]AuditEvent, len(events))
	now := s.now()
	for i, ev := range events {
		if ev.Time.IsZero() {
			ev.Time = now
		}
		ev.Time = ev.Time.UTC()
		if ev.ID == "" {
			ev.ID = newAuditID(ev.Time)
		}
		if err := checkAuditEvent(i, &ev); err != nil {
			return err
		}
		evs[i] = ev
	}
	for len(evs) > 0 {
		n := min(len(evs), auditBatch)
		if err := s.appendAudit(evs[:n]); err != nil {
			return err
		}
		evs = evs[n:]
	}
	return nil
}

// appendAudit writes evs as one segment: a single record holding the
// batch, keyed by its first event's time and id, chained to the segment
// before it (audit_chain.go), plus one index entry per distinct keychain
// and package in it. One record per batch rather than three per event is
// what keeps auditing every proxied request cheap; the chain adds a head
// read and two small writes to the same transaction, not an fsync.
func (s *Store) appendAudit(evs []AuditEvent) error {
	first := evs[0]
	seg := auditKey(first.Time, first.ID)
	events, err := appendAuditEvents(make([]byte, 0, auditEncodedSize(evs)), evs)
	if err != nil {
		return err
	}
	kcs, pkgs := auditOwners(evs)
	kr := s.kr
	if err := s.markSealerInUse(kr); err != nil {
		return err
	}
	auditAppendMu.Lock()
	var witness AuditWitness
	err = s.update(func(w writer) error {
		var err error
		if witness, err = chainSegmentWitness(w, kr, seg, events); err != nil {
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
	})
	auditAppendMu.Unlock()
	if err == nil {
		s.noteWitness(witness)
	}
	if errors.Is(err, errTxnTooBig) && len(evs) > 1 {
		half := len(evs) / 2
		if err := s.appendAudit(evs[:half]); err != nil {
			return err
		}
		return s.appendAudit(evs[half:])
	}
	return err
}

// auditOwners returns the distinct keychains and packages of evs.
func auditOwners(evs []AuditEvent) (kcs, pkgs []string) {
	for _, ev := range evs {
		if ev.Keychain != "" && !slices.Contains(kcs, ev.Keychain) {
			kcs = append(kcs, ev.Keychain)
		}
		if ev.Package != "" && !slices.Contains(pkgs, ev.Package) {
			pkgs = append(pkgs, ev.Package)
		}
	}
	return kcs, pkgs
}

// checkAuditIndex reports a missing index entry of a verified segment:
// the entries are not MACed themselves, but which must exist follows from
// the MACed events, so deleting one (to hide a keychain's or package's
// events from filtered queries) breaks verification.
func checkAuditIndex(r reader, segKey []byte, evs []AuditEvent) (problem string, err error) {
	kcs, pkgs := auditOwners(evs)
	for _, o := range []struct {
		prefix, what string
		owners       []string
	}{{pfxAuditByKC, "keychain", kcs}, {pfxAuditByPkg, "package", pkgs}} {
		for _, owner := range o.owners {
			switch ok, err := exists(r, auditIndexKeyOf(o.prefix, owner, segKey)); {
			case err != nil:
				return "", err
			case !ok:
				return fmt.Sprintf(auditUnindexed, o.what+" "+owner), nil
			}
		}
	}
	return "", nil
}

// auditIndexDeletes lists the index entries of segment segKey that no
// longer hold once its events seg are cut down to keep.
func auditIndexDeletes(segKey []byte, seg, keep []AuditEvent) [][]byte {
	var dels [][]byte
	oldKCs, oldPkgs := auditOwners(seg)
	newKCs, newPkgs := auditOwners(keep)
	for _, kc := range oldKCs {
		if !slices.Contains(newKCs, kc) {
			dels = append(dels, auditIndexKeyOf(pfxAuditByKC, kc, segKey))
		}
	}
	for _, pkg := range oldPkgs {
		if !slices.Contains(newPkgs, pkg) {
			dels = append(dels, auditIndexKeyOf(pfxAuditByPkg, pkg, segKey))
		}
	}
	return dels
}

// checkAuditEvent refuses what would break the key layout or bloat the
// log; the fields come from keygate itself, not from users.
func checkAuditEvent(i int, ev *AuditEvent) error {
	field := func() string { return fmt.Sprintf("events[%d]", i) } // only for an error: this runs per event
	if len(ev.ID) > maxAuditID || strings.IndexByte(ev.ID, sep) >= 0 {
		return invalid(field()+".id", "must be at most 128 bytes without NUL")
	}
	for _, f := range [...]struct{ name, v string }{
		{"keychain", ev.Keychain}, {"package", ev.Package}, {"actor", ev.Actor}, {"action", ev.Action},
		{"decision", ev.Decision}, {"reason", ev.Reason}, {"request_id", ev.RequestID}, {"host", ev.Host},
	} {
		if len(f.v) > maxAuditText || strings.IndexByte(f.v, sep) >= 0 {
			return invalid(field()+"."+f.name, "must be at most 1024 bytes without NUL")
		}
	}
	return nil
}

// QueryAudit returns matching events, newest first. It walks a
// time-ordered key space backwards (the per-keychain or per-package index
// when filtered), so it reads little more than it returns.
func (s *Store) QueryAudit(q AuditQuery) ([]AuditEvent, error) {
	limit := q.Limit
	switch {
	case limit < 0:
		return nil, invalid("limit", "must not be negative")
	case limit == 0:
		limit = defaultAuditLimit
	case limit > maxAuditLimit:
		limit = maxAuditLimit
	}
	out := []AuditEvent{}
	err := s.WalkAudit(q, func(ev *AuditEvent) bool {
		out = append(out, *ev)
		return len(out) < limit
	})
	return out, err
}

// WalkAudit calls fn with each event q matches (its Limit aside), newest
// first, until fn returns false: for a caller that counts events rather
// than keeping them.
func (s *Store) WalkAudit(q AuditQuery, fn func(ev *AuditEvent) bool) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	if strings.IndexByte(q.Keychain, sep) >= 0 || strings.IndexByte(q.Package, sep) >= 0 {
		return nil
	}
	var prefix []byte
	switch {
	case q.Keychain != "":
		prefix = scope(pfxAuditByKC, q.Keychain)
	case q.Package != "":
		prefix = scope(pfxAuditByPkg, q.Package)
	default:
		prefix = []byte(pfxAudit)
	}
	indexed := q.Keychain != "" || q.Package != ""
	since := q.Since.UnixNano()
	return s.be.View(context.Background(), func(r reader) error {
		return r.Iterate(iterOptions{Prefix: prefix, Reverse: true, KeysOnly: indexed}, func(k, v []byte) error {
			rest := k[len(prefix):]
			if len(rest) < auditTimeLength {
				return fmt.Errorf("audit key is short: %w", ErrCorrupt)
			}
			if indexed {
				raw, err := r.Get(auditKeyFromIndex(k, len(prefix)))
				if errors.Is(err, errNoKey) {
					return nil // pruned between index and segment: skip
				}
				if err != nil {
					return err
				}
				v = raw
			}
			seg, err := segmentEvents(v)
			if err != nil {
				return err
			}
			for i := len(seg) - 1; i >= 0; i-- {
				ev := seg[i]
				if (q.Keychain != "" && ev.Keychain != q.Keychain) || (q.Package != "" && ev.Package != q.Package) {
					continue
				}
				if !q.Since.IsZero() && ev.Time.UnixNano() < since {
					continue
				}
				if !fn(&ev) {
					return errStop
				}
			}
			// A segment is keyed by its first event: older segments hold
			// only older events.
			if !q.Since.IsZero() && auditKeyTime(rest) < since {
				return errStop
			}
			return nil
		})
	})
}

// PruneAudit deletes events older than before, in batches of segments,
// and returns how many it deleted. A segment that holds both older and
// newer events is rewritten with the newer ones. Chained segments go in
// chain order and leave an anchor behind (pruneChain); legacy ones, from
// before the chain, in time order.
func (s *Store) PruneAudit(before time.Time) (int, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.leave()
	limit := before.UnixNano()
	chained, chainErr := s.pruneChain(limit)
	legacy, err := s.pruneLegacyAudit(limit)
	return chained + legacy, errors.Join(chainErr, err)
}

// pruneLegacyAudit prunes the segments from before the chain, in time
// order.
func (s *Store) pruneLegacyAudit(limit int64) (int, error) {
	total := 0
	for {
		segs, deleted, done := 0, 0, false
		err := s.update(func(w writer) error {
			segs, deleted, done = 0, 0, false
			type rewrite struct {
				key  []byte
				keep []AuditEvent
			}
			var dels [][]byte
			var rewrites []rewrite
			err := w.Iterate(iterOptions{Prefix: []byte(pfxAudit)}, func(k, v []byte) error {
				rest := k[len(pfxAudit):]
				if auditKeyTime(rest) >= limit {
					done = true
					return errStop
				}
				if segs >= purgeBatch {
					return errStop
				}
				if _, _, chained, err := decodeSegment(v); chained || err != nil {
					return err // nil for a chained segment: pruneChain's to prune
				}
				segs++
				var seg []AuditEvent
				if err := decodeJSON(v, &seg); err != nil {
					return err
				}
				var keep []AuditEvent
				for _, ev := range seg {
					if ev.Time.UnixNano() >= limit {
						keep = append(keep, ev)
					}
				}
				deleted += len(seg) - len(keep)
				key := bytes.Clone(k)
				dels = append(dels, auditIndexDeletes(key, seg, keep)...)
				if len(keep) == 0 {
					dels = append(dels, key)
					return nil
				}
				if len(keep) < len(seg) {
					rewrites = append(rewrites, rewrite{key, keep})
				}
				// Segments are in time order: later ones are newer still.
				done = true
				return errStop
			})
			if err != nil {
				return err
			}
			for _, k := range dels {
				if err := w.Delete(k); err != nil {
					return err
				}
			}
			for _, rw := range rewrites {
				if err := setJSON(w, rw.key, rw.keep); err != nil {
					return err
				}
			}
			return nil
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

// NewAuditID returns an id for an audit event at t, in the form
// AppendAudit fills in: callers that log an event before it is written
// assign it first, so that the log line and the stored event agree.
func NewAuditID(t time.Time) string { return newAuditID(t) }
