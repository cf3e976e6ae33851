package traffic

import (
	"bytes"
	"fmt"
)

// The JSON formats share one layout of items. A batch is either one document (a
// record, a JSON array of records, {"records":[...]}, possibly pretty-printed, or
// several such documents one after the other) or NDJSON: one document per line. Each
// record is an item; so is whatever could not be read as one.

// jsonBatch decodes a whole JSON batch.
func (d *decoder) jsonBatch(data []byte) {
	data = bytes.TrimPrefix(data, utf8BOM)
	if i := skipWS(data, 0); i < len(data) && !looksJSON(data[i:]) || isLineDelimited(data) {
		d.jsonLines(data, 1)
		return
	}
	d.src, d.line, d.lineOff, d.lineSeen = data, 1, 0, 0
	c := &cursor{b: data}
	d.halt = false
	for {
		c.i = skipWS(data, c.i)
		if c.i >= len(data) || d.halt {
			return
		}
		d.document(c)
	}
}

// jsonLines decodes NDJSON, line by line; first is the number of data's first line.
func (d *decoder) jsonLines(data []byte, first int) {
	d.src = nil
	for n := first; len(data) > 0; n++ {
		line := data
		if k := bytes.IndexByte(data, '\n'); k >= 0 {
			line, data = data[:k], data[k+1:]
		} else {
			data = nil
		}
		d.jsonLine(line, n)
	}
}

// jsonLine decodes one line of NDJSON (a Scanner's unit too).
func (d *decoder) jsonLine(line []byte, n int) {
	d.src, d.line = nil, n
	raw := line
	line = bytes.TrimSuffix(line, []byte{'\r'})
	d.cur = cursor{b: line} // the decoder's, not one allocated per line
	c := &d.cur
	c.i = skipWS(line, 0)
	if c.i >= len(line) {
		return
	}
	if !looksJSON(line[c.i:]) {
		// A line of another format. The combined decoder sets it aside with the reason
		// it gives in a combined batch (see foreign.go), unless it is an access line.
		if looksCombined(line) {
			d.setAside(line, 0, len(line), reasonCombinedInJSON)
			return
		}
		d.combinedLine(raw, n)
		return
	}
	d.halt = false
	d.document(c)
	if d.halt {
		return
	}
	if i := skipWS(line, c.i); i < len(line) {
		d.setAside(line, i, len(line), "data after the JSON value on the line")
	}
}

// document decodes the top-level value at the cursor: a record or a wrapper, or an
// array of them.
func (d *decoder) document(c *cursor) {
	switch c.b[c.i] {
	case '{':
		d.item(c, true)
	case '[':
		d.array(c, true)
	default:
		d.setAside(c.b, c.i, len(c.b), fmt.Sprintf("expected a JSON object or array, found %s", kindOf(c.b[c.i:])))
		c.i = len(c.b)
		d.halt = true
	}
}

// array decodes the elements of the array at the cursor as items. Elements of a
// top-level array may themselves be {"records":[...]} wrappers (wrap).
func (d *decoder) array(c *cursor, wrap bool) {
	b := c.b
	c.i++ // '['
	for !d.halt {
		i := skipWS(b, c.i)
		for i < len(b) && b[i] == ',' {
			i = skipWS(b, i+1)
		}
		c.i = i
		if i >= len(b) {
			d.setAside(b, i, i, "input ends inside an array (truncated?)")
			d.halt = true
			return
		}
		switch b[i] {
		case ']':
			c.i = i + 1
			return
		case '}':
			d.setAside(b, i, len(b), fmt.Sprintf("malformed JSON at byte %d: '}' inside an array", i))
			c.i = len(b)
			d.halt = true
			return
		}
		d.item(c, wrap)
	}
}

