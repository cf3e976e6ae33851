package traffic

import (
	"math"
	"strconv"
	"time"
)

// Times are parsed by hand on the hot path: the layouts Azure writes (RFC 3339 with
// 0-7 fraction digits, "Z" or an offset; Log Analytics' space-separated form) and the
// combined log's [02/Jan/2006:15:04:05 -0700]. Results are UTC; years outside
// 1970-9999 are refused, so a record's Time is never the zero time.

const (
	minYear = 1970
	maxYear = 9999
)

// parseISOTime reads YYYY-MM-DD[T ]hh:mm:ss[.fraction][Z|±hh:mm|±hhmm|±hh]; no zone
// means UTC. Fractions beyond nanoseconds are truncated.
func parseISOTime(b []byte) (time.Time, bool) {
	if len(b) < 19 || b[4] != '-' || b[7] != '-' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	if c := b[10]; c != 'T' && c != 't' && c != ' ' {
		return time.Time{}, false
	}
	year, ok1 := digits(b[0:4])
	month, ok2 := digits(b[5:7])
	day, ok3 := digits(b[8:10])
	hour, ok4 := digits(b[11:13])
	minute, ok5 := digits(b[14:16])
	sec, ok6 := digits(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) {
		return time.Time{}, false
	}
	i, nsec := 19, 0
	if i < len(b) && (b[i] == '.' || b[i] == ',') {
		i++
		start := i
		scale := 100_000_000
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			nsec += int(b[i]-'0') * scale
			scale /= 10
		}
		if i == start {
			return time.Time{}, false
		}
	}
	offset := 0
	if i < len(b) {
		switch b[i] {
		case 'Z', 'z':
			i++
		case '+', '-':
			off, n, ok := zoneOffset(b[i:], true)
			if !ok {
				return time.Time{}, false
			}
			offset, i = off, i+n
		default:
			return time.Time{}, false
		}
	}
	if i != len(b) {
		return time.Time{}, false
	}
	return makeTime(year, month, day, hour, minute, sec, nsec, offset)
}

// zoneOffset reads ±hh[:]mm (or ±hh when short is allowed) and returns seconds east of
// UTC and the bytes used.
func zoneOffset(b []byte, short bool) (int, int, bool) {
	sign := 1
	if b[0] == '-' {
		sign = -1
	}
	var hh, mm int
	var ok1, ok2 bool
	n := 0
	switch {
	case len(b) == 6 && b[3] == ':':
		hh, ok1 = digits(b[1:3])
		mm, ok2 = digits(b[4:6])
		n = 6
	case len(b) == 5:
		hh, ok1 = digits(b[1:3])
		mm, ok2 = digits(b[3:5])
		n = 5
	case len(b) == 3 && short:
		hh, ok1 = digits(b[1:3])
		ok2 = true
		n = 3
	}
	if !ok1 || !ok2 || hh > 23 || mm > 59 {
		return 0, 0, false
	}
	return sign * (hh*3600 + mm*60), n, true
}

// parseCLFTime reads the combined log's 02/Jan/2006:15:04:05 -0700 (the zone may be
// missing: UTC), or an ISO 8601 time ($time_iso8601).
func parseCLFTime(b []byte) (time.Time, bool) {
	if len(b) >= 19 && b[4] == '-' {
		return parseISOTime(b)
	}
	if len(b) < 20 || b[2] != '/' || b[6] != '/' || b[11] != ':' || b[14] != ':' || b[17] != ':' {
		return time.Time{}, false
	}
	day, ok1 := digits(b[0:2])
	month := monthNumber(b[3:6])
	year, ok2 := digits(b[7:11])
	hour, ok3 := digits(b[12:14])
	minute, ok4 := digits(b[15:17])
	sec, ok5 := digits(b[18:20])
	if !(ok1 && ok2 && ok3 && ok4 && ok5) || month == 0 {
		return time.Time{}, false
	}
	i, nsec := 20, 0
	if i < len(b) && b[i] == '.' { // some formats log milliseconds
		i++
		scale := 100_000_000
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			nsec += int(b[i]-'0') * scale
			scale /= 10
		}
	}
	offset := 0
	if i < len(b) {
		if b[i] != ' ' || i+1 >= len(b) || (b[i+1] != '+' && b[i+1] != '-') {
			return time.Time{}, false
		}
		off, n, ok := zoneOffset(b[i+1:], false)
		if !ok || i+1+n != len(b) {
			return time.Time{}, false
		}
		offset = off
	}
	return makeTime(year, month, day, hour, minute, sec, nsec, offset)
}

