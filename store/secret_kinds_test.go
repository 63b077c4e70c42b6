package store

import (
	"errors"
	"strings"
	"testing"
)

func TestAWSSecretKind(t *testing.T) {
	s, _ := memStore(t)
	kc := mustKeychain(t, s)
	good := `{"access_key_id":"AKIAIOSFODNN7EXAMPLE","secret_access_key":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}`
	m, err := s.PutSecret(kc.ID, "AWS", []byte(good), SecretOptions{Kind: SecretKindAWS})
	if err != nil {
		t.Fatal(err)
	}
	if m.Kind != SecretKindAWS {
		t.Fatalf("kind %q", m.Kind)
	}
	if got, _ := s.GetSecretMeta(kc.ID, "AWS"); got.Kind != SecretKindAWS {
		t.Fatalf("stored kind %q", got.Kind)
	}
	c, err := ParseAWSCredentials([]byte(openValue(t, s, kc.ID, "AWS")))
	if err != nil || c.AccessKeyID != "AKIAIOSFODNN7EXAMPLE" || c.SessionToken != "" {
		t.Fatalf("%v %v", c.AccessKeyID, err)
	}
	if strings.Contains(c.String()+c.GoString(), "EXAMPLE") {
		t.Fatal("AWSCredentials prints its value")
	}
	withToken := `{"access_key_id":"ASIAEXAMPLE","secret_access_key":"s3cr3t-part","session_token":"tok+en/=="}`
	if _, err := s.PutSecret(kc.ID, "AWS_TEMP", []byte(withToken), SecretOptions{Kind: SecretKindAWS}); err != nil {
		t.Fatal(err)
	}
}

// Bad input is refused with the field named, the value never repeated,
// and nothing stored.
func TestAWSSecretKindRefusals(t *testing.T) {
	s, _ := memStore(t)
	kc := mustKeychain(t, s)
	cases := []struct{ value, field string }{
		{`not json sekrit-part`, "value"},
		{`{"access_key_id":"AKID","secret_access_key":"sekrit-part"} {}`, "value"},
		{`{"access_key_id":"AKID","secret_access_key":"sekrit-part","extra":"x"}`, "value"},
		{`{"secret_access_key":"sekrit-part"}`, "value.access_key_id"},
		{`{"access_key_id":"AK/ID","secret_access_key":"sekrit-part"}`, "value.access_key_id"},
		{`{"access_key_id":"sekrit-part"}`, "value.secret_access_key"},
		{`{"access_key_id":"AKID","secret_access_key":"sekrit part"}`, "value.secret_access_key"},
		{`{"access_key_id":"AKID","secret_access_key":"sekrit-part","session_token":"sekrit-part\u0001"}`, "value.session_token"},
		{`{"access_key_id":"AKID","secret_access_key":"` + strings.Repeat("s", 257) + `"}`, "value.secret_access_key"},
		{`{"access_key_id":1,"secret_access_key":"sekrit-part"}`, "value"},
	}
	for _, c := range cases {
		_, err := s.PutSecret(kc.ID, "AWS", []byte(c.value), SecretOptions{Kind: SecretKindAWS})
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Field != c.field {
			t.Errorf("%s: %v, want field %s", c.value, err, c.field)
			continue
		}
		if strings.Contains(err.Error(), "sekrit") || strings.Contains(err.Error(), "sss") {
			t.Errorf("error repeats the value: %v", err)
		}
	}
	_, err := s.PutSecret(kc.ID, "AWS", []byte("x"), SecretOptions{Kind: "oauth"})
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Field != "kind" {
		t.Fatalf("kind oauth by hand: %v", err)
	}
	if ok, _ := s.HasSecret(kc.ID, "AWS"); ok {
		t.Fatal("a refused value was stored")
	}
}

// An app key placed with sigv4 takes AWS credentials only, and its secret
// is of kind aws.
func TestAWSAppSecretKind(t *testing.T) {
	s, _ := memStore(t)
	m := testManifest("@acme/s3-tools", "s3-tools")
	m.AppKeys = []KeySpec{{Name: "AWS", Hosts: []string{"s3.amazonaws.com"}, Placement: &Placement{SigV4: &SigV4Placement{Service: "s3", Region: "us-east-1"}}}}
	if _, err := s.PutPackage(m); err != nil {
		t.Fatal(err)
	}
	_, err := s.PutAppSecret(m.Name, "AWS", []byte(`{"access_key_id":"AKID"}`))
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Field != "value.secret_access_key" {
		t.Fatalf("%v", err)
	}
	meta, err := s.PutAppSecret(m.Name, "AWS", []byte(`{"access_key_id":"AKID","secret_access_key":"s"}`))
	if err != nil || meta.Kind != SecretKindAWS {
		t.Fatalf("%v %q", err, meta.Kind)
	}
}
