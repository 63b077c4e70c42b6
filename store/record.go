package store

import (
	"encoding/binary"
	"fmt"
	"time"
)

// A sealed record is what the backend stores for a secret, an app secret
// or a signing key:
//
//	[0]      record format (1)
//	uvarint  version (1 on create, +1 per put)
//	uvarint  len(meta)
//	meta     metadata (names, hosts, times; never a value)
//	rest     sealed envelope (see seal.go)
//
// Metadata sits beside the envelope so listing never decrypts, and is
// bound into the envelope with the version, so an edited allowed_hosts or
// a replayed older envelope fails to open. Rewrap reads only the header.
const recordFormatV1 = 1

type sealedRecord struct {
	version uint64
	meta    []byte
	blob    []byte
}

func encodeRecord(version uint64, meta, blob []byte) []byte {
	out := make([]byte, 0, 1+2*binary.MaxVarintLen64+len(meta)+len(blob))
	out = append(out, recordFormatV1)
	out = binary.AppendUvarint(out, version)
	out = binary.AppendUvarint(out, uint64(len(meta)))
	out = append(out, meta...)
	return append(out, blob...)
}

// decodeRecord splits b; meta and blob alias b.
func decodeRecord(b []byte) (sealedRecord, error) {
	if len(b) == 0 || b[0] != recordFormatV1 {
		return sealedRecord{}, fmt.Errorf("record has an unknown format: %w", ErrCorrupt)
	}
	d := decoder{b: b[1:]}
	version := d.uvarint()
	meta := d.bytes()
	if d.err != nil {
		return sealedRecord{}, d.err
	}
	return sealedRecord{version: version, meta: meta, blob: d.b}, nil
}

// Secret metadata is a compact binary encoding rather than JSON: it is
// decoded on every cache miss of the hot path.
//
//	bytes name, uvarint n, n x bytes host, uvarint rotation days,
//	varint created (unix ns), varint updated (unix ns)
//	[ bytes kind, time expires, uvarint n, n x bytes scope, time connected ]
//
// where bytes = uvarint length + data and time = 0 (zero time) or 1 +
// varint unix ns. The bracketed tail is present only for a non-empty kind,
// so records written before it existed decode unchanged. Version lives in
// the record header.
func encodeSecretMeta(m *SecretMeta) []byte {
	n := 3*binary.MaxVarintLen64 + len(m.Name)
	for _, h := range m.AllowedHosts {
		n += binary.MaxVarintLen64 + len(h)
	}
	out := make([]byte, 0, n+2*binary.MaxVarintLen64)
	out = appendBytes(out, m.Name)
	out = binary.AppendUvarint(out, uint64(len(m.AllowedHosts)))
	for _, h := range m.AllowedHosts {
		out = appendBytes(out, h)
	}
	out = binary.AppendUvarint(out, uint64(m.RotationHintDays))
	out = binary.AppendVarint(out, m.CreatedAt.UnixNano())
	out = binary.AppendVarint(out, m.UpdatedAt.UnixNano())
	if m.Kind == "" {
		return out
	}
	out = appendBytes(out, m.Kind)
	out = appendOptTime(out, m.ExpiresAt)
	out = binary.AppendUvarint(out, uint64(len(m.Scopes)))
	for _, sc := range m.Scopes {
		out = appendBytes(out, sc)
	}
	return appendOptTime(out, m.ConnectedAt)
}

func appendOptTime(dst []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(dst, 0)
	}
	return binary.AppendVarint(append(dst, 1), t.UnixNano())
}

func decodeSecretMeta(b []byte, version uint64) (SecretMeta, error) {
	d := decoder{b: b}
	m := SecretMeta{Name: string(d.bytes()), Version: version}
	n := d.uvarint()
	if n > maxHostPatterns {
		return SecretMeta{}, fmt.Errorf("secret metadata has %d hosts: %w", n, ErrCorrupt)
	}
	m.AllowedHosts = make([]string, 0, n)
	for range n {
		m.AllowedHosts = append(m.AllowedHosts, string(d.bytes()))
	}
	m.RotationHintDays = int(d.uvarint())
	m.CreatedAt = time.Unix(0, d.varint()).UTC()
	m.UpdatedAt = time.Unix(0, d.varint()).UTC()
	if d.err == nil && len(d.b) != 0 {
		m.Kind = string(d.bytes())
		m.ExpiresAt = d.optTime()
		n := d.uvarint()
		if n > maxOAuthScopes {
			return SecretMeta{}, fmt.Errorf("secret metadata has %d scopes: %w", n, ErrCorrupt)
		}
		for range n {
			m.Scopes = append(m.Scopes, string(d.bytes()))
		}
		m.ConnectedAt = d.optTime()
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("secret metadata has trailing bytes: %w", ErrCorrupt)
	}
	return m, d.err
}

func appendBytes(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// decoder reads varint-framed fields; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = fmt.Errorf("record is truncated: %w", ErrCorrupt)
	}
	d.b = nil
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) optTime() time.Time {
	if len(d.b) == 0 {
		d.fail()
		return time.Time{}
	}
	set := d.b[0]
	d.b = d.b[1:]
	switch set {
	case 0:
		return time.Time{}
	case 1:
		return time.Unix(0, d.varint()).UTC()
	}
	d.fail()
	return time.Time{}
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}
