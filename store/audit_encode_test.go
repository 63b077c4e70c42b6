package store

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzAuditEncoding: appendAuditEvents writes exactly what encoding/json
// writes for the same events (a segment's bytes are MACed, and segments
// written before it must read and verify the same), and fails where it
// fails.
func FuzzAuditEncoding(f *testing.F) {
	f.Add("ev_0123", int64(1764806400), int64(123456789), "package", "egress", "kc_1", "@acme/tools", "API_KEY,OTHER", "allow", 200, "", "req-1", "api.example.com", "POST", "/v1/x", false)
	f.Add("", int64(0), int64(0), "owner:<o1>", "secret.put", "", "", "", "ok", 0, "a&b", "", "", "", "", true)
	f.Add("\x00\u2028\"\\", int64(-62135596801), int64(999), "é\xff", "\t\n\b\f", "<>", "&", ",", "deny", -1, "\x7f", "\u00e9", "\U0001F600", "<GET>", "/a b\u2029", false)
	f.Fuzz(func(t *testing.T, id string, secs, nanos int64, actor, action, kc, pkg, keys, decision string, status int, reason, reqID, host, method, path string, zoned bool) {
		tm := time.Unix(secs, nanos).UTC()
		if zoned {
			tm = tm.In(time.FixedZone("x", 3600))
		}
		ev := AuditEvent{ID: id, Time: tm, Actor: actor, Action: action, Keychain: kc, Package: pkg, Decision: decision,
			Status: status, Reason: reason, RequestID: reqID, Host: host, Method: method, Path: path}
		if keys != "" {
			ev.Keys = strings.Split(keys, ",")
		}
		for _, evs := range [][]AuditEvent{{ev}, {ev, {Time: tm.AddDate(9000, 0, 0)}}, {}} {
			want, wantErr := json.Marshal(evs)
			got, err := appendAuditEvents([]byte("prefix"), evs)
			if (err != nil) != (wantErr != nil) {
				t.Fatalf("%+v: error %v, encoding/json's %v", evs, err, wantErr)
			}
			if err == nil && !bytes.Equal(got, append([]byte("prefix"), want...)) {
				t.Fatalf("%+v:\ngot  %s\nwant prefix%s", evs, got, want)
			}
		}
	})
}

// TestAuditEncodingCoversEveryField: an event with every field set encodes
// as encoding/json encodes it, so a field added to AuditEvent and not to
// the encoder fails here rather than going missing from the trail.
func TestAuditEncodingCoversEveryField(t *testing.T) {
	var ev AuditEvent
	v := reflect.ValueOf(&ev).Elem()
	for i := range v.NumField() {
		switch f := v.Field(i); f.Kind() {
		case reflect.String:
			f.SetString("v" + strconv.Itoa(i))
		case reflect.Int:
			f.SetInt(int64(i + 1))
		case reflect.Slice:
			f.Set(reflect.ValueOf([]string{"K" + strconv.Itoa(i)}))
		case reflect.Struct: // the time
			f.Set(reflect.ValueOf(time.Unix(1764806400, 1).UTC()))
		default:
			t.Fatalf("field %s of kind %s: teach this test and appendAuditEvent about it", v.Type().Field(i).Name, f.Kind())
		}
	}
	want, _ := json.Marshal([]AuditEvent{ev})
	got, err := appendAuditEvents(nil, []AuditEvent{ev})
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("got  %s (%v)\nwant %s", got, err, want)
	}
}

// TestAuditEncodingAllocs: a batch is encoded into one buffer, with no
// allocation per event.
func TestAuditEncodingAllocs(t *testing.T) {
	evs := make([]AuditEvent, 256)
	for i := range evs {
		evs[i] = AuditEvent{ID: newAuditID(time.Now()), Time: time.Now().UTC(), Actor: "package", Action: "egress",
			Keychain: "kc_0123", Package: "@acme/tools", Keys: []string{"API_KEY"}, Decision: "allow", Status: 200, Host: "api.example.com"}
	}
	buf := make([]byte, 0, 256<<10)
	if n := testing.AllocsPerRun(20, func() {
		if _, err := appendAuditEvents(buf[:0], evs); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("%v allocations encoding 256 events into a buffer that fits them, want 0", n)
	}
}

// BenchmarkAuditEncoding: a 256-event batch, as the audit writer hands
// the store under load, encoded by encoding/json and by the encoder.
func BenchmarkAuditEncoding(b *testing.B) {
	evs := make([]AuditEvent, 256)
	for i := range evs {
		evs[i] = AuditEvent{ID: newAuditID(time.Now()), Time: time.Now().UTC(), Actor: "package", Action: "egress",
			Keychain: "kc_0123456789abcdef", Package: "@acme/tools", Keys: []string{"API_KEY"}, Decision: "allow", Status: 200,
			RequestID: "3f1c2b7e-0d4a-4c55-9b1e-8a6f2d9c0e11", Host: "api.example.com"}
	}
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(evs); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := appendAuditEvents(make([]byte, 0, auditEncodedSize(evs)), evs); err != nil {
				b.Fatal(err)
			}
		}
	})
}
