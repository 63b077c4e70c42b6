package oauth

import (
	"encoding/json"
	"testing"
)

func TestProvidersJSON(t *testing.T) {
	var list, byName struct {
		P Providers `json:"oauth_providers"`
	}
	if err := json.Unmarshal([]byte(`{"oauth_providers":[{"name":"a","token_url":"https://x/t"}]}`), &list); err != nil || list.P[0].Name != "a" {
		t.Fatalf("list: %v %+v", err, list)
	}
	if err := json.Unmarshal([]byte(`{"oauth_providers":{"b":{"token_url":"https://x/t"},"a":{"token_url":"https://y/t"}}}`), &byName); err != nil ||
		len(byName.P) != 2 || byName.P[0].Name != "a" || byName.P[1].Name != "b" {
		t.Fatalf("map: %v %+v", err, byName)
	}
	if err := json.Unmarshal([]byte(`{"oauth_providers":{"b":{"name":"c"}}}`), &byName); err == nil {
		t.Fatal("a mismatched inner name was accepted")
	}
	if err := json.Unmarshal([]byte(`{"oauth_providers":"google"}`), &byName); err == nil {
		t.Fatal("a string was accepted")
	}
}
