package store

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
)

// The audit chain lets the trail prove itself. A chained segment record is
//
//	[0]       format (1)
//	bytes     id of the master key the MAC was made under
//	8 bytes   seq, big-endian: 1, 2, 3, ... without gaps
//	32 bytes  prev: the link of segment seq-1 (for the first, the anchor's)
//	32 bytes  mac = HMAC-SHA256(Kaudit[key id], lp(segment label) || bytes(key id) || link)
//	rest      the batch of events: a JSON array
//
//	link = SHA-256(lp(link label) || seq || prev || bytes(segment key) || SHA-256(events))
//	Kaudit = HKDF-SHA256(master key, info "keygate/audit-mac/v1") (keyring.go)
//
// where bytes = uvarint length + data and lp = 4-byte length + data.
// Segments chain through their key-free links and each link is MAC'd, so
// an edit, a deletion, a swap, a move or a copy breaks a MAC or a link,
// and only a holder of the master key can mend one. Rewrap re-MACs a
// segment made under an old key without changing its link, so nothing
// after it is rewritten. A JSON array (first byte '[') is a legacy segment
// from before the chain: readable, counted, proven by nothing.
//
// One chain for the whole database, ordered by the database: AppendAudit
// reads and rewrites the head in the transaction that writes the segment,
// so several nodes on one database serialize on the head (a lost race
// retries, as backend.Update promises) and verify walks one sequence. A
// chain per node would spare that contention, but a node's whole chain,
// head included, could then vanish unseen, and verify would have to know
// every node there ever was.
//
// The head (auh/) and the anchor (aua/) are small MAC'd records:
//
//	[0] format (1), bytes key id, fields, 32 bytes HMAC-SHA256(Kaudit[key id], lp(label) || all before)
//
//	head fields:   seq, link of the last segment (0 and zeros: none yet)
//	anchor fields: seq, link of the last pruned segment (0 and zeros: none);
//	               bytes newest legacy segment key when the chain began;
//	               [1] trimmed; if 1: seq of the first segment, SHA-256 of its
//	               events when chained, SHA-256 of the events pruning left
//
// Pruning deletes the oldest segments and moves the anchor past them; a
// segment only partly older is trimmed, and the anchor vouches for what is
// left of it. What the database alone cannot show is a rollback of all of
// it, head included, to an earlier state: ops who ship the keygate.audit
// log elsewhere hold that record.
const (
	auditChainFormatV1 = 1
	auditSegmentLabel  = "keygate/audit-segment/v1"
	auditLinkLabel     = "keygate/audit-link/v1"
	auditHeadLabel     = "keygate/audit-head/v1"
	auditAnchorLabel   = "keygate/audit-anchor/v1"
	// auditRewrapBytes bounds the segment bytes one Rewrap transaction
	// rewrites: segments are up to a few hundred KiB.
	auditRewrapBytes = 4 << 20
)

