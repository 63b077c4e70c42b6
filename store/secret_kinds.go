package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// SecretKindAWS marks a secret whose value is an AWS access key, as JSON:
//
//	{"access_key_id": "AKIA...", "secret_access_key": "...", "session_token": "..."}
//
// session_token is for temporary credentials and may be left out.
const SecretKindAWS = "aws"

// AWSCredentials is the value of an aws secret.
type AWSCredentials struct {
	AccessKeyID     string `json:"access_key_id"`
	SecretAccessKey string `json:"secret_access_key"`
	SessionToken    string `json:"session_token,omitempty"`
}

// String keeps the value out of anything that prints it.
func (c AWSCredentials) String() string { return "aws credentials" }

// GoString is String, for %#v.
func (c AWSCredentials) GoString() string { return c.String() }

const (
	maxAWSKeyID        = 128
	maxAWSSecret       = 256
	maxAWSSessionToken = 8192
)

// ParseAWSCredentials decodes and checks an aws secret's value. Its
// errors name the field at fault and never repeat any part of the value.
func ParseAWSCredentials(value []byte) (AWSCredentials, error) {
	var c AWSCredentials
	dec := json.NewDecoder(bytes.NewReader(value))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return AWSCredentials{}, invalid("value", "an aws secret is JSON {\"access_key_id\": ..., \"secret_access_key\": ..., \"session_token\": ... (optional)}: "+describeJSONError(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return AWSCredentials{}, invalid("value", "an aws secret is a single JSON object")
	}
	if err := checkAWSPart("value.access_key_id", c.AccessKeyID, maxAWSKeyID, true); err != nil {
		return AWSCredentials{}, err
	}
	if err := checkAWSPart("value.secret_access_key", c.SecretAccessKey, maxAWSSecret, true); err != nil {
		return AWSCredentials{}, err
	}
	if err := checkAWSPart("value.session_token", c.SessionToken, maxAWSSessionToken, false); err != nil {
		return AWSCredentials{}, err
	}
	return c, nil
}

// checkAWSPart accepts printable ASCII without spaces; the key id also
// without "/", which separates the parts of a SigV4 credential.
func checkAWSPart(field, v string, limit int, required bool) error {
	switch {
	case v == "" && required:
		return invalid(field, "is required")
	case len(v) > limit:
		return invalid(field, fmt.Sprintf("is longer than %d characters", limit))
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c <= ' ' || c >= 0x7f {
			return invalid(field, "must be printable ASCII without spaces")
		}
		if c == '/' && field == "value.access_key_id" {
			return invalid(field, `must not contain "/"`)
		}
	}
	return nil
}

// checkSecretKind validates a value against the kind a caller set: ""
// (any value) or SecretKindAWS. SecretKindOAuth is keygate's own.
func checkSecretKind(kind string, value []byte) error {
	switch kind {
	case "":
		return nil
	case SecretKindAWS:
		_, err := ParseAWSCredentials(value)
		return err
	}
	return invalid("kind", fmt.Sprintf("must be %q or left out", SecretKindAWS))
}
