package store

import (
	"encoding/binary"
	"errors"
	"slices"
)

// Revocation is final (README "Security notes"): an
// invocation token names the grant epoch and the code epoch it was minted
// under, and is void once either moved. The grant epoch of a keychain and
// package moves when a grant is made anew, loses a key or approves other
// code; its counter outlives the grant, so deleting a grant and making it
// again never brings back a number already handed out. The code epoch of a
// package moves with every change of its sha256 or its approval digest
// (approval.go), so code that changes and changes back does not revive
// tokens minted before.

// pfxGrantEpoch keys the grant epoch counter of a keychain and package:
// gre/<kc>\0<pkg>, an 8-byte big-endian number.
const pfxGrantEpoch = "gre/"

// nextGrantEpoch moves the counter of kc and pkg on and returns it.
func nextGrantEpoch(w writer, kc, pkg string) (uint64, error) {
	k := key(pfxGrantEpoch, kc, pkg)
	var n uint64
	switch raw, err := w.Get(k); {
	case err == nil && len(raw) == 8:
		n = binary.BigEndian.Uint64(raw)
	case err == nil:
		return 0, ErrCorrupt
	case !errors.Is(err, errNoKey):
		return 0, err
	}
	n++
	return n, w.Set(k, binary.BigEndian.AppendUint64(nil, n))
}

// keepsGrantEpoch reports whether a grant of keys for code sha, put over
// old (nil when there is none), leaves every token minted under old valid:
// only when it takes nothing away.
func keepsGrantEpoch(old *Grant, keys []string, m *Manifest) bool {
	if old == nil || old.Epoch == 0 || !old.Approves(m) {
		return false
	}
	for _, k := range old.Keys {
		if !slices.Contains(keys, k) {
			return false
		}
	}
	return true
}

// codeEpoch is the code epoch of m put over old (nil when new).
func codeEpoch(old *Manifest, m *Manifest) uint64 {
	switch {
	case old == nil:
		return 1
	case old.SHA256 != m.SHA256 || approvalDigest(old) != m.Approval:
		return old.CodeEpoch + 1
	}
	return old.CodeEpoch
}
