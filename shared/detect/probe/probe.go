// Package probe recognises, in one request, the markers of probing that scanners
// send: sensitive files, traversal, injection payloads, admin interfaces, web shells,
// scanner user agents. A detector counts a client's distinct hits over a window and
// flags it after a few, where counting error paths alone needs many more.
//
// The patterns are data (data/*.txt, embedded; or a team's own files through Compile
// or CompileFS). They are compiled once into an Aho–Corasick automaton that finds them
// all in one pass over the path, the query and the user agent, ignoring the case of
// ASCII letters, over a normalised form that undoes percent-encoding (twice), overlong
// UTF-8, backslashes and SQL comments. Match allocates nothing. See README.md.
package probe

import (
	"sync"
)

// Matcher finds the patterns of its data in requests. It is immutable and safe for
// concurrent use.
type Matcher struct {
	automaton
	pats  []Pattern
	info  []patInfo
	where uint8 // union of the patterns' where bits
	// rawPercent: every raw-form pattern holds a '%', so a field without one needs
	// no raw scan (true of the default data: the raw patterns are escapes).
	rawPercent bool
}

// patInfo is what the scan loop needs of a pattern, packed.
type patInfo struct {
	where  uint8
	left   uint8
	right  uint8
	n      uint8 // length
	class  Class
	weight uint8
}

var defaultMatcher = sync.OnceValue(func() *Matcher {
	m, err := CompileFS(DefaultData())
	if err != nil {
		panic(err) // the embedded data is tested; a failure here is a build defect
	}
	return m
})

// Default is the matcher of the embedded data, compiled on first use.
func Default() *Matcher { return defaultMatcher() }

// Len is the number of patterns; their ids are 0 to Len()-1.
func (m *Matcher) Len() int { return len(m.pats) }

// Pattern describes pattern id, for evidence and reports.
func (m *Matcher) Pattern(id uint16) Pattern { return m.pats[id] }

// Patterns lists every pattern, by id.
func (m *Matcher) Patterns() []Pattern { return append([]Pattern(nil), m.pats...) }

// Hit is one pattern found in a request.
type Hit struct {
	Pattern uint16 // the pattern's id in the Matcher
	Class   Class
	Weight  uint8
	Field   Field // where it was found first
}

// HitsCap is how many distinct patterns Hits records per request. A request with
// more is plainly hostile; the rest still count in Classes and Overflow.
const HitsCap = 16

// Hits is what Match found in one request: distinct patterns, the classes they
// belong to and their total weight. It is a value of fixed size, so that a caller
// keeps one on its stack and Match fills it without allocating.
type Hits struct {
	hits     [HitsCap]Hit
	n        uint8
	classes  ClassSet
	weight   uint16
	overflow uint16
}

// Reset empties h.
func (h *Hits) Reset() { *h = Hits{} }

// Len is the number of distinct patterns recorded.
func (h *Hits) Len() int { return int(h.n) }

// At returns the i-th hit, in the order found.
func (h *Hits) At(i int) Hit { return h.hits[:h.n][i] }

// All returns the recorded hits. The slice shares h's storage.
func (h *Hits) All() []Hit { return h.hits[:h.n] }

// Classes is the set of classes of every hit, recorded or not.
func (h *Hits) Classes() ClassSet { return h.classes }

// Weight is the sum of the recorded hits' weights: each distinct pattern counts once.
func (h *Hits) Weight() int { return int(h.weight) }

// Overflow counts the hits found once HitsCap patterns were recorded (repeats of one
// pattern among them are not told apart).
func (h *Hits) Overflow() int { return int(h.overflow) }

func (h *Hits) add(id uint16, p *patInfo, f Field) {
	h.classes |= 1 << p.class
	for i := range h.hits[:h.n] {
		if h.hits[i].Pattern == id {
			return
		}
	}
	if int(h.n) == HitsCap {
		if h.overflow < ^uint16(0) {
			h.overflow++
		}
		return
	}
	h.hits[h.n] = Hit{Pattern: id, Class: p.class, Weight: p.weight, Field: f}
	h.n++
	h.weight += uint16(p.weight)
}

// Window sizes for normalising a field: fields up to windowSize bytes are normalised
// whole; longer ones in windows that overlap by windowOverlap raw bytes. A match is
// found wherever it is when its raw spelling and its two neighbours fit in the
// overlap: any pattern (at most MaxPatternLen bytes) double-encoded byte by byte
// ("%252e", 5 bytes a byte) does. A comment of hundreds of bytes inside a marker at
// a window edge of a field over 4 KiB can hide it; the raw and the other window's
// scans still see the rest.
const (
	windowSize    = 4096
	windowOverlap = 1024
)

