package cli

import (
	"errors"
	"fmt"
)

// auditReport is GET /v1/audit/verify's answer.
type auditReport struct {
	OK       bool `json:"ok"`
	Segments int  `json:"segments"`
	Events   int  `json:"events"`
	Legacy   int  `json:"legacy"`
	FirstBad *struct {
		Segment string `json:"segment"`
		Seq     uint64 `json:"seq"`
		Problem string `json:"problem"`
	} `json:"first_bad"`
}

// errTrailBroken makes keygate audit verify exit 1 after its report.
var errTrailBroken = errors.New("the audit trail is broken")

func auditVerify(e *env) error {
	c, err := e.api()
	if err != nil {
		return err
	}
	var rep auditReport
	raw, err := c.getJSON(e.ctx, "/v1/audit/verify", nil, &rep)
	if err != nil {
		return err
	}
	if e.json {
		e.printJSON(raw)
	} else if rep.OK {
		e.printf("audit trail whole: %d segments, %d events verified", rep.Segments, rep.Events)
		if rep.Legacy > 0 {
			e.printf(" (%d older segments from before the chain, not provable)", rep.Legacy)
		}
		e.printf("\n")
	}
	if rep.OK {
		return nil
	}
	if rep.FirstBad == nil {
		return errTrailBroken
	}
	return fmt.Errorf("%w: first bad segment %s (seq %d): %s%s", errTrailBroken, rep.FirstBad.Segment, rep.FirstBad.Seq, rep.FirstBad.Problem, breakConsequence(rep.FirstBad.Segment))
}

// breakConsequence says what a broken head or anchor stops: keygate will
// not extend a chain it cannot vouch for, so it fails closed.
func breakConsequence(segment string) string {
	switch segment {
	case "head":
		return "; keygate refuses to append audit events, so every audited request fails with 503 until the data is restored (README: The audit trail)"
	case "anchor":
		return "; retention pruning stops, and appends fail if the head is gone too, until the data is restored (README: The audit trail)"
	}
	return ""
}
