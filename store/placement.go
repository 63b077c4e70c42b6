package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"

	"github.com/keygate/keygate/sign"
)

// Placement says where a key goes into a request, in one of two JSON
// forms: the list of places its placeholder may stand in a request through
// the proxy site (["header", "query", "body"]: header and query always
// may), or an object naming how requests are signed with it instead
// ({"sigv4": {"service": "s3", "region": "us-east-1"}}: the key's secret
// is then AWS credentials, kind aws). Egress routes say the latter in
// their Caddyfile.
type Placement struct {
	// The tags are for readers of the shape (the API's strict key check);
	// the JSON is MarshalJSON's and UnmarshalJSON's.
	Where []string        `json:"-"`
	SigV4 *SigV4Placement `json:"sigv4,omitempty"`
}

// SigV4Placement is the service and region requests are signed for.
type SigV4Placement struct {
	Service string `json:"service"`
	Region  string `json:"region"`
}

// placementObject is Placement's object form.
type placementObject struct {
	SigV4 *SigV4Placement `json:"sigv4,omitempty"`
}

var errPlacementForm = errors.New(`placement must be a list (["header", "query", "body"]) or {"sigv4": {"service": ..., "region": ...}}`)

// PlacementBody lets a key's placeholder stand in JSON and form bodies.
const PlacementBody = "body"

// AllowsBody reports whether the key's placeholder may stand in a body.
func (p *Placement) AllowsBody() bool { return p != nil && slices.Contains(p.Where, PlacementBody) }

// UnmarshalJSON reads either form, strictly.
func (p *Placement) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		*p = Placement{}
		if json.Unmarshal(b, &p.Where) != nil {
			return errPlacementForm
		}
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var o placementObject
	if err := dec.Decode(&o); err != nil {
		return errPlacementForm
	}
	*p = Placement{SigV4: o.SigV4}
	return nil
}

// MarshalJSON writes the form it was read in.
func (p Placement) MarshalJSON() ([]byte, error) {
	if p.SigV4 != nil {
		return json.Marshal(placementObject{SigV4: p.SigV4})
	}
	return json.Marshal(p.Where)
}

func checkPlacement(field string, p *Placement, oauth bool) error {
	for _, w := range p.Where {
		if w != "header" && w != "query" && w != PlacementBody {
			return invalid(field, `must list only "header", "query" and "body"`)
		}
	}
	if p.SigV4 == nil {
		return nil
	}
	switch {
	case oauth:
		return invalid(field, "an oauth key cannot be signed with sigv4")
	case !sign.ValidScopeName(p.SigV4.Service):
		return invalid(field+".sigv4.service", "must be 1 to 64 lowercase letters, digits and dashes (s3, sts, execute-api)")
	case !sign.ValidScopeName(p.SigV4.Region):
		return invalid(field+".sigv4.region", "must be 1 to 64 lowercase letters, digits and dashes (us-east-1)")
	}
	return nil
}

func (p *Placement) clone() *Placement {
	if p == nil {
		return nil
	}
	c := Placement{Where: cloneStrings(p.Where)}
	if p.SigV4 != nil {
		v := *p.SigV4
		c.SigV4 = &v
	}
	return &c
}
