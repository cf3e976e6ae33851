package traffic

import (
	"bytes"
	"fmt"
)

// Combined (and common) log format lines, as nginx and Apache write them:
//
//	[syslog header] [vhost] %h %l %u [%t] "%r" %>s %b ["%{Referer}i" "%{User-agent}i"] ["%{X-Forwarded-For}i" ...]
//
// The line is anchored on its bracketed timestamp, the one field no other part
// mimics; what comes before it is read from the right (%h %l %u, the vhost before
// them, a syslog header before that), what comes after from the left.

// textLines decodes a whole batch of lines.
func (d *decoder) textLines(data []byte) {
	data = bytes.TrimPrefix(data, utf8BOM)
	for n := 1; len(data) > 0; n++ {
		line := data
		if k := bytes.IndexByte(data, '\n'); k >= 0 {
			line, data = data[:k], data[k+1:]
		} else {
			data = nil
		}
		d.combinedLine(line, n)
	}
}

// combinedLine decodes line number n. Blank lines are not items.
func (d *decoder) combinedLine(line []byte, n int) {
	d.src, d.line = nil, n
	if isBlank(line) {
		return
	}
	if len(line) > d.opts.MaxRecordBytes {
		d.setAside(line, 0, len(line), fmt.Sprintf("line of %d bytes is over the limit of %d", len(line), d.opts.MaxRecordBytes))
		return
	}
	for len(line) > 0 && (line[len(line)-1] == '\r' || line[len(line)-1] == ' ') {
		line = line[:len(line)-1]
	}
	d.reset()
	if reason := d.parseCombined(line); reason != "" {
		if reason == reasonNoTimestamp {
			reason = foreignReason(line)
		}
		d.setAside(line, 0, len(line), reason)
		return
	}
	d.finish(line, 0, len(line))
}

// reasonNoTimestamp is parseCombined's answer for a line of another format; the line
// is then set aside with foreignReason.
const reasonNoTimestamp = "no timestamp"

// parseCombined fills d.f from a line; it returns why the line is no request, or "".
func (d *decoder) parseCombined(line []byte) string {
	f := &d.f
	ts := timestampBracket(line)
	if ts < 0 {
		return reasonNoTimestamp
	}
	closing := bytes.IndexByte(line[ts:], ']')
	if closing < 0 {
		return reasonNoTimestamp
	}
	closing += ts
	stamp := line[ts+1 : closing]
	t, ok := parseCLFTime(stamp)
	if !ok {
		return fmt.Sprintf("time %q not understood (or outside 1970-9999)", clip(stamp))
	}
	f.t, f.timeOK = t, true

	// Before the timestamp: [syslog header] [vhost] %h %l %u.
	toks := d.toks[:0]
	for i := 0; i < ts; {
		for i < ts && line[i] == ' ' {
			i++
		}
		j := i
		for j < ts && line[j] != ' ' {
			j++
		}
		if j > i {
			toks = append(toks, [2]int{i, j})
		}
		i = j
	}
	d.toks = toks
	tok := func(k int) []byte { return line[toks[k][0]:toks[k][1]] }
	nt := len(toks)
	if nt == 0 {
		return "no client address before the timestamp"
	}
	h := -1
	if nt >= 3 {
		if _, ok := parseHost(tok(nt - 3)); ok {
			h = nt - 3
		}
	}
	for k := nt - 1; h < 0 && k >= 0; k-- {
		if _, ok := parseHost(tok(k)); ok {
			h = k
		}
	}
	if h < 0 { // %h is a hostname (HostnameLookups on): the peer stays unknown
		h = max(nt-3, 0)
	}
	f.peer = tok(h)
	if h+2 < nt {
		if u := tok(h + 2); string(u) != "-" {
			f.user = u
		}
	}
	// A vhost (%v, vhost_combined) is the message's first field: at the start of the
	// line or right after the syslog tag.
	if h >= 1 && (h == 1 || endsWithColon(tok(h-2))) && !endsWithColon(tok(h-1)) {
		f.host = tok(h - 1)
	}

	// After the timestamp: "request" status bytes "referer" "agent" [more].
	i := skipSpaces(line, closing+1)
	if i >= len(line) || line[i] != '"' {
		return "no quoted request line after the timestamp"
	}
	req, i, ok := quotedField(line, i)
	if !ok {
		// The log line itself is cut: what the client sent is unknown, so it is not
		// counted as a malformed request.
		return "request line has no closing quote (the log line is cut)"
	}
	// A request that is not HTTP still names its client: it is kept, Malformed.
	f.method, f.target, f.bad = splitRequest(req)

	i = skipSpaces(line, i)
	status, i := field(line, i)
	switch {
	case len(status) == 0:
		return "no status after the request line"
	case string(status) == "-":
	default:
		n, ok := parseInt(status)
		if !ok || n < 0 || bytes.IndexByte(status, '.') >= 0 {
			return fmt.Sprintf("status %q is not a number", clip(status))
		}
		f.status = n
	}
	i = skipSpaces(line, i)
	if i < len(line) && line[i] != '"' {
		var size []byte
		size, i = field(line, i)
		f.respBytes, _ = parseInt(size) // "-" is 0
	}
	// Referer, user agent, then at most a few trailing fields; the first quoted one
	// that reads as an address list is nginx's "$http_x_forwarded_for".
	for k := 0; k < 5; k++ {
		i = skipSpaces(line, i)
		if i >= len(line) {
			break
		}
		var v []byte
		if line[i] != '"' {
			_, i = field(line, i)
			continue
		}
		if v, i, ok = quotedField(line, i); !ok {
			break // a cut line: what was read stands
		}
		switch k {
		case 0: // referer
		case 1:
			f.userAgent = d.unquote(v)
		default:
			if len(f.forwarded) == 0 && looksForwarded(v) {
				f.forwarded = v
			}
		}
	}
	return ""
}

