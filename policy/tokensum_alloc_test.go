package policy

import (
	"strings"
	"testing"
)

func TestTokenSumAllocs(t *testing.T) {
	tok := strings.Repeat("a", 800)
	if n := testing.AllocsPerRun(100, func() { _ = tokenSum(tok) }); n != 0 {
		t.Fatalf("tokenSum allocates %v times", n)
	}
}
