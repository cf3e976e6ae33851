package record

import (
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// keyCases feed the escaping test and the fuzz seed corpus.
var keyCases = []struct{ in, want string }{
	{"203.0.113.7", "203.0.113.7"},
	{"203.0.113.0/24", "203.0.113.0%2F24"},
	{"2001:db8::/32", "2001:db8::%2F32"},
	{"2001:db8::1", "2001:db8::1"},
	{"/subscriptions/abc/resourceGroups/rg", "%2Fsubscriptions%2Fabc%2FresourceGroups%2Frg"},
	{`user:CONTOSO\alice`, "user:CONTOSO%5Calice"},
	{"api#1?x=1", "api%231%3Fx=1"},
	{"100%", "100%25"},
	{"o'brien", "o%27brien"},
	{"tab\there\x7f\u0085", "tab%09here%7F%C2%85"},
	{"bad\xffutf8", "bad%FFutf8"},
	{"ünïcødé", "ünïcødé"},
	{"", ""},
}

func TestEscapeKey(t *testing.T) {
	for _, c := range keyCases {
		got := escapeKey(c.in)
		if got != c.want {
			t.Errorf("escapeKey(%q) = %q, want %q", c.in, got, c.want)
		}
		if back := unescapeKey(got); back != c.in {
			t.Errorf("unescapeKey(%q) = %q, want %q", got, back, c.in)
		}
	}
}

func FuzzEscapeKey(f *testing.F) {
	for _, c := range keyCases {
		f.Add(c.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		esc := escapeKey(s)
		if back := unescapeKey(esc); back != s {
			t.Fatalf("round trip %q -> %q -> %q", s, esc, back)
		}
		if !utf8.ValidString(esc) {
			t.Fatalf("escaped key %q is not valid UTF-8", esc)
		}
		for _, r := range esc {
			if forbiddenInKey(r, utf8.RuneLen(r)) && r != '%' {
				t.Fatalf("escaped key %q still holds %q", esc, r)
			}
		}
	})
}

func TestUnescapeKeyKeepsMalformedEscapes(t *testing.T) {
	for _, s := range []string{"%", "%2", "%zz", "a%2"} {
		if got := unescapeKey(s); got != s {
			t.Errorf("unescapeKey(%q) = %q", s, got)
		}
	}
}

func TestRowTimeSortsAsTime(t *testing.T) {
	times := []time.Time{
		{},
		time.Date(999, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC),
		time.Date(2026, 11, 23, 12, 0, 0, 1, time.UTC),
		time.Date(2026, 11, 23, 12, 0, 0, 100, time.UTC),
		time.Date(2026, 11, 23, 13, 0, 0, 0, time.FixedZone("CET", 3600)).Add(time.Second), // 12:00:01 UTC
	}
	for i := 1; i < len(times); i++ {
		a, b := rowTime(times[i-1]), rowTime(times[i])
		if len(a) != len(rowTimeLayout) || len(b) != len(rowTimeLayout) {
			t.Fatalf("not fixed width: %q %q", a, b)
		}
		if a >= b {
			t.Errorf("rowTime(%v)=%q not before rowTime(%v)=%q", times[i-1], a, times[i], b)
		}
	}
	tm := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	got, id, ok := splitTimedRowKey(timedRowKey(tm, "inc/1-x"))
	if !ok || !got.Equal(tm) || id != "inc/1-x" {
		t.Errorf("splitTimedRowKey = %v %q %v", got, id, ok)
	}
}

func TestCheckKeyRejectsOverlongAndEmpty(t *testing.T) {
	if err := checkKey("x", ""); err == nil {
		t.Error("empty key accepted")
	}
	if err := checkKey("x", strings.Repeat("a", maxKeyLen+1)); err == nil {
		t.Error("overlong key accepted")
	}
	if err := checkKey("x", strings.Repeat("a", maxKeyLen)); err != nil {
		t.Errorf("key at the limit rejected: %v", err)
	}
}

func TestCompareKeysIsUTF16Order(t *testing.T) {
	keys := []string{"", "a", "Z", "a b", "ab", "é", "\u00ff", "\uE000", "\uFFFD", "\U0001F600", "\U0001F601", "\U00010000", "x\U0001F600", "x\uE000", "203.0.113.0", "203.0.113.0%2F24"}
	for _, a := range keys {
		for _, b := range keys {
			want := slices.Compare(utf16.Encode([]rune(a)), utf16.Encode([]rune(b)))
			if got := compareKeys(a, b); (got > 0) != (want > 0) || (got < 0) != (want < 0) {
				t.Errorf("compareKeys(%q, %q) = %d, want the sign of %d", a, b, got, want)
			}
		}
	}
}
