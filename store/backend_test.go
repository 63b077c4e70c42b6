package store

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"
)

// The backend contract itself, on every backend: ordered range scans with
// prefix, start, reverse and keys-only, across more keys than one page.
func TestBackendIterate(t *testing.T) {
	s, _ := memStore(t)
	var all [][]byte
	for i := range 2100 {
		all = append(all, []byte(fmt.Sprintf("zz/%05d", i)))
	}
	all = append(all, []byte("zz/\xff\xff"), []byte("zz0"), []byte("zy/1"))
	for i := 0; i < len(all); i += 500 {
		batch := all[i:min(i+500, len(all))]
		if err := s.update(func(w writer) error {
			for _, k := range batch {
				if err := w.Set(k, append([]byte("v:"), k...)); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	inPrefix := func(p string) [][]byte {
		var out [][]byte
		for _, k := range all {
			if bytes.HasPrefix(k, []byte(p)) {
				out = append(out, k)
			}
		}
		slices.SortFunc(out, bytes.Compare)
		return out
	}
	zz := inPrefix("zz/")
	rev := slices.Clone(zz)
	slices.Reverse(rev)
	cases := []struct {
		name string
		o    iterOptions
		want [][]byte
	}{
		{"prefix", iterOptions{Prefix: []byte("zz/")}, zz},
		{"keys only", iterOptions{Prefix: []byte("zz/"), KeysOnly: true}, zz},
		{"reverse", iterOptions{Prefix: []byte("zz/"), Reverse: true}, rev},
		{"start", iterOptions{Prefix: []byte("zz/"), Start: []byte("zz/01500")}, zz[1500:]},
		{"start between keys", iterOptions{Prefix: []byte("zz/"), Start: []byte("zz/01500x")}, zz[1501:]},
		{"reverse start", iterOptions{Prefix: []byte("zz/"), Start: []byte("zz/00700"), Reverse: true}, rev[len(rev)-701:]},
		{"reverse keys only", iterOptions{Prefix: []byte("zz/"), Reverse: true, KeysOnly: true}, rev},
		{"no match", iterOptions{Prefix: []byte("zx/")}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got [][]byte
			err := s.be.View(context.Background(), func(r reader) error {
				return r.Iterate(c.o, func(k, v []byte) error {
					if !c.o.KeysOnly && !bytes.Equal(v, append([]byte("v:"), k...)) {
						t.Fatalf("value of %q is %q", k, v)
					}
					got = append(got, bytes.Clone(k))
					return nil
				})
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(c.want) || (len(got) > 0 && (!bytes.Equal(got[0], c.want[0]) || !bytes.Equal(got[len(got)-1], c.want[len(c.want)-1]))) {
				t.Fatalf("got %d keys, want %d", len(got), len(c.want))
			}
			for i := range got {
				if !bytes.Equal(got[i], c.want[i]) {
					t.Fatalf("key %d = %q, want %q", i, got[i], c.want[i])
				}
			}
		})
	}
	// errStop ends early without error; empty values round-trip.
	n := 0
	err := s.be.View(context.Background(), func(r reader) error {
		return r.Iterate(iterOptions{Prefix: []byte("zz/")}, func(_, _ []byte) error {
			n++
			if n == 3 {
				return errStop
			}
			return nil
		})
	})
	if err != nil || n != 3 {
		t.Fatalf("stop: n=%d %v", n, err)
	}
	rawSet(t, s, []byte("zz-empty"), nil)
	if v := rawGet(t, s, []byte("zz-empty")); len(v) != 0 {
		t.Fatalf("empty value came back as %q", v)
	}
	if _, err := s.be.Get(context.Background(), []byte("zz-none")); err != errNoKey {
		t.Fatalf("missing key: %v", err)
	}
}

// fn may run more than once: a transaction whose fn fails writes nothing.
func TestBackendUpdateAtomic(t *testing.T) {
	s, _ := memStore(t)
	err := s.update(func(w writer) error {
		if err := w.Set([]byte("zz/a"), []byte("1")); err != nil {
			return err
		}
		return errSimulatedCrash
	})
	if err != errSimulatedCrash {
		t.Fatalf("err = %v", err)
	}
	if _, err := s.be.Get(context.Background(), []byte("zz/a")); err != errNoKey {
		t.Fatalf("a failed transaction wrote: %v", err)
	}
}
