package policy

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/store"
)

func TestCacheRechecksExpiry(t *testing.T) {
	c := newClock()
	tk := mustTokens(t, c, keyA)
	tok, _ := tk.MintInvocationToken(testCall)
	if _, err := tk.VerifyInvocationToken(tok); err != nil {
		t.Fatal(err)
	}
	c.Add(5*time.Minute + 4*time.Second) // within leeway: still good, from the cache
	if _, err := tk.VerifyInvocationToken(tok); err != nil {
		t.Fatalf("within leeway: %v", err)
	}
	c.Add(time.Second)
	if _, err := tk.VerifyInvocationToken(tok); !errors.Is(err, ErrTokenExpired) {
		t.Fatalf("cached token past exp: %v", err)
	}
}

func TestCacheReturnsOwnSlices(t *testing.T) {
	tk := mustTokens(t, newClock(), keyA)
	tok, _ := tk.MintInvocationToken(testCall)
	for i := 0; i < 3; i++ {
		got, err := tk.VerifyInvocationToken(tok)
		if err != nil {
			t.Fatal(err)
		}
		if got.Keys[0] != "OPENAI_API_KEY" || got.AppKeys[0] != "WEBHOOK_SIGNING_SECRET" {
			t.Fatalf("round %d: cache was changed through a returned slice: %v %v", i, got.Keys, got.AppKeys)
		}
		got.Keys[0], got.AppKeys[0] = "EVIL", "EVIL"
	}
}

func TestCacheIsPerTokens(t *testing.T) {
	// A token that verified under one key set does not verify from the
	// cache of a Tokens built after its key was retired.
	c := newClock()
	before := mustTokens(t, c, keyA)
	tok, _ := before.IssueKeychainToken(testKC)
	if _, err := before.VerifyKeychainToken(tok); err != nil {
		t.Fatal(err)
	}
	retired := keyA
	retired.Retired = true
	after := mustTokens(t, c, retired, keyB)
	if _, err := after.VerifyKeychainToken(tok); !errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("retired key's token accepted: %v", err)
	}
}

func TestCacheDoesNotRememberFailures(t *testing.T) {
	c := newClock()
	tk := mustTokens(t, c, keyA)
	future := forge(hdr("HS256", "k-a"), with(keychainClaims(testNow), "iat", testNow.Add(time.Minute).Unix()), hs256(derive(secretA, labelKeychain)))
	if _, err := tk.VerifyKeychainToken(future); err == nil {
		t.Fatal("token from the future accepted")
	}
	c.Add(2 * time.Minute)
	if _, err := tk.VerifyKeychainToken(future); err != nil {
		t.Fatalf("once its iat has passed: %v", err)
	}
}

func TestCacheBounded(t *testing.T) {
	c := newClock()
	tk, err := NewTokens([]store.SigningKey{keyA}, TokenOptions{Now: c.Now, CacheSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 1000; i++ {
		kc := testKC
		kc.ID = fmt.Sprintf("kc_%026d", i)
		tok, _ := tk.IssueKeychainToken(kc)
		got, err := tk.VerifyKeychainToken(tok)
		if err != nil || got.Keychain != kc.ID {
			t.Fatalf("%d: %+v %v", i, got, err)
		}
	}
	n := 0
	for i := range tk.kcCache.shards {
		n += len(tk.kcCache.shards[i].m)
	}
	if n > 64 {
		t.Fatalf("cache holds %d tokens, cap 64", n)
	}
}

func TestCacheDisabled(t *testing.T) {
	c := newClock()
	tk, err := NewTokens([]store.SigningKey{keyA}, TokenOptions{Now: c.Now, CacheSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	if tk.kcCache != nil || tk.invCache != nil {
		t.Fatal("cache built")
	}
	tok, _ := tk.MintInvocationToken(testCall)
	for i := 0; i < 2; i++ {
		if _, err := tk.VerifyInvocationToken(tok); err != nil {
			t.Fatal(err)
		}
	}
}

// A hit needs the very bytes that verified: the signature of a cached
// token over claims of the caller's own, or over the same claims with a
// byte more or less, is verified in full and refused.
func TestCacheHitNeedsTheSameBytes(t *testing.T) {
	tk := mustTokens(t, newClock(), keyA)
	tok, _ := tk.MintInvocationToken(testCall)
	other := testCall
	other.Keys = []string{"ANTHROPIC_API_KEY"}
	tok2, _ := tk.MintInvocationToken(other)
	if _, err := tk.VerifyInvocationToken(tok); err != nil {
		t.Fatal(err)
	}
	dot := strings.LastIndexByte(tok, '.')
	dot2 := strings.LastIndexByte(tok2, '.')
	forged := []string{
		tok2[:dot2] + tok[dot:],                 // another token's claims, the cached MAC
		tok[:dot-1] + tok[dot:],                 // a byte shorter
		tok[:dot] + "A" + tok[dot:],             // a byte longer, in the claims
		tok[:dot] + tok[dot:] + "\n",            // a CR/LF the decoder would skip
		tok[:dot] + "." + tok[dot+1:len(tok)-1], // the MAC cut
	}
	for i, f := range forged {
		if _, err := tk.VerifyInvocationToken(f); !errors.Is(err, ErrTokenInvalid) {
			t.Fatalf("forgery %d verified: %v", i, err)
		}
	}
	// The real ones still verify, from the cache and not.
	for _, s := range []string{tok, tok2, tok} {
		if _, err := tk.VerifyInvocationToken(s); err != nil {
			t.Fatal(err)
		}
	}
	kc, _ := tk.IssueKeychainToken(testKC)
	if _, err := tk.VerifyKeychainToken(kc); err != nil {
		t.Fatal(err)
	}
	d := strings.LastIndexByte(kc, '.')
	if _, err := tk.VerifyKeychainToken(tok[:dot] + kc[d:]); !errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("keychain MAC over invocation claims verified: %v", err)
	}
}

func TestCacheKeyAllocs(t *testing.T) {
	tk := mustTokens(t, newClock(), keyA)
	tok, _ := tk.MintInvocationToken(testCall)
	if n := testing.AllocsPerRun(100, func() { _ = tk.invCache.key(tok) }); n != 0 {
		t.Fatalf("the cache key allocates %v times", n)
	}
}
