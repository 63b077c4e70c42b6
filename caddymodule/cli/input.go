package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"unicode/utf8"

	"golang.org/x/term"
)

// maxValueRead bounds what is read for a value: keygate refuses values
// over its max_value_bytes (at most 64 KiB) anyway.
const maxValueRead = 64 << 10

// readValue reads a secret value: with a prompt that does not echo when
// stdin is a terminal, else all of stdin, less one trailing newline ("\n"
// or "\r\n"). Values never come from argv or the environment, where other
// users (ps, /proc) and shell history would see them.
//
// The caller should wipe the returned bytes once they are sent.
func readValue(e *env, what string) ([]byte, error) {
	var v []byte
	if f, ok := e.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(e.stderr, "Value for %s (input hidden): ", oneLine(what))
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(e.stderr)
		if err != nil {
			return nil, fmt.Errorf("reading the value from the terminal: %v", err)
		}
		v = b
	} else {
		b, err := io.ReadAll(io.LimitReader(e.stdin, maxValueRead+3))
		if err != nil {
			return nil, fmt.Errorf("reading the value from stdin: %v", err)
		}
		v = trimNewline(b)
	}
	switch {
	case len(v) == 0:
		return nil, errors.New("the value is empty: pipe it on stdin or type it at the prompt")
	case len(v) > maxValueRead:
		wipe(v)
		return nil, fmt.Errorf("the value is longer than %d bytes", maxValueRead)
	case !utf8.Valid(v):
		// The API takes values as JSON strings, which would silently
		// replace invalid bytes; refuse rather than store another value.
		wipe(v)
		return nil, errors.New("the value is not valid UTF-8 text")
	}
	return v, nil
}

// trimNewline removes one trailing "\n" or "\r\n", the line end that
// echo and most editors add; any other CR or LF stays, and keygate
// refuses it.
func trimNewline(b []byte) []byte {
	if n, ok := bytes.CutSuffix(b, []byte("\n")); ok {
		b = n
		if n, ok := bytes.CutSuffix(b, []byte("\r")); ok {
			b = n
		}
	}
	return b
}

// wipe overwrites b. It cannot reach copies that the runtime or the HTTP
// stack made, but the process is short-lived and copies no more than it
// must.
func wipe(b []byte) {
	clear(b)
}

// valueBody builds {"value":<v>,...rest} without making a string of v, so
// that the buffer can be wiped after the request. rest is a JSON object
// of the other fields.
func valueBody(v []byte, rest []byte) []byte {
	b := make([]byte, 0, len(v)+len(rest)+32)
	b = append(b, `{"value":`...)
	b = appendJSONString(b, v)
	if r := bytes.TrimSpace(rest); len(r) > 2 {
		b = append(b, ',')
		b = append(b, r[1:]...)
	} else {
		b = append(b, '}')
	}
	return b
}

// appendJSONString appends v (valid UTF-8) as a JSON string.
func appendJSONString(b, v []byte) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for _, c := range v {
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
