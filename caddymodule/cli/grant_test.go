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

// TestGrantHintsConnectForOAuthKeys: an approved OAuth key without a value
// is told to be connected (keygate connect), in the grants listing and in
// grant's answer alike; a key set by hand still says keygate secret set;
// a manifest that cannot be read leaves the hint at keygate secret set.
func TestGrantHintsConnectForOAuthKeys(t *testing.T) {
	const pkgJSON = `{"name":"@acme/tools","sha256":"` + sha + `","keys":[` +
		`{"name":"API_KEY","required":true},` +
		`{"name":"GITHUB","required":true,"oauth":{"provider":"github"}}]}`
	missing := `{"keychain":"` + kc + `","package":"@acme/tools","keys":["API_KEY","GITHUB"],"sha256":"` + sha + `",` +
		`"status":"missing_keys","missing_keys":["API_KEY","GITHUB"]}`
	want := "waiting for values of API_KEY (keygate secret set); waiting for GITHUB to be connected (keygate connect)"

	f := newFakeAPI(t)
	f.on("GET", "/v1/keychains/"+kc+"/grants", 200, "["+missing+"]")
	f.on("GET", "/v1/packages/@acme%2Ftools", 200, pkgJSON)
	r := runCLI(t, "", "grants", kc)
	if r.code != 0 || !strings.Contains(r.stdout, want) {
		t.Fatalf("grants: code %d, stdout %q, stderr %q; want %q", r.code, r.stdout, r.stderr, want)
	}

	f.on("PUT", "/v1/keychains/"+kc+"/grants/@acme%2Ftools", 200, missing)
	r = runCLI(t, "", "grant", kc, "@acme/tools", "API_KEY", "GITHUB")
	if r.code != 0 || !strings.Contains(r.stdout, want) {
		t.Fatalf("grant: code %d, stdout %q, stderr %q; want %q", r.code, r.stdout, r.stderr, want)
	}
	r = runCLI(t, "", "grant", kc, "@acme/tools", "--all")
	if r.code != 0 || !strings.Contains(r.stdout, want) {
		t.Fatalf("grant --all: code %d, stdout %q, stderr %q; want %q", r.code, r.stdout, r.stderr, want)
	}
	gets := 0
	for _, q := range f.requests() {
		if q.Method == "GET" && strings.HasPrefix(q.Path, "/v1/packages/") {
			gets++
		}
	}
	if gets != 3 { // once per command: grant --all reuses the manifest it read
		t.Fatalf("%d manifest reads, want 3", gets)
	}

	f.onProblem("GET", "/v1/packages/@acme%2Ftools", 404, "not_found", "no such package")
	r = runCLI(t, "", "grants", kc)
	if r.code != 0 || !strings.Contains(r.stdout, "waiting for values of API_KEY,GITHUB (keygate secret set)") {
		t.Fatalf("grants without a manifest: code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}
