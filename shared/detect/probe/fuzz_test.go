package probe

import (
	"slices"
	"testing"
)

// FuzzMatch checks what must hold for any request: no panic, no allocation, at most
// HitsCap distinct hits whose summary adds up, the same answer twice and in upper
// case, normalisation that never grows the text and is a fixed point of itself once
// nothing is left to decode, and hits of the normalised forms that depend on the
// normal form only. Seeds are the case tables.
func FuzzMatch(f *testing.F) {
	for _, c := range append(slices.Clone(positives), negatives...) {
		f.Add(c.path, c.query, c.agent)
	}
	for _, s := range []string{"%25252e", "%%32%65", "/*!50000union*/", "/*!a/*/b*/", "/*unterminated", `\*c*\d`, "%u00e9", "%c0", "%e0%80"} {
		f.Add(s, s, s)
	}
	m := Default()
	f.Fuzz(func(t *testing.T, path, query, agent string) {
		var h, again Hits
		m.Match(path, query, agent, &h)
		checkHits(t, m, &h)
		m.Match(path, query, agent, &again)
		if again != h {
			t.Fatalf("two matches disagree: %+v / %+v", h, again)
		}
		m.Match(upper(path), upper(query), upper(agent), &again)
		if !slices.Equal(hitNames(m, &again), hitNames(m, &h)) {
			t.Fatalf("upper case changes the hits: %q / %q", hitNames(m, &again), hitNames(m, &h))
		}
		if n := testing.AllocsPerRun(3, func() { m.Match(path, query, agent, &again) }); n != 0 {
			t.Fatalf("%v allocations per Match", n)
		}

		for _, f := range []struct {
			s     string
			query bool
		}{{path, false}, {query, true}} {
			buf := make([]byte, len(f.s))
			once := buf[:normalise(buf, f.s, f.query)]
			if len(once) > len(f.s) {
				t.Fatalf("normalise grew %q to %q", f.s, once)
			}
			if hasEscape(once) {
				continue // triple encoding: a second pass decodes further, as it should
			}
			buf2 := make([]byte, len(once))
			if twice := buf2[:normalise(buf2, string(once), f.query)]; string(twice) != string(once) {
				t.Fatalf("normalise(%q, query=%v) = %q, normalised again %q", f.s, f.query, once, twice)
			}
			if len(f.s) > windowSize {
				continue
			}
			// Matching the normal form finds the same normal-form patterns.
			var a, b Hits
			if f.query {
				m.Match("", f.s, "", &a)
				m.Match("", string(once), "", &b)
			} else {
				m.Match(f.s, "", "", &a)
				m.Match(string(once), "", "", &b)
			}
			if x, y := normalHits(m, &a), normalHits(m, &b); !slices.Equal(x, y) && a.Overflow() == 0 && b.Overflow() == 0 {
				t.Fatalf("%q (normal form %q): hits %q, its normal form hits %q", f.s, once, x, y)
			}
		}
	})
}

func checkHits(t *testing.T, m *Matcher, h *Hits) {
	t.Helper()
	if h.Len() > HitsCap {
		t.Fatalf("%d hits", h.Len())
	}
	seen := map[uint16]bool{}
	weight := 0
	for _, x := range h.All() {
		if int(x.Pattern) >= m.Len() || seen[x.Pattern] || !h.Classes().Has(x.Class) {
			t.Fatalf("bad hit %+v in %+v", x, h)
		}
		seen[x.Pattern] = true
		weight += int(x.Weight)
	}
	if weight != h.Weight() {
		t.Fatalf("weight %d, hits add up to %d", h.Weight(), weight)
	}
	if h.Overflow() > 0 && h.Len() != HitsCap {
		t.Fatalf("overflow %d with %d hits", h.Overflow(), h.Len())
	}
}

// normalHits lists the hits of patterns looked for in the normal form.
func normalHits(m *Matcher, h *Hits) []string {
	var out []string
	for _, x := range h.All() {
		if m.info[x.Pattern].where&(wherePath|whereQuery) != 0 {
			p := m.Pattern(x.Pattern)
			out = append(out, p.Class.Name()+":"+p.Text)
		}
	}
	slices.Sort(out)
	return out
}

// hasEscape reports whether b still holds a percent escape that decoding would
// undo.
func hasEscape(b []byte) bool {
	for i := 0; i < len(b); i++ {
		if b[i] != '%' {
			continue
		}
		if i+2 < len(b) {
			if _, ok := hexPair(b[i+1], b[i+2]); ok {
				return true
			}
		}
		if i+5 < len(b) && b[i+1]|0x20 == 'u' {
			return true
		}
	}
	return false
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}
