package record

import (
	"cmp"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/apiguard/apiguard/shared/fault"
)

// Key layouts. They are part of the stored format: changing one orphans existing rows.
const (
	// dayLayout names a day partition; it sorts lexically in time order.
	dayLayout = "2006-01-02"
	// rowTimeLayout is fixed width (always nine fraction digits, UTC) so that
	// string order of row keys is time order and "since T" is a RowKey range.
	rowTimeLayout = "2006-01-02T15:04:05.000000000Z"
	// undatedPartition holds incidents whose alert carried no time.
	undatedPartition = "undated"
	// maxKeyLen is Table Storage's limit for a PartitionKey or RowKey (1 KiB of UTF-16).
	maxKeyLen = 512
)

// escapeKey makes s usable as a PartitionKey or RowKey. Table Storage forbids
// / \ # ? and control characters in keys; ' is doubled by aztables into the request
// body as well as the URL, which would store a different key; % is escaped so
// that decoding is exact. Everything else, including non-ASCII, is kept, so keys
// stay readable in Storage Explorer (203.0.113.0/24 -> 203.0.113.0%2F24).
func escapeKey(s string) string {
	if !needsEscape(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if forbiddenInKey(r, size) {
			// Escape the bytes, not the rune: an invalid UTF-8 byte (which JSON could
			// not carry) comes back exactly as it was.
			for _, c := range []byte(s[i : i+size]) {
				fmt.Fprintf(&b, "%%%02X", c)
			}
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func needsEscape(s string) bool {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if forbiddenInKey(r, size) {
			return true
		}
		i += size
	}
	return false
}

func forbiddenInKey(r rune, size int) bool {
	switch {
	case r == '/' || r == '\\' || r == '#' || r == '?' || r == '%' || r == '\'':
		return true
	case r < 0x20 || (r >= 0x7f && r <= 0x9f):
		return true
	case r == utf8.RuneError && size == 1:
		return true
	}
	return false
}

// unescapeKey reverses escapeKey. Malformed escapes are kept verbatim rather than
// failing a read: a row written by hand is still listed.
func unescapeKey(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if ok1 && ok2 {
				b = append(b, hi<<4|lo)
				i += 2
				continue
			}
		}
		b = append(b, s[i])
	}
	return string(b)
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// checkKey rejects keys Table Storage would refuse, before any I/O, so that the
// caller gets a rejection instead of a retried 400.
func checkKey(what, escaped string) error {
	if escaped == "" {
		return fault.Rejected(0, fmt.Errorf("record: empty %s", what))
	}
	if n := utf16Len(escaped); n > maxKeyLen {
		return fault.Rejected(0, fmt.Errorf("record: %s is %d characters escaped; the limit is %d", what, n, maxKeyLen))
	}
	return nil
}

// dayPartition is the UTC day of t, or "undated" for the zero time.
func dayPartition(t time.Time) string {
	if t.IsZero() {
		return undatedPartition
	}
	return t.UTC().Format(dayLayout)
}

// rowTime is t as a fixed-width sortable key prefix.
func rowTime(t time.Time) string {
	return t.UTC().Format(rowTimeLayout)
}

// parseRowTime reads the time back from the start of a row key.
func parseRowTime(rk string) (time.Time, bool) {
	if len(rk) < len(rowTimeLayout) {
		return time.Time{}, false
	}
	t, err := time.Parse(rowTimeLayout, rk[:len(rowTimeLayout)])
	return t, err == nil
}

// timedRowKey is "<fixed-width time>-<escaped id>": time-ordered within a
// partition, unique per id, and the same on a retried write.
func timedRowKey(t time.Time, id string) string {
	return rowTime(t) + "-" + escapeKey(id)
}

// splitTimedRowKey reverses timedRowKey.
func splitTimedRowKey(rk string) (time.Time, string, bool) {
	t, ok := parseRowTime(rk)
	if !ok || len(rk) < len(rowTimeLayout)+1 || rk[len(rowTimeLayout)] != '-' {
		return time.Time{}, "", false
	}
	return t, unescapeKey(rk[len(rowTimeLayout)+1:]), true
}

// rowRange is the rows a list reads: PartitionKey from pkFrom to pkTo, both
// included (one partition when they are equal), and RowKey from rkFrom, included,
// to rkTo, excluded; an empty RowKey bound is open. eq keeps only the rows whose
// string properties equal the values given. The Table store sends it as a
// $filter and Memory scans it, so the two read the same rows.
type rowRange struct {
	pkFrom, pkTo, rkFrom, rkTo string
	eq                         []propEq
}

// propEq is a string property's required value. A row without the property does
// not match, on the service as in Memory.
type propEq struct{ name, value string }

// partition is the range of every row of partition pk.
func partition(pk string) rowRange { return rowRange{pkFrom: pk, pkTo: pk} }

// filter is r as an OData $filter.
func (r rowRange) filter() string {
	var parts []string
	if r.pkFrom == r.pkTo {
		parts = append(parts, "PartitionKey eq "+odataString(r.pkFrom))
	} else {
		parts = append(parts, "PartitionKey ge "+odataString(r.pkFrom), "PartitionKey le "+odataString(r.pkTo))
	}
	if r.rkFrom != "" {
		parts = append(parts, "RowKey ge "+odataString(r.rkFrom))
	}
	if r.rkTo != "" {
		parts = append(parts, "RowKey lt "+odataString(r.rkTo))
	}
	for _, p := range r.eq {
		parts = append(parts, p.name+" eq "+odataString(p.value))
	}
	return strings.Join(parts, " and ")
}

// matches tells whether e's properties satisfy r.eq.
func (r rowRange) matches(e *entity) bool {
	for _, p := range r.eq {
		if v, ok := e.props[p.name].(string); !ok || v != p.value {
			return false
		}
	}
	return true
}

// holdsPartition and holdsRow tell whether a key lies in r, comparing as the service does.
func (r rowRange) holdsPartition(pk string) bool {
	return compareKeys(pk, r.pkFrom) >= 0 && compareKeys(pk, r.pkTo) <= 0
}

func (r rowRange) holdsRow(rk string) bool {
	return (r.rkFrom == "" || compareKeys(rk, r.rkFrom) >= 0) && (r.rkTo == "" || compareKeys(rk, r.rkTo) < 0)
}

// compareKeys orders keys by UTF-16 code units, as Azurite sorts and compares them
// (Table Storage keys are UTF-16 strings). That is Go's byte order except where a
// character above U+FFFF meets one in U+E000..U+FFFF: its surrogates sort first.
func compareKeys(a, b string) int {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	if i == len(a) || i == len(b) {
		return len(a) - len(b)
	}
	for i > 0 && !utf8.RuneStart(a[i]) {
		i-- // back to the start of the character in which they differ
	}
	ra, _ := utf8.DecodeRuneInString(a[i:])
	rb, _ := utf8.DecodeRuneInString(b[i:])
	// In UTF-16 a character above U+FFFF starts with a surrogate (U+D800..DBFF),
	// which no character up to U+FFFF equals; two above U+FFFF compare as code points.
	switch {
	case ra > 0xFFFF && rb <= 0xFFFF:
		ra = 0xD800
	case rb > 0xFFFF && ra <= 0xFFFF:
		rb = 0xD800
	}
	return cmp.Compare(ra, rb)
}

// odataString quotes s as an OData string literal.
func odataString(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// odataTime is t as an OData datetime literal at Edm.DateTime precision.
func odataTime(t time.Time) string {
	return "datetime'" + t.UTC().Format("2006-01-02T15:04:05.0000000Z") + "'"
}

// utf16Len counts s the way Table Storage measures strings and keys.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}

// rejectf is a caller error found before any I/O: retrying cannot help.
func rejectf(format string, args ...any) error {
	return fault.Rejected(0, fmt.Errorf("record: "+format, args...))
}
