package traffic

import (
	"bytes"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Detection bounds: records classified per JSON document or line, JSON-looking lines
// classified before JSON formats are ruled out, and the lines among which they count.
const (
	detectRecords = 8
	detectLines   = 16
	detectWithin  = 1024
)

// Detect names the format of a batch. One JSON document (an object or an array of
// objects, possibly pretty-printed) is classified by its first records' category, Type
// or key set. Line-oriented input (NDJSON, log lines, or a mix of them with lines of
// other formats) is decided on its access lines: the first combined-format line, or
// the first JSON line whose records name a format; error-log lines and other lines do
// not decide. The error explains what was seen; Options.Format bypasses detection.
func Detect(data []byte) (Format, error) {
	f, _, err := detect(data)
	return f, err
}

// detect is Detect that also says whether the batch is decoded line by line.
func detect(data []byte) (f Format, lines bool, err error) {
	data = bytes.TrimPrefix(data, utf8BOM)
	i := skipWS(data, 0)
	if i >= len(data) {
		return "", false, errors.New("empty batch: no format to detect")
	}
	if doc := data[i:]; looksJSON(doc) && !isLineDelimited(doc) {
		d := newDecoder(Options{}.WithDefaults(), FormatAuto)
		if f := d.detectJSON(doc); f != "" {
			return f, false, nil
		}
		// No known record in the document: its lines may still be access lines.
	}
	ld := newLineDetector()
	for n, rest := 1, data; len(rest) > 0; n++ {
		line := rest
		if k := bytes.IndexByte(rest, '\n'); k >= 0 {
			line, rest = rest[:k], rest[k+1:]
		} else {
			rest = nil
		}
		if isBlank(line) {
			continue
		}
		if f, _ := ld.feed(line, n); f != "" {
			return f, true, nil
		}
	}
	return "", true, ld.refusal()
}

// lineDetector decides the format of line-oriented input on its access lines. Decode
// (through detect) and Scanner feed it the same lines in the same order, so a batch
// and the same bytes streamed are decided alike. Its work is bounded: JSON-looking
// lines are classified only among the first detectWithin non-blank lines and at most
// detectLines of them (each up to detectRecords records); any other line costs one
// pass of looksCombined.
type lineDetector struct {
	d         *decoder // for classify; never decodes
	lines     int      // non-blank lines fed
	jsonTried int      // JSON-looking lines classified
	first     []byte   // the first non-blank line, clipped, for the refusal
	firstLine int
}

func newLineDetector() *lineDetector {
	return &lineDetector{d: newDecoder(Options{}.WithDefaults(), FormatAuto)}
}

// feed classifies non-blank line n. It returns the format the line decides, or "" and
// whether the line may still be a record of a JSON format not decided yet.
func (ld *lineDetector) feed(line []byte, n int) (f Format, candidate bool) {
	ld.note(line, n)
	if t := line[skipWS(line, 0):]; len(t) > 0 && looksJSON(t) {
		if ld.jsonTried >= detectLines || ld.lines > detectWithin {
			return "", false
		}
		ld.jsonTried++
		return ld.d.detectJSON(t), true
	}
	if looksCombined(line) {
		return FormatCombined, false
	}
	return "", false
}

// note counts a line fed (or one too long to be fed) and keeps the first one.
func (ld *lineDetector) note(line []byte, n int) {
	ld.lines++
	if ld.first == nil {
		ld.first, ld.firstLine = bytes.Clone(line[:min(len(line), excerptLen+utf8.UTFMax)]), n
	}
}

// jsonOpen reports whether a later line may still decide a JSON format.
func (ld *lineDetector) jsonOpen() bool {
	return ld.jsonTried < detectLines && ld.lines < detectWithin
}

// refusal explains why no format was decided.
func (ld *lineDetector) refusal() error {
	if ld.lines == 0 {
		return errors.New("empty batch: no format to detect")
	}
	if t := ld.first[skipWS(ld.first, 0):]; len(t) > 0 && looksJSON(t) {
		return fmt.Errorf("cannot detect the log format: the first records are JSON of no known shape (want %s); set the format explicitly", formatList())
	}
	return fmt.Errorf("cannot detect the log format: none of %d lines is an access log line (JSON records of %s, or combined-format lines); line %d is %s: %q; set the format explicitly",
		ld.lines, formatList(), ld.firstLine, lineKind(ld.first), excerpt(ld.first))
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
