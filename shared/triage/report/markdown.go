package report

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/apiguard/apiguard/shared/triage"
)

// MarkdownLimit is the most the Markdown report takes, in bytes: Teams refuses a
// message over about 28 KB, envelope included, so the text keeps a margin.
const MarkdownLimit = 27_000

// StartHere is how many lines "Start here" takes at most.
const StartHere = 15

// Longest pieces of data one line carries, in bytes; the HTML report has them whole.
const (
	mdNameMax   = 120
	mdReasonMax = 300
	mdErrorMax  = 300
)

// Markdown writes the report for a Teams message or a mail: the month, the counts per
// priority, where to start, the changes since last month, the gaps, the coverage,
// and where the full report is. Data is escaped (API names come from customers), and
// the lists are cut evenly, each with an "and N more" line, to keep the text within
// MarkdownLimit.
func Markdown(w io.Writer, c triage.Classification) error {
	d, err := digestOf(c)
	if err != nil {
		return err
	}
	parts := d.markdownParts()
	// The largest k, the number of items each list shows, that fits: the size only
	// grows with k, so a binary search finds it.
	longest := 0
	for _, p := range parts {
		if p.cut {
			longest = max(longest, len(p.items))
		}
	}
	lo, hi := 0, longest
	for lo < hi {
		k := (lo + hi + 1) / 2
		if markdownSize(parts, k) <= MarkdownLimit {
			lo = k
		} else {
			hi = k - 1
		}
	}
	var b strings.Builder
	b.Grow(markdownSize(parts, lo))
	for _, p := range parts {
		p.write(&b, lo)
	}
	_, err = io.WriteString(w, b.String())
	return err
}

// mdPart is a piece of the text: a head written whole, then list items of which a
// part that may be cut shows the first k, and says how many it left out.
type mdPart struct {
	head  string
	items []string
	cut   bool
	// more says what the left-out items are: "… and 12 more <more>".
	more string
}

func (p mdPart) shown(k int) int {
	if !p.cut {
		return len(p.items)
	}
	return min(k, len(p.items))
}

func (p mdPart) moreLine(n int) string {
	return "- … and " + strconv.Itoa(n) + " more " + p.more + "\n"
}

func (p mdPart) size(k int) int {
	n := len(p.head)
	shown := p.shown(k)
	for _, it := range p.items[:shown] {
		n += len(it)
	}
	if shown < len(p.items) {
		n += len(p.moreLine(len(p.items) - shown))
	}
	return n
}

func (p mdPart) write(b *strings.Builder, k int) {
	b.WriteString(p.head)
	shown := p.shown(k)
	for _, it := range p.items[:shown] {
		b.WriteString(it)
	}
	if shown < len(p.items) {
		b.WriteString(p.moreLine(len(p.items) - shown))
	}
}

func markdownSize(parts []mdPart, k int) int {
	n := 0
	for _, p := range parts {
		n += p.size(k)
	}
	return n
}

