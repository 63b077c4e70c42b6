package store

import "fmt"

// keyLimits are what packages declare about one key name: the smallest
// max_bytes among them (0: none) and who declared it, and the longest
// rotation_hint_days, the default of the owner's reminder.
type keyLimits struct {
	maxBytes         int
	by               string
	rotationHintDays int
}

// userKeyLimits reads every registered manifest that declares name as a
// user key. A keychain's secret serves every package that asks for its
// name, so the strictest max_bytes holds. Setting a value is rare: a scan
// of the manifests is fine here, and it never runs on a request's path.
func userKeyLimits(r reader, name string) (keyLimits, error) {
	var lim keyLimits
	err := r.Iterate(iterOptions{Prefix: []byte(pfxPackage)}, func(_, v []byte) error {
		var m Manifest
		if err := decodeJSON(v, &m); err != nil {
			return err
		}
		k, ok := m.Key(name)
		if !ok {
			return nil
		}
		if k.MaxBytes > 0 && (lim.maxBytes == 0 || k.MaxBytes < lim.maxBytes) {
			lim.maxBytes, lim.by = k.MaxBytes, m.Name
		}
		lim.rotationHintDays = max(lim.rotationHintDays, k.RotationHintDays)
		return nil
	})
	return lim, err
}

// check refuses a value longer than max_bytes, naming the limit and never
// the value.
func (l keyLimits) check(name string, n int) error {
	if l.maxBytes > 0 && n > l.maxBytes {
		return invalid("value", fmt.Sprintf("is %d bytes; package %s allows at most %d for %s (max_bytes)", n, l.by, l.maxBytes, name))
	}
	return nil
}
