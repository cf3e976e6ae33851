package traffic

import "bytes"

// Lines of other formats. Access logs collected through syslog or the journal, or
// concatenated by hand, carry error-log lines among the access lines; a JSON stream may
// carry a stray text line. Such a line is set aside with a reason naming what it looks
// like, and the same reason whichever format the batch was decided to be, so a Scanner
// can set it aside before the format is known.

// lineKind names what a line that is no access line looks like, for a refusal.
func lineKind(line []byte) string {
	switch {
	case looksApacheError(line):
		return "an Apache error-log line"
	case looksNginxError(line):
		return "an nginx error-log line"
	case looksJSONLine(line):
		return "JSON of no known shape"
	}
	return "neither JSON records nor a combined-format access log line"
}

// foreignReason is the set-aside reason of a line with no combined-format timestamp.
func foreignReason(line []byte) string {
	switch {
	case looksApacheError(line):
		return "an Apache error-log line, not an access log line"
	case looksNginxError(line):
		return "an nginx error-log line, not an access log line"
	case looksJSONLine(line):
		return "a JSON document, not a combined-format access log line"
	}
	return "not a combined-format line (no [dd/Mon/yyyy:hh:mm:ss zone] timestamp) nor a JSON record"
}

// reasonCombinedInJSON sets aside an access line of the combined format in a JSON batch.
const reasonCombinedInJSON = "a combined-format access log line, not a JSON record"

// looksJSONLine: the line, leading blanks skipped, starts a JSON object or array of
// objects.
func looksJSONLine(line []byte) bool {
	t := line[skipWS(line, 0):]
	return len(t) > 0 && looksJSON(t)
}

// syslogMessage returns the message of a line behind a syslog or journal header
// ("Jan  2 03:04:05 host nginx: ..."): what follows the first ": " in its first 128
// bytes; nil when there is none.
func syslogMessage(line []byte) []byte {
	head := line[:min(len(line), 128)]
	if k := bytes.Index(head, []byte(": ")); k >= 0 {
		return line[k+2:]
	}
	return nil
}

// looksApacheError: "[Www Mmm dd hh:mm:ss[.micro] yyyy] [level] ..." (Apache 2.2) or
// "[... yyyy] [module:level] ..." (2.4), at the start of the line or of a syslog message.
func looksApacheError(line []byte) bool {
	return apacheErrorAt(line) || apacheErrorAt(syslogMessage(line))
}

func apacheErrorAt(b []byte) bool {
	if len(b) < 26 || b[0] != '[' || !isLetters(b[1:4]) || b[4] != ' ' || monthNumber(b[5:8]) == 0 || b[8] != ' ' {
		return false
	}
	end := bytes.IndexByte(b[:min(len(b), 40)], ']')
	return end >= 24 && bytes.HasPrefix(b[end+1:], []byte(" ["))
}

// looksNginxError: "yyyy/mm/dd hh:mm:ss [level] pid#tid: ...", at the start of the
// line or of a syslog message.
func looksNginxError(line []byte) bool {
	return nginxErrorAt(line) || nginxErrorAt(syslogMessage(line))
}

func nginxErrorAt(b []byte) bool {
	const layout = "dddd/dd/dd dd:dd:dd ["
	if len(b) < len(layout) {
		return false
	}
	for i := 0; i < len(layout); i++ {
		if layout[i] == 'd' && !isDigit(b[i]) || layout[i] != 'd' && b[i] != layout[i] {
			return false
		}
	}
	return true
}

func isLetters(b []byte) bool {
	for _, c := range b {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}
