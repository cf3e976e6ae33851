package schedule

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/apiguard/apiguard/shared/fault"
)

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// nextCase is an expression, a start, and the activations that must follow it, in order.
type nextCase struct {
	name, expr, from string
	want             []string
}

// nextCases is one table for the Next test and the fuzz seeds.
func nextCases() []nextCase {
	return []nextCase{
		{"every 5 minutes", "0 */5 * * * *", "2026-01-01T00:03:07Z",
			[]string{"2026-01-01T00:05:00Z", "2026-01-01T00:10:00Z", "2026-01-01T00:15:00Z"}},
		{"every 5 minutes from an activation", "0 */5 * * * *", "2026-01-01T00:05:00Z",
			[]string{"2026-01-01T00:10:00Z"}},
		{"every 5 minutes across midnight", "0 */5 * * * *", "2025-12-31T23:58:00.999Z",
			[]string{"2026-01-01T00:00:00Z", "2026-01-01T00:05:00Z"}},
		{"06:00 on the 1st across a year end", "0 0 6 1 * *", "2025-12-15T12:00:00Z",
			[]string{"2026-01-01T06:00:00Z", "2026-02-01T06:00:00Z", "2026-03-01T06:00:00Z"}},
		{"06:00 on the 1st, just before", "0 0 6 1 * *", "2026-01-01T05:59:59.999Z",
			[]string{"2026-01-01T06:00:00Z", "2026-02-01T06:00:00Z"}},
		{"06:00 on the 1st, start in another zone", "0 0 6 1 * *", "2026-01-01T06:30:00+01:00", // 05:30 UTC
			[]string{"2026-01-01T06:00:00Z"}},
		{"every 30 seconds", "*/30 * * * * *", "2026-01-01T10:00:00Z",
			[]string{"2026-01-01T10:00:30Z", "2026-01-01T10:01:00Z", "2026-01-01T10:01:30Z"}},
		{"every 30 seconds, fractional start", "*/30 * * * * *", "2026-01-01T10:00:29.5Z",
			[]string{"2026-01-01T10:00:30Z"}},
		{"list of seconds and minutes", "15,45 0,30 8 * * *", "2026-01-01T08:00:20Z",
			[]string{"2026-01-01T08:00:45Z", "2026-01-01T08:30:15Z", "2026-01-01T08:30:45Z", "2026-01-02T08:00:15Z"}},
		{"range with step, weekdays", "0 0 9-17/4 * * Mon-Fri", "2026-01-02T14:00:00Z", // a Friday
			[]string{"2026-01-02T17:00:00Z", "2026-01-05T09:00:00Z", "2026-01-05T13:00:00Z"}},
		{"n/step is n to the end", "0 5/20 * * * *", "2026-01-01T00:00:00Z",
			[]string{"2026-01-01T00:05:00Z", "2026-01-01T00:25:00Z", "2026-01-01T00:45:00Z", "2026-01-01T01:05:00Z"}},
		{"month names", "0 0 0 1 jan,JUL *", "2026-02-01T00:00:00Z",
			[]string{"2026-07-01T00:00:00Z", "2027-01-01T00:00:00Z"}},
		{"7 is Sunday", "0 0 12 * * 7", "2026-01-01T00:00:00Z", // Jan 4 2026 is a Sunday
			[]string{"2026-01-04T12:00:00Z", "2026-01-11T12:00:00Z"}},
		{"five fields: second 0", "*/15 * * * *", "2026-01-01T00:00:01Z",
			[]string{"2026-01-01T00:15:00Z", "2026-01-01T00:30:00Z"}},
		{"February 29", "0 0 0 29 Feb *", "2026-01-01T00:00:00Z",
			[]string{"2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"}},
		{"day 31 skips short months", "0 0 0 31 * *", "2026-01-31T00:00:00Z",
			[]string{"2026-03-31T00:00:00Z", "2026-05-31T00:00:00Z"}},
		{"day and weekday both restricted: both must match", "0 0 0 13 * Fri", "2026-01-01T00:00:00Z",
			[]string{"2026-02-13T00:00:00Z", "2026-03-13T00:00:00Z", "2026-11-13T00:00:00Z"}},
	}
}

