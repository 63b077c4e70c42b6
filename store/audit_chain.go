package store

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
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

// chainSegmentWitness writes events (a JSON array) at segKey as the next
// segment of the chain, moves the head to it and returns the new head as
// a witness (audit_witness.go). It refuses to extend a head that fails its
// check: writing on would launder whatever was done to it.
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
