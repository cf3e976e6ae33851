package waf

import (
	"bytes"
)

// style is how a document is laid out, so that what apiguard writes into it looks like
// the rest of it: a team that keeps the policy (or a template) in git sees its own
// formatting in the diff, and only the owned rules change.
type style struct {
	nl    string // line break: "" (all on one line), "\n" or "\r\n"
	unit  string // one level of indentation
	colon string // between a key and its value: ":" or ": " or " : "
	comma string // ',' and the spaces around it on one line (one-line documents only)
}

// detectStyle reads the layout of the document whose top-level object is at data[top].
// JSON strings cannot hold a raw line break, so every line break is layout.
func detectStyle(data []byte, top int) style {
	st := style{colon: ":", comma: ","}
	// A one-line document followed by a line break is still laid out on one line.
	body := bytes.TrimSpace(data)
	switch {
	case bytes.Contains(body, []byte("\r\n")):
		st.nl = "\r\n"
	case bytes.IndexByte(body, '\n') >= 0:
		st.nl = "\n"
	}
	if st.nl != "" {
		st.colon = ": "
		st.unit = indentUnit(data)
	}
	ms, _, err := object(data, top)
	if err != nil || len(ms) == 0 {
		return st
	}
	if c := data[ms[0].keyEnd:ms[0].start]; isLayout(c) && bytes.IndexByte(c, '\n') < 0 {
		st.colon = string(c)
	}
	if len(ms) > 1 && st.nl == "" {
		st.comma = string(data[ms[0].end:ms[1].keyStart])
	}
	return st
}

func isLayout(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != ':' {
			return false
		}
	}
	return true
}

// indentUnit is the most frequent step by which a line is indented deeper than the
// line before it; tabs when most indented lines start with one; two spaces when the
// document never steps in.
func indentUnit(data []byte) string {
	steps := map[string]int{}
	tabs, spaces := 0, 0
	var prev []byte
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		line = bytes.TrimSuffix(line, []byte("\r"))
		n := 0
		for n < len(line) && (line[n] == ' ' || line[n] == '\t') {
			n++
		}
		if n == len(line) {
			continue // blank
		}
		ind := line[:n]
		if n > 0 {
			if ind[0] == '\t' {
				tabs++
			} else {
				spaces++
			}
		}
		if len(ind) > len(prev) && bytes.HasPrefix(ind, prev) {
			steps[string(ind[len(prev):])]++
		}
		prev = ind
	}
	best, count := "", 0
	for s, c := range steps {
		if c > count || (c == count && s < best) {
			best, count = s, c
		}
	}
	switch {
	case best != "":
		return best
	case tabs > spaces:
		return "\t"
	}
	return "  "
}

// lineIndent is the indentation of the line holding data[pos].
func lineIndent(data []byte, pos int) string {
	start := bytes.LastIndexByte(data[:pos], '\n') + 1
	end := start
	for end < len(data) && (data[end] == ' ' || data[end] == '\t') {
		end++
	}
	return string(data[start:end])
}

// format lays out compact JSON (from encoding/json: no layout of its own) in the style,
// as a value starting on a line indented by base.
func (st style) format(compact []byte, base string) []byte {
	var out bytes.Buffer
	out.Grow(len(compact) * 2)
	depth := 0
	newline := func() {
		out.WriteString(st.nl)
		out.WriteString(base)
		for range depth {
			out.WriteString(st.unit)
		}
	}
	for i := 0; i < len(compact); i++ {
		c := compact[i]
		switch c {
		case '"':
			end, err := skipString(compact, i)
			if err != nil {
				end = len(compact)
			}
			out.Write(compact[i:end])
			i = end - 1
		case '{', '[':
			out.WriteByte(c)
			if i+1 < len(compact) && (compact[i+1] == '}' || compact[i+1] == ']') {
				out.WriteByte(compact[i+1])
				i++
				continue
			}
			depth++
			if st.nl != "" {
				newline()
			}
		case '}', ']':
			depth--
			if st.nl != "" {
				newline()
			}
			out.WriteByte(c)
		case ',':
			if st.nl != "" {
				out.WriteByte(',')
				newline()
			} else {
				out.WriteString(st.comma)
			}
		case ':':
			out.WriteString(st.colon)
		default:
			out.WriteByte(c)
		}
	}
	return out.Bytes()
}
