package store

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func oauthSetup(t *testing.T) (*Store, *clock, Keychain) {
	t.Helper()
	s, c := memStore(t)
	if _, err := s.PutPackage(oauthManifest("@a/b", "b")); err != nil {
		t.Fatal(err)
	}
	return s, c, mustKeychain(t, s)
}

func TestOAuthTokenRoundTrip(t *testing.T) {
	s, c, kc := oauthSetup(t)
	exp := c.Now().Add(time.Hour)
	tok := OAuthToken{AccessToken: "at-secret-1", RefreshToken: "rt-secret-1", TokenType: "Bearer", Expiry: exp, Scopes: []string{"mail.read"}}
	meta, err := s.PutOAuthToken(kc.ID, "GMAIL_TOKEN", tok, []string{"Gmail.googleapis.com"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if meta.Kind != SecretKindOAuth || !meta.ExpiresAt.Equal(exp) || !meta.ConnectedAt.Equal(c.Now()) || meta.Scopes[0] != "mail.read" || meta.AllowedHosts[0] != "gmail.googleapis.com" {
		t.Fatalf("meta = %+v", meta)
	}
	got, gm, err := s.GetOAuthToken(kc.ID, "GMAIL_TOKEN")
	if err != nil || got.AccessToken != "at-secret-1" || got.RefreshToken != "rt-secret-1" || gm.Version != 1 {
		t.Fatalf("got %v %+v %v", got, gm, err)
	}
	list, err := s.ListSecrets(kc.ID)
	if err != nil || len(list) != 1 || list[0].Kind != SecretKindOAuth || !list[0].ConnectedAt.Equal(c.Now()) {
		t.Fatalf("list = %+v, %v", list, err)
	}
	// A refresh keeps connected_at and is a compare-and-set.
	c.Add(time.Minute)
	tok.AccessToken, tok.ConnectedAt = "at-secret-2", got.ConnectedAt
	if _, err := s.PutOAuthToken(kc.ID, "GMAIL_TOKEN", tok, nil, 1); err != nil {
		t.Fatal(err)
	}
	_, err = s.PutOAuthToken(kc.ID, "GMAIL_TOKEN", tok, nil, 1)
	wantErr(t, err, ErrConflict)
	got, gm, _ = s.GetOAuthToken(kc.ID, "GMAIL_TOKEN")
	if got.AccessToken != "at-secret-2" || gm.Version != 2 || !gm.ConnectedAt.Equal(meta.ConnectedAt) {
		t.Fatalf("after refresh: %+v", gm)
	}
	// Nothing of the tokens in the clear: not in the stored record, not in the listing, not in %v.
	raw := rawGet(t, s, userSecret(kc.ID, "GMAIL_TOKEN").key())
	listed := fmt.Sprintf("%+v %#v %v %+v", list, got, got, gm)
	for _, secret := range []string{"at-secret", "rt-secret"} {
		if bytes.Contains(raw, []byte(secret)) || strings.Contains(listed, secret) {
			t.Fatalf("%s readable in the record or a listing", secret)
		}
	}
}

func TestOAuthTokenHandSetValue(t *testing.T) {
	s, _, kc := oauthSetup(t)
	if _, err := s.PutSecret(kc.ID, "GMAIL_TOKEN", []byte("pasted"), SecretOptions{}); err != nil {
		t.Fatal(err)
	}
	_, _, err := s.GetOAuthToken(kc.ID, "GMAIL_TOKEN")
	wantErr(t, err, ErrNotOAuthToken)
	_, _, err = s.GetOAuthToken(kc.ID, "MISSING")
	wantErr(t, err, ErrNotFound)
}

func TestOAuthTokenBadInput(t *testing.T) {
	s, _, kc := oauthSetup(t)
	for _, tc := range []struct {
		name string
		tok  OAuthToken
	}{
		{"no access token", OAuthToken{}},
		{"newline", OAuthToken{AccessToken: "a\nb"}},
		{"huge", OAuthToken{AccessToken: strings.Repeat("a", maxOAuthTokenField+1)}},
		{"bad scope", OAuthToken{AccessToken: "a", Scopes: []string{"a b"}}},
	} {
		if _, err := s.PutOAuthToken(kc.ID, "GMAIL_TOKEN", tc.tok, nil, 0); !isInvalid(err) {
			t.Errorf("%s: err = %v", tc.name, err)
		} else if strings.Contains(err.Error(), "a\nb") {
			t.Errorf("%s: error quotes the token", tc.name)
		}
	}
	_, err := s.PutOAuthToken("kc_nope", "GMAIL_TOKEN", OAuthToken{AccessToken: "a"}, nil, 0)
	wantErr(t, err, ErrNotFound)
	if ok, _ := s.HasSecret(kc.ID, "GMAIL_TOKEN"); ok {
		t.Fatal("a refused token was stored")
	}
}

func isInvalid(err error) bool { return errors.Is(err, ErrInvalid) }

func TestAppOAuthToken(t *testing.T) {
	s, c, _ := oauthSetup(t)
	tok := OAuthToken{AccessToken: "app-at", Expiry: c.Now().Add(time.Hour)}
	meta, err := s.PutAppOAuthToken("@a/b", "APP_TOKEN", tok, 0)
	if err != nil || meta.AllowedHosts[0] != "api.example.com" || meta.Kind != SecretKindOAuth {
		t.Fatalf("%+v %v", meta, err)
	}
	got, _, err := s.GetAppOAuthToken("@a/b", "APP_TOKEN")
	if err != nil || got.AccessToken != "app-at" {
		t.Fatal(err)
	}
	_, err = s.PutAppOAuthToken("@a/b", "NOT_AN_APP_KEY", tok, 0)
	wantErr(t, err, ErrInvalid)
}

func TestSecretMetaOldRecordsDecode(t *testing.T) {
	m := SecretMeta{Name: "A", AllowedHosts: []string{"h"}, CreatedAt: time.Unix(1, 0).UTC(), UpdatedAt: time.Unix(2, 0).UTC()}
	got, err := decodeSecretMeta(encodeSecretMeta(&m), 1)
	if err != nil || got.Kind != "" || got.Scopes != nil {
		t.Fatalf("%+v %v", got, err)
	}
	plain := len(encodeSecretMeta(&m))
	m.Kind, m.Scopes, m.ConnectedAt = SecretKindOAuth, []string{"s"}, time.Unix(3, 0).UTC()
	b := encodeSecretMeta(&m)
	got, err = decodeSecretMeta(b, 1)
	if err != nil || !got.ExpiresAt.IsZero() || !got.ConnectedAt.Equal(m.ConnectedAt) || got.Scopes[0] != "s" {
		t.Fatalf("%+v %v", got, err)
	}
	for i := 1; i < len(b); i++ {
		if i == plain {
			continue // exactly a record without the tail
		}
		if _, err := decodeSecretMeta(b[:i], 1); err == nil {
			t.Fatalf("truncated at %d decoded", i)
		}
	}
}
