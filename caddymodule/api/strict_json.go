package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
)

// encoding/json matches object keys to fields case-insensitively and lets
// a repeated key win over the first. Two readers of one body (a proxy or
// audit tool in front, keygate behind) could then see different
// requests: {"value":"a","VALUE":"b"}. checkKeys refuses both shapes for
// every body the API decodes: each key must be a field's exact name and
// appear once per object.

// checkKeys walks one JSON value of raw against t.
func checkKeys(raw []byte, t reflect.Type) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	return walkKeys(dec, t, "")
}

func walkKeys(dec *json.Decoder, t reflect.Type, path string) error {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	switch d {
	case '[':
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for dec.More() {
			if err := walkKeys(dec, elem, path+"[]"); err != nil {
				return err
			}
		}
	case '{':
		fields := jsonFields(t)
		seen := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return err
			}
			k, _ := kt.(string)
			field := strings.TrimPrefix(path+"."+k, ".")
			if seen[strings.ToLower(k)] {
				return keyProblem(field, fmt.Sprintf("field %q appears more than once (keys are case-sensitive and unique)", field))
			}
			seen[strings.ToLower(k)] = true
			var next reflect.Type
			switch {
			case t != nil && t.Kind() == reflect.Map:
				next = t.Elem()
			case fields != nil:
				ft, ok := fields[k]
				if !ok {
					return keyProblem(field, fmt.Sprintf("unknown field %q (field names are case-sensitive)", field))
				}
				next = ft
			}
			if err := walkKeys(dec, next, field); err != nil {
				return err
			}
		}
	}
	_, err = dec.Token() // the closing delimiter
	return err
}

// jsonFields maps the JSON names of a struct's fields to their types; nil
// for what is not a struct (its keys are not checked against names).
func jsonFields(t reflect.Type) map[string]reflect.Type {
	if t == nil || t.Kind() != reflect.Struct || t == reflect.TypeFor[json.RawMessage]() {
		return nil
	}
	// A type that decodes itself (a manifest key's placement, list or
	// object) has JSON names that are not its fields'.
	if reflect.PointerTo(t).Implements(reflect.TypeFor[json.Unmarshaler]()) {
		return nil
	}
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" {
			for k, v := range jsonFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

func keyProblem(field, detail string) error {
	p := badRequest(detail)
	p.Field = field
	return p
}

// readBody reads the whole (already bounded) body.
func readBody(r *http.Request) ([]byte, error) {
	raw, err := io.ReadAll(r.Body)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, jsonProblem(err)
	}
	return raw, err
}
