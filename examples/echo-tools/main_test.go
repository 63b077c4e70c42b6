package main

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestRoundTrip: the package calls egress with its invocation token, and
// answers with what came back; the demo API shows the key's length and
// hash, never the key.
func TestRoundTrip(t *testing.T) {
	const key = "demo-key-123"
	api := httptest.NewServer(http.HandlerFunc(demoAPI))
	defer api.Close()
	// A stand-in for keygate's egress: it swaps the invocation token for
	// the key, as the keygate transport does.
	egress := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer inv-token" {
			http.Error(w, "wrong token", http.StatusUnauthorized)
			return
		}
		req, _ := http.NewRequest(r.Method, api.URL+strings.TrimPrefix(r.URL.Path, "/demo"), nil)
		req.Header.Set("X-Api-Key", key)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			return
		}
		defer res.Body.Close()
		io.Copy(w, res.Body)
	}))
	defer egress.Close()
	pkg := httptest.NewServer(packageHandler(egress.URL+"/demo", http.DefaultClient))
	defer pkg.Close()

	req, _ := http.NewRequest("GET", pkg.URL, nil)
	req.Header.Set("Authorization", "Bearer inv-token")
	req.Header.Set("Keygate-Keys", "DEMO_API_KEY")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	sum := sha256.Sum256([]byte(key))
	for _, want := range []string{"usable keys: DEMO_API_KEY", "keygate answered 200", "length 12, sha256 prefix " + hex.EncodeToString(sum[:4])} {
		if !strings.Contains(string(b), want) {
			t.Errorf("answer lacks %q:\n%s", want, b)
		}
	}
	if strings.Contains(string(b), key) {
		t.Fatalf("the answer shows the key:\n%s", b)
	}
}
