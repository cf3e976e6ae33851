package report

import (
	"html/template"
	"strconv"
	"strings"

	"github.com/apiguard/apiguard/shared/triage"
)

// rowsHTML writes the worklist's rows, the bulk of the page: one per API, with every
// signal's source and every recommendation's policy.
//
// It is Go rather than template because html/template calls its escapers through
// reflection for each field: 5,000 rows took 0.4 s that way, most of the monthly
// run's budget, against a few tens of milliseconds here. Data lands in two contexts
// only, element text and double-quoted attribute values (a title, a data attribute),
// where html/template's HTMLEscapeString is the escaper; classes come from fixed
// lists and numbers are formatted here. The escaping tests cover the rows like the
// rest of the page.
func rowsHTML(apis []triage.Ranked) template.HTML {
	var b strings.Builder
	b.Grow(1600 * len(apis))
	for i := range apis {
		writeRow(&b, i+1, &apis[i])
	}
	return template.HTML(b.String())
}

func writeRow(b *strings.Builder, rank int, a *triage.Ranked) {
	text := func(s string) { b.WriteString(template.HTMLEscapeString(s)) }
	class := priorityClass(a.Priority)

	b.WriteString(`<tr class="`)
	b.WriteString(class)
	b.WriteString(`" data-priority="`)
	text(string(a.Priority))
	b.WriteString("\">\n<td class=\"num\" data-label=\"#\">")
	b.WriteString(strconv.Itoa(rank))
	b.WriteString("</td>\n<td data-label=\"Priority\" data-key=\"")
	b.WriteString(strconv.Itoa(priorityOrder(a.Priority)))
	b.WriteString(`"><span class="tag prio `)
	b.WriteString(class)
	b.WriteString(`">`)
	text(string(a.Priority))
	b.WriteString(`</span>`)
	if a.Candidate {
		b.WriteString(` <span class="tag cand" title="idle for 30 days; the evidence does not reach 90 days yet">decommission candidate</span>`)
	}

	b.WriteString("</td>\n<td data-label=\"API\"><span class=\"api\" title=\"")
	text(a.API)
	b.WriteString(`">`)
	text(label(a))
	b.WriteString(`</span>`)
	if a.Name != label(a) {
		b.WriteString(`<span class="sub mono">`)
		text(a.Name)
		b.WriteString(`</span>`)
	}
	if !a.Onboarded {
		b.WriteString(`<span class="sub">not onboarded</span>`)
	}

	b.WriteString("</td>\n<td data-label=\"Service\">")
	text(a.Service)
	b.WriteString("</td>\n<td data-label=\"Rules\">")
	for _, rule := range a.Rules {
		// The page may break a line after each "+" of "external+unauthenticated".
		b.WriteString(`<span class="rule">`)
		for i, part := range strings.Split(rule, "+") {
			if i > 0 {
				b.WriteString("+<wbr>")
			}
			text(part)
		}
		b.WriteString(`</span> `)
	}
	b.WriteString("</td>\n<td data-label=\"Reason\">")
	text(a.Reason)

	b.WriteString("</td>\n<td data-label=\"Signals\">")
	if len(a.Signals) == 0 {
		b.WriteString("—")
	} else {
		b.WriteString(`<details class="signals"><summary>`)
		for _, s := range a.Signals {
			b.WriteString(`<span class="sig `)
			b.WriteString(signalClass(s))
			b.WriteString(`">`)
			text(s.Name)
			b.WriteString(": ")
			b.WriteString(answer(s))
			if s.Inferred {
				b.WriteString(" (inferred)")
			}
			b.WriteString(`</span> `)
		}
		b.WriteString("<span class=\"more\">sources</span></summary>\n<dl>")
		for _, s := range a.Signals {
			b.WriteString(`<dt>`)
			text(s.Name)
			b.WriteString(": ")
			b.WriteString(answer(s))
			if s.Inferred {
				b.WriteString(` <span class="tag inferred">inferred</span>`)
			}
			b.WriteString(`</dt><dd>`)
			text(s.Source)
			b.WriteString(`</dd>`)
		}
		b.WriteString(`</dl></details>`)
	}

	b.WriteString("</td>\n<td data-label=\"Recommendations\">")
	if len(a.Recommendations) == 0 {
		b.WriteString("—")
	} else {
		b.WriteString(`<ul class="plain recs">`)
		for _, r := range a.Recommendations {
			b.WriteString(`<li><span class="tag kind">`)
			text(r.Kind)
			b.WriteString(`</span>`)
			if r.Enforceable {
				b.WriteString(` <span class="tag enf">enforceable</span>`)
			}
			b.WriteString(" ")
			text(r.Text)
			if len(r.Operations) > 0 {
				b.WriteString(`<span class="sub">for `)
				text(strings.Join(r.Operations, ", "))
				b.WriteString(`</span>`)
			}
			if r.Snippet != "" {
				b.WriteString(`<details class="snippet"><summary>policy</summary><pre>`)
				text(r.Snippet)
				b.WriteString(`</pre></details>`)
			}
			b.WriteString(`</li>`)
		}
		b.WriteString(`</ul>`)
	}
	b.WriteString("</td>\n</tr>\n")
}
