// Package schedule parses the NCRONTAB expressions of timer triggers and computes their
// activations, so that apiguard can validate a function.json schedule and tell when a
// timer should next (or should last) have fired.
//
// It follows NCrontab, the library the Functions host uses, rather than Vixie cron where
// the two differ: see Schedule.Next for day matching and Parse for "n/step".
package schedule

import (
	"fmt"
	"math/bits"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/apiguard/apiguard/shared/fault"
)

// Schedule is a parsed NCRONTAB expression: one bit set per field, bit n meaning value n
// is allowed. The zero Schedule never fires.
type Schedule struct {
	second, minute uint64 // bits 0-59
	hour           uint32 // bits 0-23
	day            uint32 // bits 1-31
	month          uint16 // bits 1-12
	weekday        uint8  // bits 0-6, Sunday = 0
	expr           string // the six fields, single-spaced
}

// ParseError says which field of which expression is wrong, for callers that report it
// next to a function.json or an app setting.
type ParseError struct {
	Expr   string // the expression as given
	Field  string // "second", "minute", "hour", "day", "month", "day-of-week"; "" for the whole
	Value  string // the offending part of the field
	Reason string
}

func (e *ParseError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("schedule %q: %s", e.Expr, e.Reason)
	}
	return fmt.Sprintf("schedule %q: %s field %q: %s", e.Expr, e.Field, e.Value, e.Reason)
}

// field describes one position of the expression.
type field struct {
	name     string
	min, max int
	names    []string // value names from min up, matched case-insensitively; nil if none
}

// fields returns the six fields in order. A function rather than a package variable so
// that nothing global can be changed.
func fields() [6]field {
	return [6]field{
		{name: "second", min: 0, max: 59},
		{name: "minute", min: 0, max: 59},
		{name: "hour", min: 0, max: 23},
		{name: "day", min: 1, max: 31},
		{name: "month", min: 1, max: 12, names: []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}},
		// 7 is Sunday too, folded onto 0 after parsing; names cover 0-6 only.
		{name: "day-of-week", min: 0, max: 7, names: []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}},
	}
}

// Parse reads an NCRONTAB expression: six fields, {second} {minute} {hour} {day} {month}
// {day-of-week}, or five (minute first) with the second taken as 0. Each field is a
// comma-separated list of *, n, a-b, */s, a-b/s or n/s; n/s means n-max/s, as in
// NCrontab. Months may be Jan..Dec and days Sun..Sat, in any case; day-of-week 7 is
// Sunday like 0. A schedule that can never fire (day 30 of February) is refused rather
// than left to spin. Errors are fault.Rejected (400) wrapping a *ParseError.
func Parse(expr string) (Schedule, error) {
	parts := strings.Fields(expr)
	switch len(parts) {
	case 6:
	case 5:
		parts = append([]string{"0"}, parts...)
	default:
		return Schedule{}, reject(&ParseError{Expr: expr,
			Reason: fmt.Sprintf("got %d fields, want 6 ({second} {minute} {hour} {day} {month} {day-of-week}) or 5 (minute first)", len(parts))})
	}
	var sets [6]uint64
	for i, f := range fields() {
		set, err := f.parse(parts[i])
		if err != nil {
			err.Expr = expr
			return Schedule{}, reject(err)
		}
		sets[i] = set
	}
	s := Schedule{
		second:  sets[0],
		minute:  sets[1],
		hour:    uint32(sets[2]),
		day:     uint32(sets[3]),
		month:   uint16(sets[4]),
		weekday: uint8(sets[5]&0x7f | sets[5]>>7), // 7 -> Sunday
		expr:    strings.Join(parts, " "),
	}
	if !s.dayExists() {
		return Schedule{}, reject(&ParseError{Expr: expr, Field: "day", Value: parts[3],
			Reason: "no listed day exists in any listed month (" + parts[4] + "), so the schedule never fires"})
	}
	return s, nil
}

func reject(e *ParseError) error { return fault.Rejected(http.StatusBadRequest, e) }