func (d *digest) markdownParts() []mdPart {
	c, s := d.c, d.summary
	var parts []mdPart
	text := func(format string, args ...any) { parts = append(parts, mdPart{head: fmt.Sprintf(format, args...)}) }

	text("# API triage: %s\n\n", md(monthName(c.Month)))
	compared := "first run: nothing to compare with"
	if c.Previous != "" {
		compared = "compared with " + md(monthName(c.Previous))
	}
	text("Collected %s · %s · %s in %s.\n\n", c.Collected.UTC().Format(timeLayout), compared,
		plural(s.APIs, "API", "APIs"), plural(d.services, "service", "services"))

	table := "| Priority | APIs |\n|---|---:|\n"
	for _, p := range triage.Priorities() {
		table += fmt.Sprintf("| %s: %s | %d |\n", p, priorityTerms[p], s.Priorities[p])
	}
	text("%s| **Total** | **%d** |\n", table, s.APIs)
	if s.Candidates > 0 {
		text("\n%s: idle for 30 days, but the evidence does not reach 90 days yet.\n",
			plural(s.Candidates, "API is a decommission candidate", "APIs are decommission candidates"))
	}

	// Start here: the P0 APIs, at most StartHere lines.
	start := mdPart{head: "\n## Start here\n\n"}
	if d.focus() {
		start.head += fmt.Sprintf("More than %d findings (%d): the external and sensitive APIs first.\n\n", FocusFindings, s.Findings)
	}
	p0 := d.startHere()
	if len(p0) == 0 {
		start.head += "No API is P0 this month.\n"
	}
	shown := p0
	if len(p0) > StartHere {
		shown = p0[:StartHere-1]
	}
	for _, a := range shown {
		start.items = append(start.items, fmt.Sprintf("- %s: %s\n", mdAPI(a), md(clip(a.Reason, mdReasonMax))))
	}
	if len(shown) < len(p0) {
		start.items = append(start.items, fmt.Sprintf("- … and %d more P0 APIs in the full report\n", len(p0)-len(shown)))
	}
	parts = append(parts, start)

	switch {
	case c.Previous == "":
		text("\n## Changes\n\nThe first run: nothing to compare with.\n")
	case len(c.Changes) == 0:
		text("\n## Changes since %s\n\nNo change.\n", md(monthName(c.Previous)))
	default:
		text("\n## Changes since %s\n", md(monthName(c.Previous)))
		for _, k := range changeKinds {
			changes := d.changes[k.kind]
			if len(changes) == 0 {
				continue
			}
			p := mdPart{head: fmt.Sprintf("\n**%s** (%d)\n\n", k.title, len(changes)), cut: true, more: strings.ToLower(k.title) + " in the full report"}
			for _, ch := range changes {
				p.items = append(p.items, "- "+d.mdChange(ch)+"\n")
			}
			parts = append(parts, p)
		}
	}

	gaps := mdPart{head: "\n## Gaps\n\n", cut: true, more: "gaps in the full report"}
	if len(c.Gaps) == 0 {
		gaps.head += "None: every source was read.\n"
	}
	for _, g := range c.Gaps {
		gaps.items = append(gaps.items, fmt.Sprintf("- **%s** in %s: %s *Effect:* %s\n",
			md(clip(g.What, mdNameMax)), md(clip(scopeName(g.Scope), mdNameMax)),
			md(sentence(clip(g.Error, mdErrorMax))), md(sentence(clip(g.Effect, mdErrorMax)))))
	}
	parts = append(parts, gaps)

	cov := c.Coverage
	switch n := len(cov.NotOnboarded); {
	case n == 0:
		text("\n## Coverage\n\nDefender for APIs covers every API.\n")
	default:
		head := fmt.Sprintf("\n## Coverage\n\n%s not onboarded to Defender for APIs", plural(n, "API is", "APIs are"))
		if len(cov.Batches) > 0 {
			head += fmt.Sprintf("; the onboarding plan takes them in %s", plural(len(cov.Batches), "batch", "batches"))
		}
		head += ".\n\n"
		if len(cov.Next) == 0 {
			waiting := cov.Waiting
			if waiting == "" {
				waiting = "no batch is proposed this month"
			}
			text("%sOnboarding waits: %s\n", head, md(sentence(clip(waiting, mdErrorMax))))
			break
		}
		next := mdPart{head: head + fmt.Sprintf("Next batch (%d, pending approval):\n\n", len(cov.Next)), cut: true, more: "in the full report"}
		for _, id := range cov.Next {
			name, service := d.apiName(id, "")
			next.items = append(next.items, "- "+mdNamed(name, service)+"\n")
		}
		parts = append(parts, next)
	}

	text("\nThe full report, with every API, its signals and their sources, and the proposed policies: %s\n", md(HTMLName(c.Month)))
	return parts
}

// mdChange is one change: the API, its ranks, and the signal that moved it.
func (d *digest) mdChange(ch triage.Change) string {
	name, service := d.apiName(ch.API, ch.Name)
	line := mdNamed(name, service)
	if t := transition(ch); t != "" {
		line += ": " + t
	}
	if ch.Signal != "" {
		line += " (" + md(clip(ch.Signal, mdNameMax)) + ")"
	}
	return line
}

// mdAPI names an API: its display name in bold, then its name when that differs,
// and its service: "**Orders** · orders-v2 on apim-prod".
func mdAPI(a *triage.Ranked) string {
	out := "**" + md(clip(label(a), mdNameMax)) + "**"
	if a.DisplayName != "" && a.DisplayName != a.Name {
		out += " · " + md(clip(a.Name, mdNameMax))
	}
	return out + mdOn(a.Service)
}

// mdNamed names an API a change or the plan points at: "Orders on apim-prod".
func mdNamed(label, service string) string { return md(clip(label, mdNameMax)) + mdOn(service) }

func mdOn(service string) string {
	if service == "" {
		return ""
	}
	return " on " + md(clip(service, mdNameMax))
}

// md keeps data text: every character Markdown (CommonMark, GitHub's and Teams')
// reads as markup inside a line is backslash-escaped, so a customer's API name makes
// no link, emphasis, code, strike-through, table cell, HTML, autolink or entity ("(",
// "!" and ">" need nothing once "[" and "<" are escaped); "{{" is broken up (no
// Adaptive Card functions when the text lands in a card); line breaks and other
// control characters become spaces, invisible format characters ‹U+XXXX›. Data never starts a line here, so the line-start
// markers (#, >, -, +, digits) need nothing.
func md(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 8)
	prev := rune(0)
	for _, r := range s {
		switch {
		case r < ' ' || r == 0x7f || r == '\u2028' || r == '\u2029':
			r = ' '
		case unicode.Is(unicode.Cf, r):
			// Invisible format characters (zero-width spaces, bidirectional overrides)
			// would make a name read as another: they are shown.
			fmt.Fprintf(&b, "‹U+%04X›", r)
			prev = r
			continue
		case strings.ContainsRune("\\`*_[]<|~&", r):
			b.WriteByte('\\')
		case r == '{' && prev == '{':
			b.WriteRune('\u200b') // zero-width space
		}
		b.WriteRune(r)
		prev = r
	}
	return b.String()
}

// clip cuts s to at most n bytes on a character boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const more = "…"
	cut := n - len(more)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + more
}

// sentence ends s with a full stop unless it ends with punctuation already.
func sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" || strings.ContainsAny(s[len(s)-1:], ".!?…") {
		return s
	}
	return s + "."
}

// plural writes a count with its noun: "1 API", "3 APIs".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
