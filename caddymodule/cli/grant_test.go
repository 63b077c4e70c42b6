package cli

import (
	"strings"
	"testing"
)

// TestGrantStatusSaysWhatIsMissing: a required key the grant does not
// approve is reported as not approved, not as waiting for a value.
func TestGrantStatusSaysWhatIsMissing(t *testing.T) {
	tests := []struct {
		name      string
		g         grant
		want, not string
	}{
		{"not approved", grant{Status: "missing_keys", Keys: nil, MissingKeys: []string{"A"}}, "not approved: A (keygate grant)", "waiting"},
		{"no value", grant{Status: "missing_keys", Keys: []string{"A"}, MissingKeys: []string{"A"}}, "waiting for values of A (keygate secret set)", "not approved"},
		{"both", grant{Status: "missing_keys", Keys: []string{"B"}, MissingKeys: []string{"A", "B"}}, "not approved: A (keygate grant); waiting for values of B", "\x00"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := statusText(tc.g)
			if !strings.Contains(got, tc.want) || strings.Contains(got, tc.not) {
				t.Fatalf("statusText = %q, want %q and not %q", got, tc.want, tc.not)
			}
		})
	}
}