// longestMonth is the most days month m ever has (February 29 in leap years).
func longestMonth(m int) int {
	switch m {
	case 2:
		return 29
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// dayExists reports whether some allowed day occurs in some allowed month. Every calendar
// date falls on every weekday within a 400-year cycle, so that is enough for Next to
// find an activation.
func (s Schedule) dayExists() bool {
	for m := 1; m <= 12; m++ {
		if s.month&(1<<m) != 0 && s.day&(1<<(longestMonth(m)+1)-1) != 0 {
			return true
		}
	}
	return false
}

// parse reads one field into a bit set.
func (f field) parse(text string) (uint64, *ParseError) {
	var set uint64
	for item := range strings.SplitSeq(text, ",") {
		bitsOf, reason := f.parseItem(item)
		if reason != "" {
			return 0, &ParseError{Field: f.name, Value: item, Reason: reason}
		}
		set |= bitsOf
	}
	return set, nil
}

// parseItem reads one list item: *, n, a-b, optionally followed by /step.
func (f field) parseItem(item string) (uint64, string) {
	if item == "" {
		return 0, "empty list item"
	}
	base, stepText, hasStep := strings.Cut(item, "/")
	step := 1
	if hasStep {
		n, err := strconv.Atoi(stepText)
		if err != nil || n < 1 || !isDigits(stepText) {
			return 0, fmt.Sprintf("step %q is not a whole number of at least 1", stepText)
		}
		step = n
	}
	var lo, hi int
	switch a, b, isRange := strings.Cut(base, "-"); {
	case base == "*":
		lo, hi = f.min, f.max
	case isRange:
		var reason string
		if lo, reason = f.value(a); reason != "" {
			return 0, reason
		}
		if hi, reason = f.value(b); reason != "" {
			return 0, reason
		}
		if lo > hi {
			return 0, fmt.Sprintf("range start %d is after its end %d", lo, hi)
		}
	default:
		var reason string
		if lo, reason = f.value(base); reason != "" {
			return 0, reason
		}
		hi = lo
		if hasStep {
			hi = f.max // NCrontab: n/s means from n to the end, every s
		}
	}
	var set uint64
	for v := lo; v <= hi; v += step {
		set |= 1 << v
	}
	return set, ""
}

// value reads one number or name and checks it against the field's range.
func (f field) value(text string) (int, string) {
	if text == "" {
		return 0, "missing value"
	}
	for i, name := range f.names {
		if strings.EqualFold(text, name) {
			return f.min + i, ""
		}
	}
	n, err := strconv.Atoi(text)
	if err != nil || !isDigits(text) {
		if f.names != nil {
			return 0, fmt.Sprintf("%q is neither a number nor one of %s", text, strings.Join(f.names, ", "))
		}
		return 0, fmt.Sprintf("%q is not a number", text)
	}
	if n < f.min || n > f.max {
		return 0, fmt.Sprintf("%d is out of range %d-%d", n, f.min, f.max)
	}
	return n, ""
}

// isDigits refuses the signs and spaces strconv.Atoi would accept.
func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// searchYears bounds Next: the Gregorian calendar repeats every 400 years, so a
// schedule with no activation within 401 years has none at all.
const searchYears = 401

// Next returns the first activation strictly after after, in UTC (Linux Consumption and
// Flex plans ignore WEBSITE_TIME_ZONE, so schedules are UTC). Sub-second parts of after
// are dropped before stepping on.
//
// Day matching follows NCrontab, which the host uses: a day must match both the day
// field and the day-of-week field. Vixie cron fires when either matches if both are
// restricted; with NCrontab "0 0 0 13 * Fri" is Friday the 13th only.
//
// Next returns the zero Time when there is no activation (the zero Schedule, or an
// instant near the end of time.Time's range).
func (s Schedule) Next(after time.Time) time.Time {
	t := after.UTC().Truncate(time.Second).Add(time.Second)
	limit := t.Year() + searchYears
	for t.Year() <= limit {
		y, mo, d := t.Date()
		h, mi, sec := t.Clock()
		if s.month&(1<<mo) == 0 {
			t = time.Date(y, mo+1, 1, 0, 0, 0, 0, time.UTC)
			continue
		}
		if s.day&(1<<d) == 0 || s.weekday&(1<<t.Weekday()) == 0 {
			t = time.Date(y, mo, d+1, 0, 0, 0, 0, time.UTC)
			continue
		}
		next, ok := nextBit(uint64(s.hour), h)
		if !ok {
			t = time.Date(y, mo, d+1, 0, 0, 0, 0, time.UTC)
			continue
		}
		if next != h {
			t = time.Date(y, mo, d, next, 0, 0, 0, time.UTC)
			continue
		}
		if next, ok = nextBit(s.minute, mi); !ok {
			t = time.Date(y, mo, d, h+1, 0, 0, 0, time.UTC)
			continue
		}
		if next != mi {
			t = time.Date(y, mo, d, h, next, 0, 0, time.UTC)
			continue
		}
		if next, ok = nextBit(s.second, sec); !ok {
			t = time.Date(y, mo, d, h, mi+1, 0, 0, time.UTC)
			continue
		}
		return time.Date(y, mo, d, h, mi, next, 0, time.UTC)
	}
	return time.Time{}
}

// nextBit returns the lowest set bit of set at or above from.
func nextBit(set uint64, from int) (int, bool) {
	rest := set >> from << from
	if rest == 0 {
		return 0, false
	}
	return bits.TrailingZeros64(rest), true
}

// String returns the expression in six fields, single-spaced: a five-field expression
// gains its leading "0". Parse(s.String()) gives s back.
func (s Schedule) String() string { return s.expr }
