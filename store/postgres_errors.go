package store

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// pgError is what every PostgreSQL failure becomes, mapped here once. Its
// text names the database by host, port, name and user, never by DSN,
// and never holds the password; it does not wrap the driver's error, so
// no caller can print more than this.
type pgError struct {
	msg  string
	kind error  // ErrUnavailable, ErrConflict or nil
	code string // SQLSTATE, when the server answered
	// cancelled is context.Canceled when the caller gave up (a request
	// that ended), so the caller can tell that from the database failing.
	cancelled error
}

func (e *pgError) Error() string { return e.msg }

func (e *pgError) Unwrap() []error {
	var out []error
	for _, err := range []error{e.kind, e.cancelled} {
		if err != nil {
			out = append(out, err)
		}
	}
	return out
}

// retryable reports a transaction that lost a serialization race or a
// deadlock and may simply run again.
func retryable(err error) bool {
	var pe *pgError
	return errors.As(err, &pe) && (pe.code == "40001" || pe.code == "40P01")
}

func (b *postgresBackend) mapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	kind, code := ErrUnavailable, ""
	var detail string
	var cancelled error
	var pe *pgconn.PgError
	switch {
	case errors.As(err, &pe):
		code = pe.Code
		detail = fmt.Sprintf("%s (SQLSTATE %s)", pe.Message, pe.Code)
		if !pgUnavailableCode(pe.Code) {
			kind = nil
		}
		if code == "40001" || code == "40P01" {
			kind = ErrConflict
		}
	case errors.Is(err, context.Canceled):
		// The caller's context ended first: nothing says the database
		// is down, but the call did not complete.
		detail, cancelled = "the caller gave up before the database answered", context.Canceled
	case errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err):
		detail = fmt.Sprintf("no answer within %s", b.timeout)
	default:
		// Anything else from the driver is the connection failing: refused,
		// reset, closed or not established.
		detail = err.Error()
	}
	msg := redactPassword(fmt.Sprintf("postgres %s: %s: %s", b.where, op, detail))
	if kind != nil {
		msg += ": " + kind.Error()
	}
	return &pgError{msg: msg, kind: kind, code: code, cancelled: cancelled}
}

// The password fields of a DSN: a URL's userinfo password, and a
// keyword/value password (bare or single-quoted, with \' escapes).
var (
	urlPassword = regexp.MustCompile(`(://[^:/@\s]*:)[^@\s]*@`)
	kvPassword  = regexp.MustCompile(`(?i)(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s']\S*)`)
)

// redactPassword replaces the password field of any DSN in msg, and
// nothing else: the password's characters elsewhere in a message are not
// the password (a password "e" must leave "postgres" alone).
func redactPassword(msg string) string {
	msg = urlPassword.ReplaceAllString(msg, "${1}[password]@")
	return kvPassword.ReplaceAllString(msg, "${1}[password]")
}

// pgUnavailableCode tells server errors that mean "not now" (connection
// trouble, shutdown, overload, refused login) from errors in a request.
func pgUnavailableCode(code string) bool {
	switch {
	case strings.HasPrefix(code, "08"), // connection exception
		strings.HasPrefix(code, "28"), // invalid authorization
		strings.HasPrefix(code, "53"), // insufficient resources
		strings.HasPrefix(code, "57"), // operator intervention: shutdown, cancel
		code == "3D000":               // database does not exist
		return true
	}
	return false
}
