package store

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"
)

// Held calls and shape approvals (see the gateway's pending registry).
//
// A held call is a request parked on one node, waiting for its keychain's
// owner. Its record lets every node list it and lets a decision on any
// node take it, once: TakeHeld deletes it in the transaction that reads
// it, so a replayed decision finds nothing. Records expire with the call's
// wait; one left by a node that died is ignored past Expires and pruned.
// The record holds what the owner is shown (method, host, path, body hash
// and a small JSON body), never a secret value, and is not cached. The
// body is sealed like a secret, since a request's body may be private; it
// is not rewrapped (a call lives minutes), and one sealed under a master
// key since removed is shown without its body.
//
//	hld/<kc>\0<id>               held call: record of JSON meta + sealed body
//	apr/<kc>\0<shape>            shape approval JSON (expiry)
const (
	pfxHeld          = "hld/"
	pfxShapeApproval = "apr/"
	scopeHeld        = "held"
	// maxHeldList bounds one keychain's listing.
	maxHeldList = 1000
)

// HeldCall is what the owner is shown of a held call.
type HeldCall struct {
	ID         string          `json:"id"`
	Keychain   string          `json:"keychain"`
	Package    string          `json:"package,omitempty"`
	Key        string          `json:"key,omitempty"`
	Kind       string          `json:"kind"`   // "value", "grant" or "approve"
	Reason     string          `json:"reason"` // the answer it would get now: missing_keys, no_grant, not_approved, approval_required
	Flow       string          `json:"flow"`   // "ingress", "egress" or "proxy"
	Method     string          `json:"method,omitempty"`
	Host       string          `json:"host,omitempty"`
	Path       string          `json:"path,omitempty"`
	BodySize   int64           `json:"body_size"`
	BodySHA256 string          `json:"body_sha256,omitempty"`
	Body       json.RawMessage `json:"body,omitempty"`
	Shape      string          `json:"shape,omitempty"` // key of "this exact shape", approve only
	RequestID  string          `json:"request_id"`
	Created    time.Time       `json:"created"`
	Expires    time.Time       `json:"expires"`
}

func heldKey(kc, id string) []byte { return key(pfxHeld, kc, id) }

// PutHeld records a held call.
func (s *Store) PutHeld(h HeldCall) error {
	_, err := s.PutHeldWithin(h, 0)
	return err
}

// PutHeldWithin records a held call unless its keychain already has
// limit unexpired ones (0: no bound); ok is false then. They are counted,
// on every node, in the transaction that adds the call: nodes adding
// calls at once cannot pass the limit between them (PostgreSQL's serializable
// transactions see the range read), and nothing is polled while calls
// wait. A record a dead node left counts until its call's wait would have
// run out.
func (s *Store) PutHeldWithin(h HeldCall, limit int) (ok bool, err error) {
	if err := checkKeychainID(h.Keychain); err != nil {
		return false, err
	}
	if h.ID == "" || len(h.ID) > 64 {
		return false, invalid("id", "must be 1 to 64 characters")
	}
	if err := s.enter(); err != nil {
		return false, err
	}
	defer s.leave()
	body := h.Body
	h.Body = nil
	meta, err := json.Marshal(h)
	if err != nil {
		return false, err
	}
	var blob []byte
	if len(body) > 0 {
		if err := s.markSealerInUse(s.kr); err != nil {
			return false, err
		}
		ctx := heldSealContext(h.Keychain, h.ID, meta)
		if blob, err = seal(s.kr, &ctx, body); err != nil {
			return false, err
		}
	}
	rec := encodeRecord(1, meta, blob)
	now := s.now()
	err = s.update(func(w writer) error {
		ok = true
		if limit > 0 {
			n, err := countHeld(w, h.Keychain, now, limit)
			if err != nil || n >= limit {
				ok = false
				return err
			}
		}
		return w.Set(heldKey(h.Keychain, h.ID), rec)
	})
	return ok && err == nil, err
}

// countHeld counts the unexpired held calls of keychain kc, up to limit.
func countHeld(r reader, kc string, now time.Time, limit int) (int, error) {
	n := 0
	err := r.Iterate(iterOptions{Prefix: key(pfxHeld, kc)}, func(_, v []byte) error {
		if exp, err := heldExpires(v); err == nil && now.Before(exp) {
			if n++; n >= limit {
				return errStop
			}
		}
		return nil
	})
	return n, err
}

func heldSealContext(kc, id string, meta []byte) sealContext {
	return sealContext{Scope: scopeHeld, Owner: kc, Name: id, Version: 1, Meta: meta}
}

// decodeHeld reads a held call's record, opening its body.
func (s *Store) decodeHeld(raw []byte) (HeldCall, error) {
	rec, err := decodeRecord(raw)
	if err != nil {
		return HeldCall{}, err
	}
	var h HeldCall
	if err := decodeJSON(rec.meta, &h); err != nil {
		return HeldCall{}, err
	}
	if len(rec.blob) > 0 {
		ctx := heldSealContext(h.Keychain, h.ID, rec.meta)
		if body, err := open(s.kr, &ctx, rec.blob, nil); err == nil {
			h.Body = body
		}
	}
	return h, nil
}

// heldExpires reads only the expiry of a held call's record.
func heldExpires(raw []byte) (time.Time, error) {
	rec, err := decodeRecord(raw)
	if err != nil {
		return time.Time{}, err
	}
	var e struct {
		Expires time.Time `json:"expires"`
	}
	err = json.Unmarshal(rec.meta, &e)
	return e.Expires, err
}

