package scrub

import (
	"bytes"
	"fmt"
	"net/http"
	"sort"
	"strings"
)

// Needle is one value to find and what each occurrence of it, in any of the forms Scrubber
// searches, becomes.
type Needle struct {
	Find    []byte
	Replace string
}

// Scrubber finds values (those keygate injected into a request, say) in the response that came
// back, and replaces each occurrence with its needle's replacement. It is immutable once built
// and safe for concurrent use; a nil *Scrubber scrubs nothing.
//
// For each needle given to New it searches these forms (deduplicated, searched as one set):
//   - the raw bytes;
//   - url.QueryEscape (space as "+"), url.PathEscape, and strict RFC 3986 percent-encoding
//     (everything but A-Z a-z 0-9 - . _ ~ as %XX, space as %20), all with upper-case hex;
//   - each of the four above as the inside of a JSON string, when the raw bytes are valid UTF-8:
//     `"` and `\` backslash-escaped, control characters as \b \f \n \r \t or \u00xx, combined with
//     every choice of the optional escapes encoders differ on: <, > and & as \u003c \u003e \u0026
//     (Go's encoding/json), "/" as "\/" (PHP), non-ASCII as \uxxxx with surrogate pairs (Python,
//     PHP), U+2028 and U+2029 as \u2028 \u2029 (Go). Hex in \u escapes is lower case.
//
// Not covered: lower-case percent hex, upper-case \u hex, base64 or any other re-encoding, and a
// value that an upstream cut or transformed. Matching is leftmost, then longest; replacements are
// never rescanned, so a needle inside a replacement cannot loop.
type Scrubber struct {
	needles   [][]byte // longest first, so the first needle found at a position is the longest
	repl      []string // repl[i] replaces needles[i]
	maxRepl   int
	strs      []string // needles as strings, for header values
	nameForms []string // ASCII lower-cased needles that could be part of a header name
	first     [256]bool
	maxLen    int
	// core[i] is a shorter needle inside needle i, at coreAt[i] (core -1: none). Needle i can only
	// occur where its core does, so a body without the core is searched once, not once per form:
	// the header forms of a value ("Bearer v", "Bearer+v", "Bearer%20v") all hold the raw value.
	core, coreAt []int
	rare         []int // per needle, the offset of its least common byte, which index looks for
}

// New returns a Scrubber for the given needles (typically the injected secret and the exact
// header value that carried it, such as "Basic dXNlcjpwYXNz"). Needles with nothing to find are
// ignored; where two needles share a form, the first given decides its replacement. The needles
// are copied.
func New(needles ...Needle) *Scrubber {
	s := &Scrubber{}
	type form struct {
		find []byte
		repl string
	}
	var all []form
	seen := map[string]bool{}
	for _, n := range needles {
		if len(n.Find) == 0 {
			continue
		}
		for _, f := range formsOf(n.Find) {
			if seen[f] {
				continue
			}
			seen[f] = true
			all = append(all, form{[]byte(f), n.Replace})
		}
	}
	sort.Slice(all, func(i, j int) bool {
		if len(all[i].find) != len(all[j].find) {
			return len(all[i].find) > len(all[j].find)
		}
		return bytes.Compare(all[i].find, all[j].find) < 0
	})
	for _, f := range all {
		s.needles = append(s.needles, f.find)
		s.repl = append(s.repl, f.repl)
		s.maxRepl = max(s.maxRepl, len(f.repl))
	}
	for i, n := range s.needles {
		s.core = append(s.core, -1)
		s.coreAt = append(s.coreAt, 0)
		for j := len(s.needles) - 1; j > i; j-- {
			if at := bytes.Index(n, s.needles[j]); at >= 0 {
				s.core[i], s.coreAt[i] = j, at
				break
			}
		}
		s.rare = append(s.rare, rarest(n))
		s.strs = append(s.strs, string(n))
		s.first[n[0]] = true
		s.maxLen = max(s.maxLen, len(n))
		if IsToken(n) {
			s.nameForms = append(s.nameForms, strings.ToLower(string(n)))
		}
	}
	return s
}

// String keeps the needles out of any log line or error that prints a Scrubber.
func (s *Scrubber) String() string {
	if s == nil {
		return "scrubber(off)"
	}
	return fmt.Sprintf("scrubber(%d forms)", len(s.needles))
}

// GoString does for %#v what String does for %v.
func (s *Scrubber) GoString() string { return s.String() }

func (s *Scrubber) active() bool { return s != nil && len(s.needles) > 0 }

// Headers scrubs every value of h in place (Location, Set-Cookie and the rest alike) and returns
// the number of replacements. A header whose name contains a needle, compared without case since
// net/http canonicalizes names, is removed whole and counted once: a replacement would not be a
// valid header name.
func (s *Scrubber) Headers(h http.Header) (n int) {
	if !s.active() {
		return 0
	}
	for name, vals := range h {
		if s.nameHas(name) {
			delete(h, name)
			n++
			continue
		}
		for i, v := range vals {
			if out, c := s.Text(v); c > 0 {
				vals[i] = out
				n += c
			}
		}
	}
	return n
}

