package cli

import (
	"strings"
	"testing"
)

func TestBreakConsequence(t *testing.T) {
	tests := []struct{ segment, want string }{
		{"head", "503"},
		{"anchor", "pruning stops"},
		{"aud/0001", ""},
		{"", ""},
	}
	for _, tt := range tests {
		got := breakConsequence(tt.segment)
		if tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
			t.Errorf("breakConsequence(%q) = %q, want it to say %q", tt.segment, got, tt.want)
		}
	}
}
