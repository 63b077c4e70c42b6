package store

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func presetManifest(keys ...KeySpec) Manifest {
	m := testManifest("@acme/tools", "tools")
	m.Keys = keys
	m.AppKeys = []KeySpec{{Name: "CID"}, {Name: "CSEC"}}
	return m
}

// TestManifestPreset: a key's preset fills the hosts, placement and oauth
// provider and scopes it leaves out; what it gives wins.
func TestManifestPreset(t *testing.T) {
	m := presetManifest(
		KeySpec{Name: "OPENAI", Preset: "openai"},
		KeySpec{Name: "MAPS", Preset: "google-maps"},
		KeySpec{Name: "GH", Preset: "github", OAuth: &OAuthSpec{ClientID: "CID", ClientSecret: "CSEC"}},
		KeySpec{Name: "MINE", Preset: "github", Hosts: []string{"github.example.com"}, Placement: &Placement{Where: []string{"header", "body"}},
			OAuth: &OAuthSpec{Provider: "github-enterprise", Scopes: []string{"read:org"}, ClientID: "CID", ClientSecret: "CSEC"}},
		KeySpec{Name: "S3", Preset: "aws-s3", Placement: &Placement{SigV4: &SigV4Placement{Region: "eu-west-1"}}},
	)
	if err := ValidateManifest(&m); err != nil {
		t.Fatal(err)
	}
	k := m.Keys
	if !slices.Equal(k[0].Hosts, []string{"api.openai.com"}) || !slices.Equal(k[0].Placement.Where, []string{"header"}) || k[0].OAuth != nil {
		t.Errorf("openai: %+v", k[0])
	}
	if !slices.Equal(k[1].Placement.Where, []string{"query"}) {
		t.Errorf("google-maps placement %+v", k[1].Placement)
	}
	if o := k[2].OAuth; o.Provider != "github" || !slices.Equal(o.Scopes, []string{"repo"}) || o.Grant != GrantAuthorizationCode ||
		!slices.Equal(k[2].Hosts, []string{"api.github.com", "uploads.github.com"}) {
		t.Errorf("github: %+v %+v", k[2], o)
	}
	if o := k[3].OAuth; o.Provider != "github-enterprise" || !slices.Equal(o.Scopes, []string{"read:org"}) ||
		!slices.Equal(k[3].Hosts, []string{"github.example.com"}) || !k[3].AllowsBody() {
		t.Errorf("explicit fields did not win: %+v %+v", k[3], o)
	}
	if sv := k[4].Placement.SigV4; sv.Service != "s3" || sv.Region != "eu-west-1" || !slices.Contains(k[4].Hosts, "*.s3.amazonaws.com") {
		t.Errorf("aws-s3: %+v %+v", k[4], sv)
	}
	// Resolving again changes nothing: a stored manifest sent back as it
	// is reads the same.
	again := m.clone()
	if err := ValidateManifest(&again); err != nil || approvalDigest(&again) != approvalDigest(&m) {
		t.Fatalf("a resolved manifest resolves differently: %v", err)
	}
}

// TestManifestPresetDigest: the digest covers what a preset resolves to,
// not its name: a preset and the same fields spelled out are approved
// alike, and a preset that moves a key's hosts is a change.
func TestManifestPresetDigest(t *testing.T) {
	byPreset := presetManifest(KeySpec{Name: "K", Preset: "anthropic"})
	spelled := presetManifest(KeySpec{Name: "K", Hosts: []string{"api.anthropic.com"}, Placement: &Placement{Where: []string{"header"}}})
	other := presetManifest(KeySpec{Name: "K", Preset: "openai"})
	for _, m := range []*Manifest{&byPreset, &spelled, &other} {
		if err := ValidateManifest(m); err != nil {
			t.Fatal(err)
		}
	}
	if approvalDigest(&byPreset) != approvalDigest(&spelled) {
		t.Error("a preset and its fields spelled out differ in digest")
	}
	if approvalDigest(&byPreset) == approvalDigest(&other) {
		t.Error("two presets with other hosts share a digest")
	}
}

// TestManifestPresetRefusals: an unknown preset, a sigv4 preset without
// its region, an oauth block naming no provider for a preset without
// OAuth are refused as invalid fields, the first listing the presets.
func TestManifestPresetRefusals(t *testing.T) {
	cases := map[string]struct {
		key         KeySpec
		field, want string
	}{
		"unknown":         {KeySpec{Name: "K", Preset: "opneai"}, "keys[0].preset", `unknown preset "opneai": known presets are airtable,`},
		"case":            {KeySpec{Name: "K", Preset: "OpenAI"}, "keys[0].preset", "unknown preset"},
		"long":            {KeySpec{Name: "K", Preset: strings.Repeat("x", 100000)}, "keys[0].preset", "a name of 100000 characters"},
		"control":         {KeySpec{Name: "K", Preset: "openai\r\nX: y"}, "keys[0].preset", "unknown preset"},
		"s3 no placement": {KeySpec{Name: "K", Preset: "aws-s3"}, "keys[0].placement", `give the region, {"sigv4": {"region": "us-east-1"}}`},
		"s3 no region":    {KeySpec{Name: "K", Preset: "aws-s3", Placement: &Placement{SigV4: &SigV4Placement{Service: "s3"}}}, "keys[0].placement", "give the region"},
		"no oauth":        {KeySpec{Name: "K", Preset: "openai", OAuth: &OAuthSpec{ClientID: "CID", ClientSecret: "CSEC"}}, "keys[0].oauth.provider", "preset openai has no OAuth"},
	}
	for name, c := range cases {
		m := presetManifest(c.key)
		err := ValidateManifest(&m)
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Field != c.field || !strings.Contains(ve.Problem, c.want) {
			t.Errorf("%s: %v, want %s: %q", name, err, c.field, c.want)
			continue
		}
		if strings.ContainsAny(err.Error(), "\r\n") || len(err.Error()) > 1000 {
			t.Errorf("%s: the error echoes the name raw or at length: %q", name, err.Error())
		}
	}
}

// TestManifestPresetDecoded: "preset" is a field of the manifest's JSON,
// and the stored manifest keeps it beside the fields it filled.
func TestManifestPresetDecoded(t *testing.T) {
	s, _ := memStore(t)
	m, err := DecodeManifest([]byte(`{"name":"@acme/tools","version":"1","sha256":"` + strings.Repeat("ab", 32) +
		`","host":"tools","upstream":"http://127.0.0.1:9001","keys":[{"name":"K","preset":"notion"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutPackage(m); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetPackage("@acme/tools")
	if err != nil {
		t.Fatal(err)
	}
	if k := got.Keys[0]; k.Preset != "notion" || !slices.Equal(k.Hosts, []string{"api.notion.com"}) {
		t.Fatalf("%+v", k)
	}
}