func (s *Scrubber) nameHas(name string) bool {
	for _, f := range s.nameForms {
		for i := 0; i+len(f) <= len(name); i++ {
			if lower(name[i]) == f[0] && strings.EqualFold(name[i:i+len(f)], f) {
				return true
			}
		}
	}
	return false
}

// Text scrubs one complete string and returns it with the number of replacements; it allocates
// only when it finds a needle.
func (s *Scrubber) Text(v string) (string, int) {
	for _, n := range s.strs {
		if strings.Contains(v, n) {
			out, _, c := s.scrub(nil, []byte(v), true, make([]int, len(s.needles)))
			return string(out), c
		}
	}
	return v, 0
}

// scrub appends to dst the scrubbed form of win and returns how many bytes of win it consumed and
// how many replacements it made. Unless final, it holds back the longest suffix of win that is a
// proper prefix of some needle, and no more: each decision is taken only once the bytes that could
// change it are in the window, so the output does not depend on how the input was chunked. next is
// scratch space of len(s.needles).
func (s *Scrubber) scrub(dst, win []byte, final bool, next []int) (out []byte, used, n int) {
	tail := len(win)
	if !final {
		tail = s.tailStart(win, 0)
	}
	// next[i] caches where needle i next occurs at or after pos: -1 none in win, -2 not searched.
	for i := range next {
		next[i] = -2
	}
	pos := 0
	for {
		// Shortest needle first, so that a core is searched before the needles that hold it; on a
		// tie in position the later, longer needle wins.
		at, k := -1, -1
		for i := len(s.needles) - 1; i >= 0; i-- {
			if next[i] == -1 {
				continue
			}
			if next[i] < pos {
				from := pos
				if c := s.core[i]; c >= 0 {
					if next[c] == -1 {
						next[i] = -1
						continue
					}
					from = max(pos, next[c]-s.coreAt[i])
				}
				idx := s.index(win[from:], i)
				if idx < 0 {
					next[i] = -1
					continue
				}
				next[i] = from + idx
			}
			if at < 0 || next[i] <= at {
				at, k = next[i], i
			}
		}
		// A match starting in the tail waits: a longer needle may still match there.
		if at < 0 || at >= tail {
			break
		}
		dst = append(dst, win[pos:at]...)
		dst = append(dst, s.repl[k]...)
		n++
		pos = at + len(s.needles[k])
		if pos > tail {
			tail = s.tailStart(win, pos)
		}
	}
	dst = append(dst, win[pos:tail]...)
	return dst, tail, n
}

// index is bytes.Index(win, s.needles[i]), found by the needle's least common byte rather than its
// first: in text and JSON an API key's first letter is common, and each false start costs a call.
// After as many false starts as bytes.Index tolerates it hands over to bytes.Index, which stays
// linear for any input.
func (s *Scrubber) index(win []byte, i int) int {
	nd, r := s.needles[i], s.rare[i]
	last := len(win) - len(nd) // the last possible start
	fails := 0
	for from := 0; from <= last; {
		j := bytes.IndexByte(win[from+r:last+r+1], nd[r])
		if j < 0 {
			return -1
		}
		at := from + j
		if bytes.Equal(win[at:at+len(nd)], nd) {
			return at
		}
		if fails++; fails > 4+at>>4 {
			if k := bytes.Index(win[at+1:], nd); k >= 0 {
				return at + 1 + k
			}
			return -1
		}
		from = at + 1
	}
	return -1
}

// common lists bytes roughly from most to least common in text, JSON and HTML; a byte not
// listed is rarer than all of them.
const common = " etaoinsrhl\"dcum:,pfgy.b0w1v2-k/=_><3x5A94678jqSCzETIRNDOPLMBFHGUWVKYJQXZ"

// rarest returns the offset of n's least common byte, the first of equals.
func rarest(n []byte) int {
	best, bestRank := 0, -1
	for i, c := range n {
		rank := strings.IndexByte(common, c)
		if rank < 0 {
			rank = len(common)
		}
		if rank > bestRank {
			best, bestRank = i, rank
		}
	}
	return best
}

// tailStart returns the start of the longest suffix of win[from:] that is a proper prefix of a
// needle, or len(win) when there is none.
func (s *Scrubber) tailStart(win []byte, from int) int {
	for i := max(from, len(win)-s.maxLen+1); i < len(win); i++ {
		if !s.first[win[i]] {
			continue
		}
		rest := win[i:]
		for _, nd := range s.needles {
			if len(nd) > len(rest) && bytes.HasPrefix(nd, rest) {
				return i
			}
		}
	}
	return len(win)
}