// item decodes the value at the cursor as one record (or, when wrap allows and the
// object has a "records" array, as a wrapper whose elements are the items).
func (d *decoder) item(c *cursor, wrap bool) {
	b, start := c.b, c.i
	if b[start] != '{' {
		end, msg := skipValue(b, start)
		if msg != "" {
			d.setAside(b, start, len(b), fmt.Sprintf("%s that does not end: %s", kindOf(b[start:]), msg))
			c.i = len(b)
			d.halt = true
			return
		}
		d.setAside(b, start, end, fmt.Sprintf("%s, not a record object", kindOf(b[start:])))
		c.i = end
		return
	}
	d.reset()
	wrapped := d.walkRecord(c, wrap)
	if d.halt {
		return
	}
	if c.err != "" {
		at := min(c.at, len(b))
		if wrapped {
			d.setAside(b, at, len(b), fmt.Sprintf("malformed JSON at byte %d, after the records array: %s", at, c.err))
			c.i = len(b)
			d.halt = true
			return
		}
		reason := fmt.Sprintf("malformed JSON at byte %d of the record: %s", at-start, c.err)
		c.err = ""
		end, msg := skipNested(b, start)
		if msg != "" {
			if d.src != nil {
				reason += "; the rest of the input cannot be read"
			}
			d.setAside(b, start, len(b), reason)
			c.i = len(b)
			d.halt = true
			return
		}
		d.setAside(b, start, end, reason)
		c.i = end
		return
	}
	if wrapped {
		return
	}
	if n := c.i - start; n > d.opts.MaxRecordBytes {
		d.setAside(b, start, c.i, fmt.Sprintf("record of %d bytes is over the limit of %d", n, d.opts.MaxRecordBytes))
		return
	}
	d.finish(b, start, c.i)
}

// walkRecord walks the object at the cursor, collecting the format's fields. It
// returns true when the object was a wrapper ({"records":[...]}) and its elements
// were decoded as items instead.
func (d *decoder) walkRecord(c *cursor, wrap bool) (wrapped bool) {
	c.i++ // '{'
	for {
		key, ok := d.memberOf(c, d.topKeys)
		if !ok {
			return wrapped
		}
		if wrap && string(key) == "records" && c.peek() == '[' {
			d.array(c, false)
			if d.halt {
				return true
			}
			wrapped = true
			d.reset() // what the wrapper's own members left is not a record
			continue
		}
		switch d.format {
		case FormatAPIMDiagnostic:
			d.diagTop(c, key)
		case FormatAPIMLogAnalytics:
			d.analyticsRow(c, key)
		case FormatAppGateway:
			d.appGatewayTop(c, key)
		case FormatFrontDoor:
			d.frontDoorTop(c, key)
		default:
			c.skip()
		}
	}
}

// walkNested walks a nested object (properties, headers) with fn for each member.
// The value at the cursor may be the object itself or a string holding it (older
// APIM records, Log Analytics dynamic columns); anything else is skipped.
func (d *decoder) walkNested(c *cursor, fn func(c *cursor, key []byte)) {
	d.walkNestedOf(c, fn, anyKey)
}

// walkNestedOf is walkNested for a fn that reads only the keys of want (see
// wantKeys); fn gets "" for the others.
func (d *decoder) walkNestedOf(c *cursor, fn func(c *cursor, key []byte), want *keySet) {
	doc, isObject := d.nestedDoc(c, d.opts.MaxRecordBytes)
	if isObject {
		c.i++
		for {
			key, ok := d.memberOf(c, want)
			if !ok {
				return
			}
			fn(c, key)
		}
	}
	if doc == nil || c.err != "" {
		return
	}
	sub := &cursor{b: doc}
	sub.i = skipWS(doc, 0)
	if sub.peek() != '{' {
		return // a string that is no object: nothing to read, nothing to refuse
	}
	sub.i++
	for {
		key, ok := d.memberOf(sub, want)
		if !ok {
			break
		}
		fn(sub, key)
	}
	if sub.err != "" {
		c.fail("in a JSON-encoded string value: " + sub.err)
	}
}

// isLineDelimited tells NDJSON (one document per line) from one document, possibly
// pretty-printed: the first non-blank line must be a complete object or array by
// itself and another non-blank line must follow.
func isLineDelimited(data []byte) bool {
	i := skipWS(data, 0)
	if i >= len(data) {
		return false
	}
	line := data[i:]
	rest := []byte(nil)
	if k := bytes.IndexByte(line, '\n'); k >= 0 {
		line, rest = line[:k], line[k+1:]
	}
	if len(bytes.TrimSpace(rest)) == 0 {
		return false
	}
	line = bytes.TrimRight(line, " \t\r")
	if len(line) < 2 {
		return false
	}
	first, last := line[0], line[len(line)-1]
	if !(first == '{' && last == '}' || first == '[' && last == ']') {
		return false
	}
	end, msg := skipValue(line, 0)
	return msg == "" && end == len(line)
}
