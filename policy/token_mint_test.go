package policy

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/keygate/keygate/store"
)

// The hand-written payload is encoding/json's, byte for byte.
func TestAppendInvocationMatchesJSON(t *testing.T) {
	for _, w := range []invocationWire{
		{},
		{registered: registered{Issuer: "keygate", Audience: audInvocation, Subject: "kc_1", Type: typInvocation, ID: "abc", IssuedAt: 1, Expires: 2},
			Package: "@acme/tools", SHA256: "9f2c", KeychainVersion: 3, GrantEpoch: 4, CodeEpoch: 5,
			Keys: []string{"A", "B_C"}, AppKeys: []string{}, RequestID: "req-1"},
		{registered: registered{Issuer: "ke\"y<g>a&te\\\n\u2028é\xff", IssuedAt: -5}, Package: "</script>", Keys: []string{""}},
	} {
		checkAppendInvocation(t, &w)
	}
}

func FuzzAppendInvocation(f *testing.F) {
	f.Add("keygate", "kc_1", "@acme/tools", "API_KEY", "req", int64(1), uint64(2))
	f.Add("<&>", "\x00\x1f", "\u2028\u2029", "\xff\xfe", "\"\\", int64(-1), uint64(1<<63))
	f.Fuzz(func(t *testing.T, iss, sub, pkg, key, rid string, iat int64, n uint64) {
		w := invocationWire{registered: registered{Issuer: iss, Subject: sub, ID: key, IssuedAt: iat, Expires: iat},
			Package: pkg, SHA256: rid, KeychainVersion: n, GrantEpoch: n >> 1, CodeEpoch: n & 1, Keys: []string{key, sub}, RequestID: rid}
		if n&2 != 0 {
			w.AppKeys = []string{pkg}
		}
		checkAppendInvocation(t, &w)
	})
}

func checkAppendInvocation(t *testing.T, w *invocationWire) {
	t.Helper()
	want, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	if got := appendInvocation(nil, w); !bytes.Equal(got, want) {
		t.Fatalf("appendInvocation differs from encoding/json:\n got %s\nwant %s", got, want)
	}
}

// A minted token verifies to the claims the minter returned, and minting
// allocates only the jti and the token.
func TestMintInvocationClaims(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	tk, err := NewTokens([]store.SigningKey{{ID: "k1", Secret: bytes.Repeat([]byte{7}, 32)}}, TokenOptions{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	in := Invocation{Keychain: "kc_1", Package: "@acme/tools", SHA256: "ab", KeychainVersion: 2, GrantEpoch: 3, CodeEpoch: 4,
		Keys: []string{"API_KEY"}, AppKeys: []string{"APP"}, RequestID: "r1"}
	tok, minted, err := tk.MintInvocation(in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tk.VerifyInvocationToken(tok)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, minted) {
		t.Fatalf("verified %+v, minted %+v", got, minted)
	}
	if n := testing.AllocsPerRun(200, func() { _, _, _ = tk.MintInvocation(in) }); n > 2 {
		t.Fatalf("MintInvocation allocates %v times, want at most 2", n)
	}
}