// Match finds the patterns in one request: its path (without the query), its raw
// query string (without '?') and its user agent. It overwrites into. It does not
// allocate.
func (m *Matcher) Match(path, query, agent string, into *Hits) {
	into.Reset()
	m.field(path, FieldPath, wherePath, wherePathRaw, false, into)
	m.field(query, FieldQuery, whereQuery, whereQueryRaw, true, into)
	if agent != "" && m.where&whereAgent != 0 {
		scan(m, agent, whereAgent, FieldAgent, true, true, into)
	}
}

func (m *Matcher) field(s string, f Field, norm, raw uint8, query bool, h *Hits) {
	if s == "" || m.where&(norm|raw) == 0 {
		return
	}
	special, percent := inspect(s, query)
	if !special {
		scan(m, s, norm|raw, f, true, true, h) // both forms are the text itself
		return
	}
	if m.where&raw != 0 && (percent || !m.rawPercent) {
		scan(m, s, raw, f, true, true, h)
	}
	if m.where&norm == 0 {
		return
	}
	// The buffer is zeroed on every call: size it to the field.
	switch {
	case len(s) <= 256:
		var buf [256]byte
		m.normalScan(s, buf[:], f, norm, query, h)
	case len(s) <= 1024:
		var buf [1024]byte
		m.normalScan(s, buf[:], f, norm, query, h)
	default:
		var buf [windowSize]byte
		m.normalScan(s, buf[:], f, norm, query, h)
	}
}

// normalScan normalises s into buf and scans it, in windows when s is longer than
// buf.
func (m *Matcher) normalScan(s string, buf []byte, f Field, norm uint8, query bool, h *Hits) {
	for start := 0; ; start += windowSize - windowOverlap {
		end := min(start+len(buf), len(s))
		n := normalise(buf, s[start:end], query)
		scan(m, buf[:n], norm, f, start == 0, end == len(s), h)
		if end == len(s) {
			return
		}
	}
}

// scan runs the automaton over s and records the patterns whose where bits meet
// want and whose boundaries hold. atStart and atEnd say whether s begins and ends
// the field (false for an inner window, whose neighbours are unknown: a boundary
// there does not hold, and the overlapping window decides).
func scan[S string | []byte](m *Matcher, s S, want uint8, f Field, atStart, atEnd bool, h *Hits) {
	st := uint16(0)
	for i := 0; i < len(s); {
		i, st = advance(&m.automaton, s, i, st)
		if st >= m.firstOut {
			emit(m, st, s, i-1, want, f, atStart, atEnd, h)
		}
	}
}

// advance runs the automaton from state st over s[i:] until a byte takes it to a
// state where a pattern ends, or to the end of s; it returns the index after that
// byte and the state. It calls nothing, so the loop keeps its values in registers:
// one class lookup and one transition per byte.
//
//go:noinline
func advance[S string | []byte](a *automaton, s S, i int, st uint16) (int, uint16) {
	delta, shift, first, cls := a.delta, a.shift&15, a.firstOut, &a.cls
	for i < len(s) {
		st = delta[int(st)<<shift|int(cls[s[i]])]
		i++
		if st >= first {
			break
		}
	}
	return i, st
}

func emit[S string | []byte](m *Matcher, st uint16, s S, end int, want uint8, f Field, atStart, atEnd bool, h *Hits) {
	k := st - m.firstOut
	for _, id := range m.outIDs[m.outStart[k]:m.outStart[k+1]] {
		p := &m.info[id]
		if p.where&want == 0 {
			continue
		}
		if p.left != boundNone {
			start := end + 1 - int(p.n)
			if start == 0 {
				if !atStart {
					continue
				}
			} else if !leftHolds(p.left, s[start-1]) {
				continue
			}
		}
		if p.right != boundNone {
			if end+1 == len(s) {
				if !atEnd {
					continue
				}
			} else if !rightHolds(p.right, s[end+1]) {
				continue
			}
		}
		h.add(id, p, f)
	}
}

// isWord: letters, digits, '_' and any non-ASCII byte (part of a word in some
// script: counting it as a word keeps a pattern from matching inside one).
func isWord(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c >= 0x80
}

func leftHolds(kind, c byte) bool {
	if kind == boundWord {
		return !isWord(c)
	}
	return c == '/'
}

// rightHolds: a word followed by '=' is a parameter name, not the marker.
func rightHolds(kind, c byte) bool {
	if kind == boundWord {
		return !isWord(c) && c != '='
	}
	return c == '/' || c == ';' || c == '?' || c == '#'
}