func makeTime(year, month, day, hour, minute, sec, nsec, offset int) (time.Time, bool) {
	if year < minYear || year > maxYear || month < 1 || month > 12 || day < 1 ||
		day > daysIn(month, year) || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	// time.Date does this and more (normalising out-of-range fields, zones); the
	// fields are checked above, the zone is UTC plus an offset.
	unix := daysFromCivil(year, month, day)*86400 + int64(hour*3600+minute*60+sec-offset)
	if unix < 0 || unix >= maxUnix { // the year, after the offset, is outside 1970-9999
		return time.Time{}, false
	}
	return time.Unix(unix, int64(nsec)).UTC(), true
}

// maxUnix is the Unix time of 10000-01-01T00:00:00Z.
const maxUnix = 253402300800

// daysFromCivil is the number of days from 1970-01-01 to the date (proleptic
// Gregorian; year at least 1), counting in 400-year eras from a year that starts in
// March so that the leap day is the last day of a year.
func daysFromCivil(year, month, day int) int64 {
	if month <= 2 {
		year--
	}
	era := year / 400
	yoe := year - era*400                     // 0-399
	doy := (153*((month+9)%12)+2)/5 + day - 1 // 0-365, from March 1st
	doe := yoe*365 + yoe/4 - yoe/100 + doy    // 0-146096
	return int64(era)*146097 + int64(doe) - 719468
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

var monthNames = [12]string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}

// monthNumber reads a three-letter English month name, any case; 0 when it is none.
func monthNumber(b []byte) int {
	if len(b) != 3 {
		return 0
	}
	c0, c1, c2 := b[0]|0x20, b[1]|0x20, b[2]|0x20
	for i, m := range monthNames {
		if c0 == m[0] && c1 == m[1] && c2 == m[2] {
			return i + 1
		}
	}
	return 0
}

// parseTime reads a JSON log's time: the fast path above, then the other layouts
// Azure exports write (portal CSV-style US dates).
func parseTime(b []byte) (time.Time, bool) {
	if t, ok := parseISOTime(b); ok {
		return t, true
	}
	if len(b) > 40 {
		return time.Time{}, false
	}
	s := string(b)
	for _, layout := range [...]string{"1/2/2006 15:04:05", "1/2/2006 3:04:05 PM", "1/2/2006, 3:04:05.000 PM"} {
		if t, err := time.Parse(layout, s); err == nil {
			if t = t.UTC(); t.Year() >= minYear && t.Year() <= maxYear {
				return t, true
			}
		}
	}
	return time.Time{}, false
}

// parseDuration reads a decimal count of units ("152", "0.034", "1.5e2"), as logs
// write latencies in milliseconds or seconds. Negative or unreadable values are 0.
func parseDuration(b []byte, unit time.Duration) time.Duration {
	if len(b) == 0 || b[0] == '-' {
		return 0
	}
	var whole, frac int64
	scale := int64(1)
	i := 0
	limit := int64(math.MaxInt64/unit) / 10
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		if whole > limit {
			return 0
		}
		whole = whole*10 + int64(b[i]-'0')
	}
	if i < len(b) && b[i] == '.' {
		for i++; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			if scale < 1e9 {
				frac = frac*10 + int64(b[i]-'0')
				scale *= 10
			}
		}
	}
	if i != len(b) {
		f, err := strconv.ParseFloat(string(b), 64)
		if err != nil || !(f >= 0) || f*float64(unit) > math.MaxInt64/2 {
			return 0
		}
		return time.Duration(f * float64(unit))
	}
	return time.Duration(whole)*unit + time.Duration(frac)*unit/time.Duration(scale)
}
