package store

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error the store returns wraps at most one of them,
// with details that name fields, ids and key names, never secret values.
var (
	ErrNotFound  = errors.New("not found")
	ErrInvalid   = errors.New("invalid")
	ErrConflict  = errors.New("conflict")
	ErrMasterKey = errors.New("master key")
	ErrClosed    = errors.New("store closed")
	// ErrUnavailable means the shared database did not answer within the
	// store's bound (down, unreachable or refusing us); callers answer 503
	// and try again later. Nothing was acknowledged that is not stored.
	ErrUnavailable = errors.New("storage unavailable")
	// ErrCorrupt means a sealed record failed authentication: it was
	// altered, moved to another owner, name or version, or truncated.
	ErrCorrupt = errors.New("sealed record does not open")
)

// ValidationError is a refused input. Field names the input (for example
// "allowed_hosts[1]" or "keys[0].name"); Problem says what is wrong with it
// without repeating the value, which may be secret.
type ValidationError struct {
	Field   string
	Problem string
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("invalid %s: %s", e.Field, e.Problem)
}

// Is makes errors.Is(err, ErrInvalid) hold for every validation error.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

func invalid(field, problem string) error {
	return &ValidationError{Field: field, Problem: problem}
}

// MasterKeyError reports a master key that is wrong or missing for this
// store. It names the key id only.
type MasterKeyError struct {
	ID      string
	Problem string // full sentence, already naming ID
	Missing bool   // the store needs ID, which is not configured
}

func (e *MasterKeyError) Error() string { return e.Problem }

// Unwrap lets errors.Is(err, ErrMasterKey) hold.
func (e *MasterKeyError) Unwrap() error { return ErrMasterKey }

func wrongMasterKey(id string) error {
	return &MasterKeyError{ID: id, Problem: fmt.Sprintf("master key %q does not open this store (wrong key)", id)}
}

func missingMasterKey(id string) error {
	return &MasterKeyError{ID: id, Problem: fmt.Sprintf("store needs master key %q, which is not configured", id), Missing: true}
}

func notFound(what, id string) error {
	return fmt.Errorf("%s %q: %w", what, id, ErrNotFound)
}