func TestNext(t *testing.T) {
	for _, tc := range nextCases() {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse(tc.expr)
			if err != nil {
				t.Fatal(err)
			}
			cur := at(tc.from)
			for i, w := range tc.want {
				got := s.Next(cur)
				if !got.Equal(at(w)) || got.Location() != time.UTC {
					t.Fatalf("activation %d after %s = %s, want %s (UTC)", i+1, cur.Format(time.RFC3339Nano), got.Format(time.RFC3339), w)
				}
				cur = got
			}
		})
	}
}

// matches is the definition Next must agree with, checked one second at a time.
func (s Schedule) matches(t time.Time) bool {
	return s.second&(1<<t.Second()) != 0 && s.minute&(1<<t.Minute()) != 0 && s.hour&(1<<t.Hour()) != 0 &&
		s.day&(1<<t.Day()) != 0 && s.month&(1<<t.Month()) != 0 && s.weekday&(1<<t.Weekday()) != 0
}

// bruteNext steps second by second for up to horizon; ok is false when nothing matched.
func (s Schedule) bruteNext(after time.Time, horizon time.Duration) (time.Time, bool) {
	t := after.UTC().Truncate(time.Second)
	for end := t.Add(horizon); t.Before(end); {
		t = t.Add(time.Second)
		if s.matches(t) {
			return t, true
		}
	}
	return time.Time{}, false
}