// What an AuditBreak's Problem says.
const (
	auditEdited    = "mac mismatch (edited)"
	auditMissing   = "missing segment (deleted) before seq %d"
	auditOrder     = "out of order"
	auditForged    = "inserted/forged"
	auditReplayed  = "replayed old segment"
	auditTruncated = "head does not match last segment (truncated)"
	auditNoAnchor  = "anchor missing (deleted)"
	auditNoKey     = "made under master key %q, which the keyring lacks"
	auditUnindexed = "index entry of %s missing (deleted)"
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

// auditAppendMu queues this process's appends: each rewrites the chain
// head, and waiting here is cheaper than Badger's conflict retries, which
// give up under many writers. Other processes on one database serialize
// through it instead. Package-wide: a process runs one store, and two
// stores sharing the lock merely queue.
var auditAppendMu sync.Mutex

type auditDigest = [sha256.Size]byte

type segmentHeader struct {
	keyID string
	seq   uint64
	prev  auditDigest
	mac   auditDigest
}

func encodeSegment(h *segmentHeader, events []byte) []byte {
	out := make([]byte, 0, 1+binary.MaxVarintLen64+len(h.keyID)+8+2*sha256.Size+len(events))
	out = append(out, auditChainFormatV1)
	out = appendBytes(out, h.keyID)
	out = binary.BigEndian.AppendUint64(out, h.seq)
	out = append(out, h.prev[:]...)
	out = append(out, h.mac[:]...)
	return append(out, events...)
}

// decodeSegment splits a segment record; events aliases v. chained is
// false for a legacy JSON array.
func decodeSegment(v []byte) (h segmentHeader, events []byte, chained bool, err error) {
	if len(v) > 0 && v[0] == '[' {
		return segmentHeader{}, v, false, nil
	}
	if len(v) == 0 || v[0] != auditChainFormatV1 {
		return segmentHeader{}, nil, false, fmt.Errorf("audit segment has an unknown format: %w", ErrCorrupt)
	}
	d := decoder{b: v[1:]}
	h.keyID = string(d.bytes())
	h.seq = d.uint64()
	copy(h.prev[:], d.fixed(sha256.Size))
	copy(h.mac[:], d.fixed(sha256.Size))
	return h, d.b, true, d.err
}

// segmentEvents decodes the events of a chained or legacy segment.
func segmentEvents(v []byte) ([]AuditEvent, error) {
	_, events, _, err := decodeSegment(v)
	if err != nil {
		return nil, err
	}
	var seg []AuditEvent
	return seg, decodeJSON(events, &seg)
}

func (d *decoder) fixed(n int) []byte {
	if len(d.b) < n {
		d.fail()
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) uint64() uint64 {
	b := d.fixed(8)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

func segmentLink(h *segmentHeader, segKey []byte, events *auditDigest) auditDigest {
	b := make([]byte, 0, 4+len(auditLinkLabel)+8+sha256.Size+binary.MaxVarintLen64+len(segKey)+sha256.Size)
	b = appendLP(b, auditLinkLabel)
	b = binary.BigEndian.AppendUint64(b, h.seq)
	b = append(b, h.prev[:]...)
	b = appendBytes(b, string(segKey))
	b = append(b, events[:]...)
	return sha256.Sum256(b)
}

func segmentMAC(key []byte, keyID string, link *auditDigest) auditDigest {
	m := hmac.New(sha256.New, key)
	m.Write(appendBytes(appendLP(nil, auditSegmentLabel), keyID))
	m.Write(link[:])
	var mac auditDigest
	m.Sum(mac[:0])
	return mac
}

// checkSegment checks a chained segment's MAC and returns its link, or a
// problem. trim is the anchor's: it vouches for a pruned-down first segment.
func checkSegment(kr *Keyring, segKey []byte, h *segmentHeader, events []byte, trim *auditTrim) (auditDigest, string) {
	key, ok := kr.auditMACKey(h.keyID)
	if !ok {
		return auditDigest{}, fmt.Sprintf(auditNoKey, h.keyID)
	}
	digest := sha256.Sum256(events)
	if trim != nil && trim.seq == h.seq {
		if digest != trim.left {
			return auditDigest{}, auditEdited
		}
		digest = trim.chained
	}
	link := segmentLink(h, segKey, &digest)
	if mac := segmentMAC(key, h.keyID, &link); !hmac.Equal(mac[:], h.mac[:]) {
		return auditDigest{}, auditEdited
	}
	return link, ""
}

func recordMAC(key []byte, label string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(appendLP(nil, label))
	m.Write(body)
	return m.Sum(nil)
}

// sealAuditRecord MACs fields under kr's current key.
func sealAuditRecord(kr *Keyring, label string, fields []byte) []byte {
	out := appendBytes([]byte{auditChainFormatV1}, kr.current)
	out = append(out, fields...)
	key, _ := kr.auditMACKey(kr.current)
	return append(out, recordMAC(key, label, out)...)
}

// openAuditRecord checks a sealAuditRecord and returns its fields and key
// id, or a problem.
func openAuditRecord(kr *Keyring, label string, v []byte) (fields []byte, keyID, problem string) {
	if len(v) < 1+sha256.Size || v[0] != auditChainFormatV1 {
		return nil, "", auditEdited
	}
	body, mac := v[:len(v)-sha256.Size], v[len(v)-sha256.Size:]
	d := decoder{b: body[1:]}
	keyID = string(d.bytes())
	if d.err != nil {
		return nil, "", auditEdited
	}
	key, ok := kr.auditMACKey(keyID)
	if !ok {
		return nil, keyID, fmt.Sprintf(auditNoKey, keyID)
	}
	if !hmac.Equal(recordMAC(key, label, body), mac) {
		return nil, keyID, auditEdited
	}
	return d.b, keyID, ""
}

type chainHead struct {
	seq   uint64
	link  auditDigest
	keyID string
}

type chainAnchor struct {
	seq         uint64
	link        auditDigest
	legacyUntil []byte // newest legacy segment key when the chain began; nil: none
	trim        *auditTrim
	keyID       string
}

// auditTrim vouches for the first segment after pruning trimmed it.
type auditTrim struct {
	seq     uint64
	chained auditDigest // SHA-256 of its events when it was chained
	left    auditDigest // SHA-256 of the events left
}

func (h *chainHead) fields() []byte {
	b := binary.BigEndian.AppendUint64(nil, h.seq)
	return append(b, h.link[:]...)
}

func (a *chainAnchor) fields() []byte {
	b := binary.BigEndian.AppendUint64(nil, a.seq)
	b = append(b, a.link[:]...)
	b = appendBytes(b, string(a.legacyUntil))
	if a.trim == nil {
		return append(b, 0)
	}
	b = append(b, 1)
	b = binary.BigEndian.AppendUint64(b, a.trim.seq)
	b = append(b, a.trim.chained[:]...)
	return append(b, a.trim.left[:]...)
}

// loadHead reads the chain head: found is false when there is none;
// problem is set when it fails its check.
func loadHead(r reader, kr *Keyring) (h chainHead, found bool, problem string, err error) {
	v, err := r.Get([]byte(keyAuditHead))
	if errors.Is(err, errNoKey) {
		return chainHead{}, false, "", nil
	}
	if err != nil {
		return chainHead{}, false, "", err
	}
	fields, keyID, problem := openAuditRecord(kr, auditHeadLabel, v)
	if problem != "" {
		return chainHead{}, true, problem, nil
	}
	d := decoder{b: fields}
	h = chainHead{seq: d.uint64(), keyID: keyID}
	copy(h.link[:], d.fixed(sha256.Size))
	if d.err != nil || len(d.b) != 0 {
		return chainHead{}, true, auditEdited, nil
	}
	return h, true, "", nil
}

// loadAnchor reads the chain anchor, as loadHead reads the head.
func loadAnchor(r reader, kr *Keyring) (a chainAnchor, found bool, problem string, err error) {
	v, err := r.Get([]byte(keyAuditAnchor))
	if errors.Is(err, errNoKey) {
		return chainAnchor{}, false, "", nil
	}
	if err != nil {
		return chainAnchor{}, false, "", err
	}
	fields, keyID, problem := openAuditRecord(kr, auditAnchorLabel, v)
	if problem != "" {
		return chainAnchor{}, true, problem, nil
	}
	d := decoder{b: fields}
	a = chainAnchor{seq: d.uint64(), keyID: keyID}
	copy(a.link[:], d.fixed(sha256.Size))
	if until := d.bytes(); len(until) > 0 {
		a.legacyUntil = bytes.Clone(until)
	}
	if trimmed := d.fixed(1); trimmed != nil && trimmed[0] == 1 {
		a.trim = &auditTrim{seq: d.uint64()}
		copy(a.trim.chained[:], d.fixed(sha256.Size))
		copy(a.trim.left[:], d.fixed(sha256.Size))
	}
	if d.err != nil || len(d.b) != 0 {
		return chainAnchor{}, true, auditEdited, nil
	}
	return a, true, "", nil
}

// chainSegment writes events (a JSON array) at segKey as the next segment
// of the chain, and moves the head to it. It refuses to extend a head that
// fails its check: writing on would launder whatever was done to it.
func chainSegment(w writer, kr *Keyring, segKey, events []byte) error {
	_, err := chainSegmentWitness(w, kr, segKey, events)
	return err
}

// chainSegmentWitness is chainSegment, returning the new head as a
// witness (audit_witness.go).
func chainSegmentWitness(w writer, kr *Keyring, segKey, events []byte) (AuditWitness, error) {
	head, found, problem, err := loadHead(w, kr)
	if err != nil {
		return AuditWitness{}, err
	}
	if problem != "" {
		return AuditWitness{}, fmt.Errorf("audit chain head: %s; run audit verify: %w", problem, ErrCorrupt)
	}
	if !found {
		if err := startChain(w, kr); err != nil {
			return AuditWitness{}, err
		}
	}
	h := segmentHeader{keyID: kr.current, seq: head.seq + 1, prev: head.link}
	digest := sha256.Sum256(events)
	link := segmentLink(&h, segKey, &digest)
	key, _ := kr.auditMACKey(kr.current)
	h.mac = segmentMAC(key, h.keyID, &link)
	if err := w.Set(segKey, encodeSegment(&h, events)); err != nil {
		return AuditWitness{}, err
	}
	if err := w.Set(auditSeqKey(h.seq), segKey); err != nil {
		return AuditWitness{}, err
	}
	next := chainHead{seq: h.seq, link: link}
	return witnessOf(&h, &link), w.Set([]byte(keyAuditHead), sealAuditRecord(kr, auditHeadLabel, next.fields()))
}

// startChain writes the first anchor, which remembers the newest legacy
// segment: a legacy segment after it was not written before the chain.
func startChain(w writer, kr *Keyring) error {
	if ok, err := exists(w, []byte(keyAuditAnchor)); err != nil || ok {
		if err == nil {
			err = fmt.Errorf("audit chain head is missing; run audit verify: %w", ErrCorrupt)
		}
		return err
	}
	var a chainAnchor
	chained := false
	err := w.Iterate(iterOptions{Prefix: []byte(pfxAudit), Reverse: true}, func(k, v []byte) error {
		a.legacyUntil = bytes.Clone(k)
		chained = len(v) == 0 || v[0] != '['
		return errStop
	})
	if err != nil {
		return err
	}
	if chained {
		return fmt.Errorf("audit segments are chained but the chain has no head; run audit verify: %w", ErrCorrupt)
	}
	return w.Set([]byte(keyAuditAnchor), sealAuditRecord(kr, auditAnchorLabel, a.fields()))
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
	err := s.be.View(func(r reader) error {
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
