package policy

import (
	"bytes"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

func TestTokenSumAllocs(t *testing.T) {
	tok := strings.Repeat("a", 800)
	if n := testing.AllocsPerRun(100, func() { _ = tokenSum(tok) }); n != 0 {
		t.Fatalf("tokenSum allocates %v times", n)
	}
}

// The pooled MAC is HS256 as the jwt library computes it, on every use.
func TestPooledMACIsHS256(t *testing.T) {
	k := &tokenKind{sign: []byte("0123456789abcdef0123456789abcdef")}
	for _, s := range []string{"a.b", strings.Repeat("x", 700), "", "a.b"} {
		want, err := jwt.SigningMethodHS256.Sign(s, k.sign)
		if err != nil {
			t.Fatal(err)
		}
		if got := k.macInto(nil, []byte(s)); !bytes.Equal(got, want) {
			t.Fatalf("mac of %d bytes differs from HS256", len(s))
		}
	}
}