// timestampBracket finds the '[' opening [dd/Mon/yyyy:... or [yyyy-mm-dd...].
func timestampBracket(line []byte) int {
	for i := 0; i < len(line); {
		k := bytes.IndexByte(line[i:], '[')
		if k < 0 {
			return -1
		}
		j := i + k
		if j+4 < len(line) && isDigit(line[j+1]) && isDigit(line[j+2]) && line[j+3] == '/' {
			return j
		}
		if j+6 < len(line) && isDigit(line[j+1]) && isDigit(line[j+2]) && isDigit(line[j+3]) && isDigit(line[j+4]) && line[j+5] == '-' {
			return j
		}
		i = j + 1
	}
	return -1
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func endsWithColon(b []byte) bool { return len(b) > 0 && b[len(b)-1] == ':' }

func skipSpaces(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	return i
}

// field returns the unquoted field at b[i] and the offset after it.
func field(b []byte, i int) ([]byte, int) {
	j := i
	for j < len(b) && b[j] != ' ' && b[j] != '\t' {
		j++
	}
	return b[i:j], j
}

// quotedField returns the content of the quoted field at b[i] (a backslash escapes
// the next byte, as Apache writes \" and \\) and the offset after it.
func quotedField(b []byte, i int) ([]byte, int, bool) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return b[i+1 : j], j + 1, true
		}
	}
	return nil, len(b), false
}

// unquote undoes Apache's \" and \\ (nginx writes \x22, which stays as logged).
func (d *decoder) unquote(v []byte) []byte {
	if bytes.IndexByte(v, '\\') < 0 {
		return v
	}
	start := len(d.scratch)
	for j := 0; j < len(v); j++ {
		if v[j] == '\\' && j+1 < len(v) && (v[j+1] == '"' || v[j+1] == '\\') {
			j++
		}
		d.scratch = append(d.scratch, v[j])
	}
	return d.scratch[start:len(d.scratch):len(d.scratch)]
}

// splitRequest reads "METHOD target HTTP/x.y". The target may hold spaces (the
// client sent them); it must be a path, an absolute URL, "*" or a CONNECT authority.
// When the line is not such a request (junk, TLS bytes, "-", no target, no version),
// bad says why and method and target hold what could be read: a method only when the
// first word looks like one, a target only when it reads as one.
func splitRequest(req []byte) (method, target []byte, bad string) {
	if len(req) == 0 || string(req) == "-" {
		return nil, nil, "empty request line (the client sent no request)"
	}
	first, rest := req, []byte(nil)
	if sp := bytes.IndexByte(req, ' '); sp >= 0 {
		first, rest = req[:sp], bytes.TrimLeft(req[sp+1:], " ")
	}
	if !isMethod(first) {
		if first[0] == '/' { // "/x HTTP/1.1": a target without a method
			target, _ = cutVersion(req)
			return nil, target, fmt.Sprintf("request line %q has no method", clip(req))
		}
		return nil, nil, fmt.Sprintf("malformed request line %q", clip(req))
	}
	method = first
	target, version := cutVersion(rest)
	switch {
	case len(target) == 0:
		return method, nil, fmt.Sprintf("request line %q has no target", clip(req))
	case !isTarget(method, target):
		return method, nil, fmt.Sprintf("request target %q is not a path", clip(target))
	case !version:
		return method, target, fmt.Sprintf("request line %q has no HTTP version", clip(req))
	}
	return method, target, ""
}

// cutVersion splits "target HTTP/x.y" into the target and whether a version followed.
func cutVersion(s []byte) ([]byte, bool) {
	if bytes.HasPrefix(s, httpVersion) && bytes.IndexByte(s, ' ') < 0 {
		return nil, true // "GET HTTP/1.1": no target
	}
	if k := bytes.LastIndexByte(s, ' '); k >= 0 && bytes.HasPrefix(s[k+1:], httpVersion) {
		return bytes.TrimRight(s[:k], " "), true
	}
	return s, false
}

// isTarget reports whether a request target is one HTTP allows: a path, an absolute
// URL, "*", or (for CONNECT) an authority.
func isTarget(method, target []byte) bool {
	return target[0] == '/' || schemeLen(target) > 0 || string(target) == "*" || string(method) == "CONNECT"
}

var httpVersion = []byte("HTTP/")

// isMethod accepts what HTTP methods look like in practice (GET, M-SEARCH,
// VERSION-CONTROL), refusing the binary and text junk scanners send.
func isMethod(m []byte) bool {
	if len(m) == 0 || len(m) > 32 || !(m[0] >= 'A' && m[0] <= 'Z' || m[0] >= 'a' && m[0] <= 'z') {
		return false // "-" is what a log writes for no method
	}
	for _, c := range m {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// looksForwarded reports whether a trailing quoted field is an address list.
func looksForwarded(v []byte) bool {
	if string(v) == "-" || len(v) == 0 {
		return false
	}
	first := v
	if k := bytes.IndexByte(v, ','); k >= 0 {
		first = v[:k]
	}
	_, ok := parseHost(first)
	return ok
}

// looksCombined is detection's test: a bracketed timestamp that parses, then a
// quoted request. Malformed requests still count: the line is an access log line.
func looksCombined(line []byte) bool {
	ts := timestampBracket(line)
	if ts < 0 {
		return false
	}
	closing := bytes.IndexByte(line[ts:], ']')
	if closing < 0 {
		return false
	}
	if _, ok := parseCLFTime(line[ts+1 : ts+closing]); !ok {
		return false
	}
	i := skipSpaces(line, ts+closing+1)
	return i < len(line) && line[i] == '"'
}