// TakeHeld removes a held call of keychain kc and returns it, once: an
// unknown, taken or expired call is ErrNotFound, so a call of another
// keychain is never found through kc.
func (s *Store) TakeHeld(kc, id string) (HeldCall, error) {
	h, found, err := s.takeHeld(kc, id)
	if err != nil {
		return HeldCall{}, err
	}
	if !found || !s.now().Before(h.Expires) {
		return HeldCall{}, notFound("held call", id)
	}
	return h, nil
}

// DropHeld removes a held call whatever its expiry, for the node that
// holds it, and reports whether it was still there (no decision took it).
func (s *Store) DropHeld(kc, id string) (bool, error) {
	_, found, err := s.takeHeld(kc, id)
	return found, err
}

// GetHeld reads one unexpired held call of keychain kc.
func (s *Store) GetHeld(kc, id string) (HeldCall, error) {
	if checkKeychainID(kc) != nil || id == "" || len(id) > 64 {
		return HeldCall{}, notFound("held call", "")
	}
	if err := s.enter(); err != nil {
		return HeldCall{}, err
	}
	defer s.leave()
	raw, err := s.be.Get(context.Background(), heldKey(kc, id))
	if errors.Is(err, errNoKey) {
		return HeldCall{}, notFound("held call", id)
	}
	if err != nil {
		return HeldCall{}, err
	}
	h, err := s.decodeHeld(raw)
	if err != nil {
		return HeldCall{}, err
	}
	if !s.now().Before(h.Expires) {
		return HeldCall{}, notFound("held call", id)
	}
	return h, nil
}

func (s *Store) takeHeld(kc, id string) (HeldCall, bool, error) {
	if checkKeychainID(kc) != nil || id == "" || len(id) > 64 {
		return HeldCall{}, false, nil
	}
	if err := s.enter(); err != nil {
		return HeldCall{}, false, err
	}
	defer s.leave()
	var raw []byte
	k := heldKey(kc, id)
	err := s.update(func(w writer) error {
		v, err := w.Get(k)
		if errors.Is(err, errNoKey) {
			raw = nil
			return nil
		}
		if err != nil {
			return err
		}
		raw = v
		return w.Delete(k)
	})
	if err != nil || raw == nil {
		return HeldCall{}, false, err
	}
	h, err := s.decodeHeld(raw)
	return h, true, err
}

// ListHeld returns the unexpired held calls of keychain kc, oldest first.
func (s *Store) ListHeld(kc string) ([]HeldCall, error) {
	if err := checkKeychainID(kc); err != nil {
		return nil, err
	}
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	now := s.now()
	var out []HeldCall
	err := s.be.View(context.Background(), func(r reader) error {
		out = out[:0]
		return r.Iterate(iterOptions{Prefix: key(pfxHeld, kc)}, func(_, v []byte) error {
			h, err := s.decodeHeld(v)
			if err != nil {
				return err
			}
			if now.Before(h.Expires) && len(out) < maxHeldList {
				out = append(out, h)
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b HeldCall) int { return a.Created.Compare(b.Created) })
	return out, nil
}

// PruneHeld deletes expired held calls and shape approvals.
func (s *Store) PruneHeld() (int, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.leave()
	now := s.now()
	var dead [][]byte
	err := s.be.View(context.Background(), func(r reader) error {
		dead = dead[:0]
		for _, pfx := range []string{pfxHeld, pfxShapeApproval} {
			err := r.Iterate(iterOptions{Prefix: []byte(pfx)}, func(k, v []byte) error {
				var exp time.Time
				var err error
				if pfx == pfxHeld {
					exp, err = heldExpires(v)
				} else {
					var a ShapeApproval
					err = json.Unmarshal(v, &a)
					exp = a.Expires
				}
				if err != nil || !now.Before(exp) {
					dead = append(dead, append([]byte(nil), k...))
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil || len(dead) == 0 {
		return 0, err
	}
	err = s.update(func(w writer) error {
		for _, k := range dead {
			if err := w.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	return len(dead), err
}

// ShapeApproval is an owner's "approve this exact shape until Expires".
type ShapeApproval struct {
	RequestID string    `json:"request_id"` // the held call it was decided on
	Expires   time.Time `json:"expires"`
}

// PutShapeApproval records that calls of keychain kc with shape are
// approved until a.Expires.
func (s *Store) PutShapeApproval(kc, shape string, a ShapeApproval) error {
	if err := checkKeychainID(kc); err != nil {
		return err
	}
	if len(shape) != 64 {
		return invalid("shape", "must be 64 hex characters")
	}
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	return s.update(func(w writer) error { return setJSON(w, key(pfxShapeApproval, kc, shape), a) })
}

// ShapeApproved reports whether calls of keychain kc with shape are
// approved now.
func (s *Store) ShapeApproved(kc, shape string) (bool, error) {
	if err := s.enter(); err != nil {
		return false, err
	}
	defer s.leave()
	raw, err := s.be.Get(context.Background(), key(pfxShapeApproval, kc, shape))
	if errors.Is(err, errNoKey) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	var a ShapeApproval
	if err := decodeJSON(raw, &a); err != nil {
		return false, err
	}
	return s.now().Before(a.Expires), nil
}
