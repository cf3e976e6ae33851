package traffic

import (
	"bytes"
	"errors"
	"fmt"
)

// detectRecords and detectLines bound how far detection looks.
const (
	detectRecords = 8
	detectLines   = 16
)

// Detect names the format of a batch from its first bytes and first records: JSON
// (an object or an array of objects) is classified by its first records' category,
// Type or key set; anything else is combined when one of its first 16 non-blank
// lines has a bracketed timestamp followed by a quoted request. The error explains
// what was seen; Options.Format bypasses detection.
func Detect(data []byte) (Format, error) {
	data = bytes.TrimPrefix(data, utf8BOM)
	i := skipWS(data, 0)
	if i >= len(data) {
		return "", errors.New("empty batch: no format to detect")
	}
	data = data[i:]
	if looksJSON(data) {
		d := newDecoder(Options{}.WithDefaults(), FormatAuto)
		if f := d.detectJSON(data); f != "" {
			return f, nil
		}
		return "", fmt.Errorf("cannot detect the log format: the first records are JSON of no known shape (want %s); set the format explicitly", formatList())
	}
	lines := 0
	for rest := data; len(rest) > 0 && lines < detectLines; {
		line := rest
		if k := bytes.IndexByte(rest, '\n'); k >= 0 {
			line, rest = rest[:k], rest[k+1:]
		} else {
			rest = nil
		}
		if isBlank(line) {
			continue
		}
		lines++
		if looksCombined(line) {
			return FormatCombined, nil
		}
	}
	first := data
	if k := bytes.IndexByte(first, '\n'); k >= 0 {
		first = first[:k]
	}
	return "", fmt.Errorf("cannot detect the log format: %q is neither JSON records nor a combined-format access log line; set the format explicitly", excerpt(first))
}

// looksJSON: an object, or an array whose first element is an object (or empty). An
// Apache error log line also starts with '['.
func looksJSON(data []byte) bool {
	switch data[0] {
	case '{':
		return true
	case '[':
		i := skipWS(data, 1)
		return i < len(data) && (data[i] == '{' || data[i] == ']' || data[i] == '[')
	}
	return false
}

// detectJSON classifies the first records of a JSON batch, whichever way they are
// laid out; "" when none of the first few says.
func (d *decoder) detectJSON(data []byte) Format {
	seen := 0
	c := &cursor{b: data}
	for seen < detectRecords {
		c.i = skipWS(data, c.i)
		if c.i >= len(data) {
			return ""
		}
		start := c.i
		switch data[c.i] {
		case '{':
			seen++
			if f := d.classify(c, 0); f != "" {
				return f
			}
		case '[':
			c.i++
			for seen < detectRecords && c.err == "" {
				c.i = skipWS(data, c.i)
				for c.i < len(data) && data[c.i] == ',' {
					c.i = skipWS(data, c.i+1)
				}
				if c.i >= len(data) || data[c.i] == ']' {
					c.i++
					break
				}
				if data[c.i] != '{' {
					c.skip()
					continue
				}
				seen++
				if f := d.classify(c, 0); f != "" {
					return f
				}
			}
		default:
			c.fail("not JSON")
		}
		if c.err != "" {
			// Resynchronize on the next line (NDJSON with a bad line).
			c.err = ""
			k := bytes.IndexByte(data[start:], '\n')
			if k < 0 {
				return ""
			}
			c.i = start + k + 1
		}
	}
	return ""
}

// classify walks the object at the cursor and names its format, "" when unsure. A
// {"records":[...]} wrapper is classified by its elements.
func (d *decoder) classify(c *cursor, depth int) Format {
	d.reset()
	c.i++ // '{'
	var props Format
	var hasProps, hasTimeGenerated, hasCaller, hasMethod, hasURL, apimLog bool
	for {
		key, ok := d.member(c)
		if !ok {
			break
		}
		switch string(key) {
		case "records":
			if depth > 0 || c.peek() != '[' {
				c.skip()
				continue
			}
			c.i++
			for n := 0; n < detectRecords && c.err == ""; n++ {
				c.i = skipWS(c.b, c.i)
				for c.i < len(c.b) && c.b[c.i] == ',' {
					c.i = skipWS(c.b, c.i+1)
				}
				if c.i >= len(c.b) || c.b[c.i] != '{' {
					break
				}
				if f := d.classify(c, depth+1); f != "" {
					return f
				}
			}
			return ""
		case "category", "operationname":
			v := bytes.ToLower(d.text(c))
			switch {
			case bytes.Contains(v, []byte("applicationgatewayaccess")):
				return FormatAppGateway
			case bytes.Contains(v, []byte("frontdooraccesslog")), bytes.Contains(v, []byte("microsoft.cdn/profiles/accesslog")):
				return FormatFrontDoor
			case bytes.Contains(v, []byte("gatewaylogs")):
				apimLog = true // Log Analytics rows carry the same OperationName
			}
		case "type":
			switch v := d.text(c); {
			case bytes.EqualFold(v, []byte("ApiManagementGatewayLogs")):
				return FormatAPIMLogAnalytics
			case bytes.EqualFold(v, []byte("AGWAccessLogs")):
				return FormatAppGateway
			}
		case "timegenerated":
			hasTimeGenerated = true
			c.skip()
		case "calleripaddress":
			hasCaller = true
			c.skip()
		case "method":
			hasMethod = true
			c.skip()
		case "url":
			hasURL = true
			c.skip()
		case "properties":
			hasProps = true
			props = d.classifyProperties(c)
		default:
			c.skip()
		}
	}
	switch {
	case props != "":
		return props
	case !hasProps && (hasTimeGenerated || hasCaller) && (hasMethod || hasURL):
		return FormatAPIMLogAnalytics
	case hasProps && (hasCaller || apimLog):
		return FormatAPIMDiagnostic
	case apimLog && hasTimeGenerated:
		return FormatAPIMLogAnalytics
	case apimLog:
		return FormatAPIMDiagnostic
	}
	return ""
}

// classifyProperties names the format from the members of properties.
func (d *decoder) classifyProperties(c *cursor) Format {
	var frontDoor, appGateway, apim, method, url bool
	d.walkNested(c, func(c *cursor, key []byte) {
		switch string(key) {
		case "socketip", "httpstatuscode":
			frontDoor = true
		case "httpstatus", "originalrequesturiwithargs", "receivedbytes", "sentbytes":
			appGateway = true
		case "apimsubscriptionid", "responsecode", "apiid", "operationid", "backendresponsecode":
			apim = true
		case "method":
			method = true
		case "url":
			url = true
		}
		c.skip()
	})
	switch {
	case frontDoor:
		return FormatFrontDoor
	case appGateway:
		return FormatAppGateway
	case apim || method && url:
		return FormatAPIMDiagnostic
	}
	return ""
}
