package store

import (
	"encoding/json"
	"errors"
	"strconv"
	"time"
)

// appendAuditEvents appends evs as a JSON array, byte for byte what
// encoding/json writes for them (FuzzAuditEncoding holds it to that), but
// without reflection and without an allocation per event: every proxied
// request writes one event, and a segment's bytes are its MAC's input.
func appendAuditEvents(dst []byte, evs []AuditEvent) ([]byte, error) {
	dst = append(dst, '[')
	for i := range evs {
		if i > 0 {
			dst = append(dst, ',')
		}
		var err error
		if dst, err = appendAuditEvent(dst, &evs[i]); err != nil {
			return nil, err
		}
	}
	return append(dst, ']'), nil
}

// errAuditTime is a time encoding/json cannot write either.
var errAuditTime = errors.New("audit event time: year outside of range [0,9999]")

func appendAuditEvent(dst []byte, ev *AuditEvent) ([]byte, error) {
	dst = append(dst, `{"id":`...)
	dst = appendJSONString(dst, ev.ID)
	dst = append(dst, `,"time":`...)
	var err error
	if dst, err = appendJSONTime(dst, ev.Time); err != nil {
		return nil, err
	}
	dst = append(dst, `,"actor":`...)
	dst = appendJSONString(dst, ev.Actor)
	dst = append(dst, `,"action":`...)
	dst = appendJSONString(dst, ev.Action)
	dst = appendOmitEmpty(dst, `,"keychain":`, ev.Keychain)
	dst = appendOmitEmpty(dst, `,"package":`, ev.Package)
	if len(ev.Keys) > 0 {
		dst = append(dst, `,"keys":[`...)
		for i, k := range ev.Keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, k)
		}
		dst = append(dst, ']')
	}
	dst = append(dst, `,"decision":`...)
	dst = appendJSONString(dst, ev.Decision)
	if ev.Status != 0 {
		dst = append(dst, `,"status":`...)
		dst = strconv.AppendInt(dst, int64(ev.Status), 10)
	}
	dst = appendOmitEmpty(dst, `,"reason":`, ev.Reason)
	dst = appendOmitEmpty(dst, `,"request_id":`, ev.RequestID)
	dst = appendOmitEmpty(dst, `,"host":`, ev.Host)
	dst = appendOmitEmpty(dst, `,"method":`, ev.Method)
	dst = appendOmitEmpty(dst, `,"path":`, ev.Path)
	return append(dst, '}'), nil
}

func appendOmitEmpty(dst []byte, key, v string) []byte {
	if v == "" {
		return dst
	}
	return appendJSONString(append(dst, key...), v)
}

// appendJSONTime writes t as time.Time's MarshalJSON does; audit times
// are UTC, and any other zone goes the slow way.
func appendJSONTime(dst []byte, t time.Time) ([]byte, error) {
	if y := t.Year(); y < 0 || y > 9999 || t.Location() != time.UTC {
		b, err := t.MarshalJSON()
		if err != nil {
			return nil, errAuditTime
		}
		return append(dst, b...), nil
	}
	dst = append(dst, '"')
	dst = t.AppendFormat(dst, time.RFC3339Nano)
	return append(dst, '"'), nil
}

// appendJSONString writes s as encoding/json does. Audit fields are
// names, ids and machine words, printable ASCII almost always; anything
// else (escapes, HTML-escaped <>&, UTF-8) is left to encoding/json.
func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s) // a string always encodes
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// auditEncodedSize is about what appendAuditEvents writes for evs (exact
// for plain ASCII fields), so the buffer is allocated once.
func auditEncodedSize(evs []AuditEvent) int {
	// keys, punctuation, the time and the status: the rest of an event.
	const fixed = len(`{"id":"","time":"2006-01-02T15:04:05.999999999Z","actor":"","action":"","keychain":"","package":"","keys":[],"decision":"","status":000,"reason":"","request_id":"","host":"","method":"","path":""},`)
	n := 2
	for i := range evs {
		ev := &evs[i]
		n += fixed + len(ev.ID) + len(ev.Actor) + len(ev.Action) + len(ev.Keychain) + len(ev.Package) +
			len(ev.Decision) + len(ev.Reason) + len(ev.RequestID) + len(ev.Host) + len(ev.Method) + len(ev.Path)
		for _, k := range ev.Keys {
			n += len(k) + 3
		}
	}
	return n
}
