package traffic

import (
	"bytes"
	"time"
)

// API Management gateway logs, in their two spellings (see README.md). Keys match
// case-insensitively; unknown keys are skipped unread, so newer shapes decode.

// The keys each switch below reads (plus "records", which walkRecord reads), for
// memberOf's filter: keep them in step with the cases.
var (
	diagTopKeys = wantKeys("records", "time", "calleripaddress", "durationms", "properties")

	diagPropertyKeys = wantKeys("method", "url", "responsecode", "requestsize", "responsesize",
		"apiid", "operationid", "userid", "apimsubscriptionid", "clienttime", "backendtime",
		"requestheaders")

	analyticsKeys = wantKeys("records", "timegenerated", "calleripaddress", "method", "url",
		"responsecode", "requestsize", "responsesize", "totaltime", "clienttime", "backendtime",
		"apiid", "operationid", "userid", "apimsubscriptionid", "requestheaders")

	headerKeys = wantKeys("x-azure-socketip", "x-azure-clientip", "user-agent", "host")
)

// diagTop reads one member of a GatewayLogs diagnostic record.
func (d *decoder) diagTop(c *cursor, key []byte) {
	f := &d.f
	switch string(key) {
	case "time":
		f.time = d.text(c)
	case "calleripaddress":
		f.peer = d.text(c)
	case "durationms":
		f.latency, f.hasLat = parseDuration(d.text(c), time.Millisecond), true
	case "properties":
		d.walkNestedOf(c, d.diagProperty, diagPropertyKeys)
	default:
		c.skip()
	}
}

// diagProperty reads one member of a GatewayLogs record's properties.
func (d *decoder) diagProperty(c *cursor, key []byte) {
	f := &d.f
	switch string(key) {
	case "method":
		f.method = d.text(c)
	case "url":
		f.target = d.text(c)
	case "responsecode":
		f.status = d.number(c)
	case "requestsize":
		f.reqBytes = d.number(c)
	case "responsesize":
		f.respBytes = d.number(c)
	case "apiid":
		f.api = d.text(c)
	case "operationid":
		f.operation = d.text(c)
	case "userid":
		f.user = d.text(c)
	case "apimsubscriptionid":
		f.sub = d.text(c)
	case "clienttime", "backendtime":
		f.partTime += parseDuration(d.text(c), time.Millisecond)
	case "requestheaders":
		d.walkNestedOf(c, d.header, d.headerKeys)
	default:
		c.skip()
	}
}

// analyticsRow reads one column of an ApiManagementGatewayLogs row.
func (d *decoder) analyticsRow(c *cursor, key []byte) {
	f := &d.f
	switch string(key) {
	case "timegenerated":
		f.time = d.text(c)
	case "calleripaddress":
		f.peer = d.text(c)
	case "method":
		f.method = d.text(c)
	case "url":
		f.target = d.text(c)
	case "responsecode":
		f.status = d.number(c)
	case "requestsize":
		f.reqBytes = d.number(c)
	case "responsesize":
		f.respBytes = d.number(c)
	case "totaltime":
		f.latency, f.hasLat = parseDuration(d.text(c), time.Millisecond), true
	case "clienttime", "backendtime":
		f.partTime += parseDuration(d.text(c), time.Millisecond)
	case "apiid":
		f.api = d.text(c)
	case "operationid":
		f.operation = d.text(c)
	case "userid":
		f.user = d.text(c)
	case "apimsubscriptionid":
		f.sub = d.text(c)
	case "requestheaders":
		d.walkNestedOf(c, d.header, d.headerKeys)
	default:
		c.skip()
	}
}

// header reads one logged request header.
func (d *decoder) header(c *cursor, key []byte) {
	f := &d.f
	if bytes.Equal(key, d.fwdKey) {
		f.forwarded = d.headerValue(c)
		return
	}
	switch string(key) {
	case "x-azure-socketip":
		f.azSocket = d.headerValue(c)
	case "x-azure-clientip":
		f.azClient = d.headerValue(c)
	case "user-agent":
		f.userAgent = d.headerValue(c)
	case "host":
		f.hostHdr = d.headerValue(c)
	default:
		c.skip()
	}
}

// headerValue reads a header's value: a string, or an array of strings (a header
// sent more than once) joined with ", " as HTTP does.
func (d *decoder) headerValue(c *cursor) []byte {
	if c.peek() != '[' {
		return d.text(c)
	}
	c.i++
	parts := d.parts[:0]
	for c.err == "" {
		c.i = skipWS(c.b, c.i)
		for c.i < len(c.b) && c.b[c.i] == ',' {
			c.i = skipWS(c.b, c.i+1)
		}
		if c.i >= len(c.b) {
			c.fail("unexpected end of input inside an array")
			break
		}
		if c.b[c.i] == ']' {
			c.i++
			break
		}
		if v := d.text(c); len(v) > 0 {
			parts = append(parts, v)
		}
	}
	d.parts = parts[:0]
	if len(parts) == 1 {
		return parts[0]
	}
	// The parts stay valid while scratch grows: they point into the input or into
	// earlier bytes of scratch, which appending never rewrites.
	start := len(d.scratch)
	for i, p := range parts {
		if i > 0 {
			d.scratch = append(d.scratch, ',', ' ')
		}
		d.scratch = append(d.scratch, p...)
	}
	return d.scratch[start:len(d.scratch):len(d.scratch)]
}
