package store

import (
	"reflect"
	"testing"
)

func TestCountsByKind(t *testing.T) {
	got := CountsByKind(map[string]int{"sec/": 3, "kc/": 1, "kco/": 1, "aus/": 2, "auh/": 1, "au/": 2, "other": 1})
	want := []KindCount{{"secrets", 3}, {"keychains", 1}, {"audit segments", 2}, {kindIndexes, 5}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("CountsByKind = %v, want %v", got, want)
	}
	if got := CountsByKind(nil); got != nil {
		t.Errorf("CountsByKind(nil) = %v", got)
	}
}
