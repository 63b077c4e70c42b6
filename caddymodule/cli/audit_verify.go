package cli

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
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
	Witness *struct {
		Segment uint64 `json:"segment"`
		OK      bool   `json:"ok"`
		Problem string `json:"problem"`
		Note    string `json:"note"`
	} `json:"witness"`
}

// errTrailBroken makes keygate audit verify exit 1 after its report.
var errTrailBroken = errors.New("the audit trail is broken")

func auditVerify(e *env) error {
	c, err := e.api()
	if err != nil {
		return err
	}
	q := url.Values{}
	if path, _ := e.flags.GetString("witness"); path != "" {
		w, err := readWitness(path)
		if err != nil {
			return err
		}
		q.Set("witness_segment", strconv.FormatUint(w.Segment, 10))
		q.Set("witness_link", w.Link)
		q.Set("witness_mac", w.MAC)
		q.Set("witness_key_id", w.KeyID)
	}
	var rep auditReport
	raw, err := c.getJSON(e.ctx, "/v1/audit/verify", q, &rep)
	if err != nil {
		return err
	}
	if rep.Witness != nil && !rep.Witness.OK {
		if e.json {
			e.printJSON(raw)
		}
		return fmt.Errorf("%w: %s", errTrailBroken, oneLine(rep.Witness.Problem))
	}
	if e.json {
		e.printJSON(raw)
	} else if rep.OK {
		e.printf("audit trail whole: %d segments, %d events verified", rep.Segments, rep.Events)
		if rep.Legacy > 0 {
			e.printf(" (%d older segments from before the chain, not provable)", rep.Legacy)
		}
		e.printf("\n")
		if rep.Witness != nil {
			e.printf("witness: segment %d is in the database as exported", rep.Witness.Segment)
			if rep.Witness.Note != "" {
				e.printf(" (%s)", oneLine(rep.Witness.Note))
			}
			e.printf("\n")
		}
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

// witnessLine is a keygate.audit "audit chain head" line.
type witnessLine struct {
	Msg     string `json:"msg"`
	Segment uint64 `json:"segment"`
	KeyID   string `json:"key_id"`
	MAC     string `json:"mac"`
	Link    string `json:"link"`
}

// witnessMessage is the message of keygate.audit's chain head lines
// (gateway.AuditWitnessMessage; integration/rollback_witness_test.go reads
// a real log with it).
const witnessMessage = "audit chain head"

// readWitness returns the newest chain head in an exported log: JSON
// lines, other lines skipped.
func readWitness(path string) (witnessLine, error) {
	f, err := os.Open(path)
	if err != nil {
		return witnessLine{}, fmt.Errorf("--witness: %w", err)
	}
	defer f.Close()
	var best witnessLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var l witnessLine
		if json.Unmarshal(sc.Bytes(), &l) != nil || l.Msg != witnessMessage {
			continue
		}
		if l.Segment > best.Segment {
			best = l
		}
	}
	if err := sc.Err(); err != nil {
		return witnessLine{}, fmt.Errorf("--witness %s: %w", path, err)
	}
	if best.Segment == 0 {
		return witnessLine{}, fmt.Errorf("--witness %s: no %q line (keygate.audit writes one after each audit segment)", path, witnessMessage)
	}
	return best, nil
}