func TestNextAgreesWithBruteForce(t *testing.T) {
	exprs := []string{"*/7 */3 * * * *", "59 59 23 * * *", "0 0 * * * Sat,Sun", "1-5,50-55/2 * 0-1 * * *", "0 */5 * * * *", "0 0 6 1 * *"}
	for _, expr := range exprs {
		s, err := Parse(expr)
		if err != nil {
			t.Fatal(err)
		}
		cur := at("2025-12-31T22:17:31.4Z")
		for range 20 {
			want, ok := s.bruteNext(cur, 72*time.Hour)
			got := s.Next(cur)
			if ok && !got.Equal(want) || !ok && got.Before(cur.Add(72*time.Hour)) {
				t.Fatalf("%s: Next(%s) = %s, brute force says %s (found %v)", expr, cur, got, want, ok)
			}
			if !ok {
				break
			}
			cur = got
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		expr, field, want string
	}{
		{"0 0 6 1 * * *", "", `schedule "0 0 6 1 * * *": got 7 fields, want 6 ({second} {minute} {hour} {day} {month} {day-of-week}) or 5 (minute first)`},
		{"* * * *", "", `schedule "* * * *": got 4 fields, want 6`},
		{"", "", `schedule "": got 0 fields`},
		{"60 * * * * *", "second", `schedule "60 * * * * *": second field "60": 60 is out of range 0-59`},
		{"0 61 * * * *", "minute", `minute field "61": 61 is out of range 0-59`},
		{"0 0 24 * * *", "hour", `hour field "24": 24 is out of range 0-23`},
		{"0 0 0 0 * *", "day", `day field "0": 0 is out of range 1-31`},
		{"0 0 0 1 13 *", "month", `month field "13": 13 is out of range 1-12`},
		{"0 0 0 * * 8", "day-of-week", `day-of-week field "8": 8 is out of range 0-7`},
		{"*/0 * * * * *", "second", `second field "*/0": step "0" is not a whole number of at least 1`},
		{"0 */x * * * *", "minute", `minute field "*/x": step "x" is not a whole number of at least 1`},
		{"0 1-5/ * * * *", "minute", `minute field "1-5/": step "" is not a whole number of at least 1`},
		{"0 */+5 * * * *", "minute", `step "+5" is not a whole number of at least 1`},
		{"0 */5/2 * * * *", "minute", `step "5/2" is not a whole number of at least 1`},
		{"0 0 17-9 * * *", "hour", `hour field "17-9": range start 17 is after its end 9`},
		{"0 0 0 1 Foo *", "month", `month field "Foo": "Foo" is neither a number nor one of jan, feb`},
		{"0 0 0 * * Monday", "day-of-week", `"Monday" is neither a number nor one of sun, mon`},
		{"0 0 0 Mon * *", "day", `day field "Mon": "Mon" is not a number`},
		{"0 1,,2 * * * *", "minute", `minute field "": empty list item`},
		{"0 -5 * * * *", "minute", `minute field "-5": missing value`},
		{"0 0 0 30,31 Feb *", "day", `day field "30,31": no listed day exists in any listed month (Feb), so the schedule never fires`},
	} {
		t.Run(tc.expr, func(t *testing.T) {
			_, err := Parse(tc.expr)
			if err == nil {
				t.Fatalf("Parse(%q): want an error", tc.expr)
			}
			if fault.Of(err) != fault.Reject || fault.StatusOf(err) != http.StatusBadRequest {
				t.Errorf("error %q is not a 400 rejection", err)
			}
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Field != tc.field || pe.Expr != tc.expr {
				t.Errorf("ParseError = %+v, want field %q of %q", pe, tc.field, tc.expr)
			}
			if got := err.Error(); !strings.Contains(got, tc.want) {
				t.Errorf("error\n got %s\nwant ...%s...", got, tc.want)
			}
		})
	}
}

func TestString(t *testing.T) {
	for in, want := range map[string]string{
		"0 */5 * * * *":        "0 */5 * * * *",
		"*/5 * * * *":          "0 */5 * * * *",
		"  0\t0 6  1 * *  ":    "0 0 6 1 * *",
		"0 0 9-17 * * mon-FRI": "0 0 9-17 * * mon-FRI",
	} {
		s, err := Parse(in)
		if err != nil {
			t.Fatal(err)
		}
		if s.String() != want {
			t.Errorf("Parse(%q).String() = %q, want %q", in, s.String(), want)
		}
		if again, err := Parse(s.String()); err != nil || again != s {
			t.Errorf("Parse(String()) of %q: %v, %v", in, again, err)
		}
	}
}

func TestZeroScheduleNeverFires(t *testing.T) {
	if got := (Schedule{}).Next(at("2026-01-01T00:00:00Z")); !got.IsZero() {
		t.Errorf("zero Schedule fired at %s", got)
	}
}

func FuzzParse(f *testing.F) {
	for _, tc := range nextCases() {
		f.Add(tc.expr)
	}
	f.Add("0 0 0 30 Feb *")
	f.Add("1-5,50-55/2 * 0-1 * * *")
	start := at("2026-01-01T00:00:00.5Z")
	f.Fuzz(func(t *testing.T, expr string) {
		s, err := Parse(expr)
		if err != nil {
			if fault.Of(err) != fault.Reject {
				t.Errorf("Parse(%q): error %q is not a rejection", expr, err)
			}
			return
		}
		if again, err := Parse(s.String()); err != nil || again != s {
			t.Errorf("Parse(%q).String() = %q does not parse back: %v", expr, s.String(), err)
		}
		prev := start
		for i := range 3 {
			next := s.Next(prev)
			if !next.After(prev) {
				t.Fatalf("Parse(%q): activation %d %s is not after %s", expr, i+1, next, prev)
			}
			if !s.matches(next) {
				t.Fatalf("Parse(%q): activation %s does not match the schedule", expr, next)
			}
			prev = next
		}
		// Within an hour, Next must find exactly what a second-by-second search finds.
		if want, ok := s.bruteNext(start, time.Hour); ok {
			if got := s.Next(start); !got.Equal(want) {
				t.Errorf("Parse(%q): Next = %s, brute force = %s", expr, got, want)
			}
		}
	})
}

func BenchmarkNext(b *testing.B) {
	s, err := Parse("0 0 0 13 * Fri")
	if err != nil {
		b.Fatal(err)
	}
	from := at("2026-01-01T00:00:00Z")
	for b.Loop() {
		from = s.Next(from)
	}
}
