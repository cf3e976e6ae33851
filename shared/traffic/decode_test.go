package traffic

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apiguard/apiguard/shared/fault"
)

func TestDecodeRefusesWholeBatches(t *testing.T) {
	for _, c := range []struct {
		name   string
		data   string
		opts   Options
		status int
		want   string
	}{
		{"over the batch limit", strings.Repeat("x", 2000), Options{MaxBatchBytes: 1000}, http.StatusRequestEntityTooLarge, "over the limit of 1000"},
		{"unknown format option", "{}", Options{Format: "syslog"}, http.StatusBadRequest, `unknown log format "syslog"`},
		{"undetectable text", "hello\nworld\n", Options{}, http.StatusBadRequest, "neither JSON records nor a combined-format"},
		{"undetectable JSON", `{"a":1}` + "\n" + `{"b":2}`, Options{}, http.StatusBadRequest, "JSON of no known shape"},
		{"array of strings", `["a","b"]`, Options{}, http.StatusBadRequest, "neither JSON records"},
		{"Apache error log only", strings.Repeat("[Sun Dec 04 04:47:44.123 2005] [error] [client 1.2.3.4] Directory index forbidden\n", 30), Options{}, http.StatusBadRequest, "none of 30 lines is an access log line"},
		{"Apache error log, named", "[Sun Dec 04 04:47:44 2005] [error] [client 1.2.3.4] x\n", Options{}, http.StatusBadRequest, "line 1 is an Apache error-log line"},
		{"nginx error log, named", "\n2024/01/02 03:04:05 [error] 123#0: *1 open() failed\n", Options{}, http.StatusBadRequest, "line 2 is an nginx error-log line"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode([]byte(c.data), c.opts)
			if err == nil {
				t.Fatal("no error")
			}
			if fault.Of(err) != fault.Reject || fault.StatusOf(err) != c.status {
				t.Errorf("disposition %v status %d, want reject %d", fault.Of(err), fault.StatusOf(err), c.status)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not say %q", err, c.want)
			}
		})
	}
}

func TestDecodeBlank(t *testing.T) {
	for _, data := range []string{"", " \n\t\r\n", "\xef\xbb\xbf\n"} {
		b, err := Decode([]byte(data), Options{})
		if err != nil || len(b.Records) != 0 || len(b.SetAside) != 0 || b.Records == nil {
			t.Errorf("%q: %+v, %v", data, b, err)
		}
	}
}

func TestDetect(t *testing.T) {
	for _, c := range []struct {
		name string
		data string
		want Format
	}{
		{"diagnostic wrapper", `{"records":[{"time":"t","category":"GatewayLogs","properties":{}}]}`, FormatAPIMDiagnostic},
		{"diagnostic bare, no category", `{"time":"t","callerIpAddress":"1.2.3.4","properties":"{\"method\":\"GET\",\"url\":\"/\"}"}`, FormatAPIMDiagnostic},
		{"diagnostic, BOM and spaces", "\xef\xbb\xbf \n {\"records\": [ {\"operationName\": \"Microsoft.ApiManagement/GatewayLogs\", \"properties\": {}} ]}", FormatAPIMDiagnostic},
		{"log analytics row, same operation name", `[{"TimeGenerated":"t","OperationName":"Microsoft.ApiManagement/GatewayLogs","Method":"GET","Url":"/"}]`, FormatAPIMLogAnalytics},
		{"log analytics by Type", `{"Type":"ApiManagementGatewayLogs"}`, FormatAPIMLogAnalytics},
		{"log analytics NDJSON", "{\"TimeGenerated\":\"t\",\"Method\":\"GET\",\"Url\":\"/\"}\n{\"TimeGenerated\":\"t\"}", FormatAPIMLogAnalytics},
		{"appgw by category", `{"records":[{"category":"ApplicationGatewayAccessLog"}]}`, FormatAppGateway},
		{"appgw by properties", `{"time":"t","properties":{"clientIP":"1.2.3.4","httpStatus":200}}`, FormatAppGateway},
		{"appgw flat row", `{"Type":"AGWAccessLogs","ClientIp":"1.2.3.4"}`, FormatAppGateway},
		{"frontdoor by category", `{"records":[{"category":"FrontDoorAccessLog"}]}`, FormatFrontDoor},
		{"frontdoor classic category", `{"category":"FrontdoorAccessLog"}`, FormatFrontDoor},
		{"frontdoor by properties", `{"time":"t","properties":{"socketIp":"1.2.3.4"}}`, FormatFrontDoor},
		{"first records unknown, a later one tells", "{\"a\":1}\n{\"b\":2}\n{\"category\":\"FrontDoorAccessLog\"}", FormatFrontDoor},
		{"broken first line", "{\"a\":\n{\"category\":\"ApplicationGatewayAccessLog\"}", FormatAppGateway},
		{"combined", `1.2.3.4 - - [01/Jan/2024:00:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "-"`, FormatCombined},
		{"combined after an error log line", "[Thu Oct 13 12:24:49.880562 2022] [error] x\n" + `1.2.3.4 - - [01/Jan/2024:00:00:00 +0000] "GET / HTTP/1.1" 200 1`, FormatCombined},
		{"combined, malformed request", `1.2.3.4 - - [29/Jul/2023:10:26:07 -0700] "batman" 400 157 "-" "-"`, FormatCombined},
		{"combined after more error lines than a screenful", strings.Repeat("2024/01/02 03:04:05 [error] 123#0: *1 open() failed\n", 40) + `1.2.3.4 - - [01/Jan/2024:00:00:00 +0000] "GET / HTTP/1.1" 200 1`, FormatCombined},
		{"NDJSON after an error line", "2024/01/02 03:04:05 [error] 123#0: x\n" + `{"category":"FrontDoorAccessLog"}` + "\n", FormatFrontDoor},
		{"JSON of no known shape, then access lines", "{\"level\":\"info\"}\n{\"level\":\"warn\"}\n" + `1.2.3.4 - - [01/Jan/2024:00:00:00 +0000] "GET / HTTP/1.1" 200 1`, FormatCombined},
		{"pretty-printed document of no known shape, then access lines", "{\n\"a\": 1\n}\n" + `1.2.3.4 - - [01/Jan/2024:00:00:00 +0000] "GET / HTTP/1.1" 200 1`, FormatCombined},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := Detect([]byte(c.data))
			if err != nil || got != c.want {
				t.Errorf("Detect = %q, %v; want %q", got, err, c.want)
			}
		})
	}
}

// A record over the default 64 KiB limit is set aside in every layout; its
// neighbours decode.
func TestHugeRecord(t *testing.T) {
	small := func(n int) string {
		return fmt.Sprintf(`{"time":"2026-01-01T00:00:0%dZ","callerIpAddress":"192.0.2.%d","properties":{"method":"GET","url":"https://h/x/%d"}}`, n, n, n)
	}
	huge := `{"time":"2026-01-01T00:00:05Z","callerIpAddress":"192.0.2.5","properties":{"method":"GET","url":"https://h/x/5","pad":"` +
		strings.Repeat("ab", 40<<10) + `"}}`
	for name, data := range map[string]string{
		"wrapper": `{"records":[` + small(1) + "," + huge + "," + small(2) + `]}`,
		"ndjson":  small(1) + "\n" + huge + "\n" + small(2) + "\n",
		"array":   "[\n" + small(1) + ",\n" + huge + ",\n" + small(2) + "\n]",
	} {
		t.Run(name, func(t *testing.T) {
			b, err := Decode([]byte(data), Options{Format: FormatAPIMDiagnostic})
			if err != nil {
				t.Fatal(err)
			}
			checkBatch(t, b)
			if len(b.Records) != 2 || len(b.SetAside) != 1 || b.SetAside[0].Index != 1 ||
				!strings.Contains(b.SetAside[0].Reason, "over the limit of 65536") {
				t.Fatalf("records %d, set aside %+v", len(b.Records), b.SetAside)
			}
		})
	}
	t.Run("combined line", func(t *testing.T) {
		line := `1.2.3.4 - - [01/Jan/2024:00:00:00 +0000] "GET /x HTTP/1.1" 200 1 "-" "-"`
		long := `1.2.3.4 - - [01/Jan/2024:00:00:00 +0000] "GET /` + strings.Repeat("a", 70<<10) + ` HTTP/1.1" 200 1 "-" "-"`
		data := line + "\n" + long + "\n" + line + "\n"
		for _, b := range []Batch{mustDecode(t, data, Options{}), mustScan(t, data, Options{})} {
			if len(b.Records) != 2 || len(b.SetAside) != 1 || b.SetAside[0].Line != 2 || len(b.SetAside[0].Excerpt) != excerptLen {
				t.Fatalf("records %d, set aside %+v", len(b.Records), b.SetAside)
			}
		}
	})
}

func mustDecode(t *testing.T, data string, opts Options) Batch {
	t.Helper()
	b, err := Decode([]byte(data), opts)
	if err != nil {
		t.Fatal(err)
	}
	checkBatch(t, b)
	return b
}

func mustScan(t *testing.T, data string, opts Options) Batch {
	t.Helper()
	b, err := scanAll(bytes.NewReader([]byte(data)), opts)
	if err != nil {
		t.Fatal(err)
	}
	checkBatch(t, b)
	return b
}

// A Scanner line over MaxBatchBytes is set aside without being held whole.
func TestScannerLongLine(t *testing.T) {
	rec := `{"TimeGenerated":"2026-01-01T00:00:00Z","CallerIpAddress":"192.0.2.1","Method":"GET","Url":"/a"}`
	long := `{"TimeGenerated":"2026-01-01T00:00:00Z","Url":"` + strings.Repeat("x", 300<<10) + `"}`
	data := rec + "\n" + long + "\n" + rec
	b := mustScan(t, data, Options{MaxBatchBytes: 100 << 10})
	if len(b.Records) != 2 || len(b.SetAside) != 1 || !strings.Contains(b.SetAside[0].Reason, "over the limit of 102400") {
		t.Fatalf("records %d, set aside %+v", len(b.Records), b.SetAside)
	}
	s := NewScanner(strings.NewReader(data), Options{MaxBatchBytes: 100 << 10})
	for {
		if _, ok := s.Next(); !ok {
			break
		}
	}
	if cap(s.buf) > 200<<10 {
		t.Errorf("line buffer grew to %d bytes", cap(s.buf))
	}
	if r, a, d := s.Counts(); r != 2 || a != 1 || d != 0 {
		t.Errorf("counts %d %d %d", r, a, d)
	}
}

type failingReader struct{ data io.Reader }

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.data.Read(p)
	if errors.Is(err, io.EOF) {
		return n, errors.New("connection reset")
	}
	return n, err
}

func TestScannerErrors(t *testing.T) {
	line := `1.2.3.4 - - [01/Jan/2024:00:00:00 +0000] "GET /x HTTP/1.1" 200 1 "-" "-"` + "\n"
	s := NewScanner(&failingReader{strings.NewReader(line)}, Options{})
	n := 0
	for {
		if _, ok := s.Next(); !ok {
			break
		}
		n++
	}
	if n != 1 || fault.Of(s.Err()) != fault.Retry {
		t.Errorf("%d records, err %v", n, s.Err())
	}
	s = NewScanner(strings.NewReader("hello\n"), Options{})
	if _, ok := s.Next(); ok || fault.Of(s.Err()) != fault.Reject {
		t.Errorf("undetectable stream: err %v", s.Err())
	}
	s = NewScanner(strings.NewReader(line), Options{Format: "nope"})
	if _, ok := s.Next(); ok || fault.Of(s.Err()) != fault.Reject {
		t.Errorf("bad format: err %v", s.Err())
	}
}

// Many set-aside lines: the Scanner keeps at most maxPendingSetAside between calls.
func TestScannerBoundsSetAside(t *testing.T) {
	good := `1.2.3.4 - - [01/Jan/2024:00:00:00 +0000] "GET /x HTTP/1.1" 200 1 "-" "-"` + "\n"
	data := good + strings.Repeat(`1.2.3.4 - - [01/Jan/2024:00:00:00 +0000] "GET /x HTTP/1.1" abc 1`+"\n", 3000) + good
	s := NewScanner(strings.NewReader(data), Options{})
	for {
		if _, ok := s.Next(); !ok {
			break
		}
	}
	if got := len(s.SetAside()); got != maxPendingSetAside {
		t.Errorf("%d pending set-aside items", got)
	}
	if r, a, d := s.Counts(); r != 2 || a != 3000 || d != 3000-maxPendingSetAside {
		t.Errorf("counts %d %d %d", r, a, d)
	}
}

// Records do not alias the input: the caller may reuse its buffer.
func TestRecordsOwnTheirStrings(t *testing.T) {
	data := []byte(`{"records":[{"time":"2026-01-01T00:00:00Z","callerIpAddress":"192.0.2.1","properties":{"method":"GETX","url":"https://h/a/1?q=v","apiId":"api","userId":"u"}}]}`)
	b, err := Decode(data, Options{})
	if err != nil || len(b.Records) != 1 {
		t.Fatal(b, err)
	}
	for i := range data {
		data[i] = 'z'
	}
	r := b.Records[0]
	if r.Method != "GETX" || r.Path != "/a/1" || r.Query != "q=v" || r.Template != "/a/{id}" || r.API != "api" || r.User != "u" || r.Host != "h" {
		t.Errorf("record changed with the input: %+v", r)
	}
}

func TestTimes(t *testing.T) {
	for _, c := range []struct {
		in   string
		want string // RFC 3339 nano, "" when refused
	}{
		{"2026-01-05T10:21:33.1234567Z", "2026-01-05T10:21:33.1234567Z"},
		{"2026-01-05T10:21:33Z", "2026-01-05T10:21:33Z"},
		{"2026-01-05t10:21:33z", "2026-01-05T10:21:33Z"},
		{"2026-01-05T10:21:33", "2026-01-05T10:21:33Z"},
		{"2026-01-05 10:21:33.5", "2026-01-05T10:21:33.5Z"},
		{"2026-01-05T10:21:33+01:00", "2026-01-05T09:21:33Z"},
		{"2026-01-05T10:21:33-0530", "2026-01-05T15:51:33Z"},
		{"2026-01-05T10:21:33+01", "2026-01-05T09:21:33Z"},
		{"2026-01-05T10:21:33.123456789123Z", "2026-01-05T10:21:33.123456789Z"},
		{"1970-01-01T00:30:00+01:00", ""}, // before 1970 in UTC
		{"2024-02-29T00:00:00Z", "2024-02-29T00:00:00Z"},
		{"2023-02-29T00:00:00Z", ""},
		{"2026-13-01T00:00:00Z", ""},
		{"2026-01-01T24:00:00Z", ""},
		{"2026-01-01T00:00:60Z", ""},
		{"2026-01-01T00:00:00.Z", ""},
		{"2026-01-01T00:00:00Zjunk", ""},
		{"2026-01-01T00:00:00+25:00", ""},
		{"1/5/2026 10:21:33 AM", "2026-01-05T10:21:33Z"},
		{"", ""},
	} {
		tm, ok := parseTime([]byte(c.in))
		got := ""
		if ok {
			got = tm.Format(time.RFC3339Nano)
			if tm.Location() != time.UTC {
				t.Errorf("%q: location %v", c.in, tm.Location())
			}
		}
		if got != c.want {
			t.Errorf("parseTime(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	for _, c := range []struct{ in, want string }{
		{"15/Sep/2021:16:13:46 +0000", "2021-09-15T16:13:46Z"},
		{"15/sep/2021:16:13:46 -0700", "2021-09-15T23:13:46Z"},
		{"15/Sep/2021:16:13:46", "2021-09-15T16:13:46Z"},
		{"15/Sep/2021:16:13:46.250 +0000", "2021-09-15T16:13:46.25Z"},
		{"2021-09-15T16:13:46+02:00", "2021-09-15T14:13:46Z"},
		{"15/Sep/2021:16:13:46 +00:00", "2021-09-15T16:13:46Z"},
		{"15/Sep/2021:16:13:46 0000", ""},
		{"15/Sex/2021:16:13:46 +0000", ""},
		{"31/Apr/2021:16:13:46 +0000", ""},
	} {
		tm, ok := parseCLFTime([]byte(c.in))
		got := ""
		if ok {
			got = tm.Format(time.RFC3339Nano)
		}
		if got != c.want {
			t.Errorf("parseCLFTime(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	for _, c := range []struct {
		in   string
		unit time.Duration
		want time.Duration
	}{
		{"152", time.Millisecond, 152 * time.Millisecond},
		{"37.5", time.Millisecond, 37500 * time.Microsecond},
		{"0.034", time.Second, 34 * time.Millisecond},
		{"1.5e2", time.Millisecond, 150 * time.Millisecond},
		{"-1", time.Second, 0},
		{"x", time.Second, 0},
		{"99999999999999999999", time.Second, 0},
	} {
		if got := parseDuration([]byte(c.in), c.unit); got != c.want {
			t.Errorf("parseDuration(%q) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestExcerpt(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"plain", "plain"},
		{"a\nb\tc\x1b[31m", "a.b.c.[31m"},
		{"bad \xff\xfe utf8", "bad \ufffd\ufffd utf8"},
		{"\u0085next line", ".next line"},
		{strings.Repeat("é", 100), strings.Repeat("é", 60)},
		{strings.Repeat("x", 119) + "é", strings.Repeat("x", 119)},
	} {
		if got := excerpt([]byte(c.in)); got != c.want {
			t.Errorf("excerpt(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// splitRequest keeps what reads as a method and as a target and says why the rest
// is no HTTP request.
func TestSplitRequest(t *testing.T) {
	for _, c := range []struct {
		req, method, target string
		bad                 bool
	}{
		{"GET /a HTTP/1.1", "GET", "/a", false},
		{"GET /a b HTTP/1.1", "GET", "/a b", false},
		{"M-SEARCH * HTTP/1.1", "M-SEARCH", "*", false},
		{"CONNECT example.com:443 HTTP/1.1", "CONNECT", "example.com:443", false},
		{"GET http://example.com HTTP/1.0", "GET", "http://example.com", false},
		{"GET /a", "GET", "/a", true},
		{"GET", "GET", "", true},
		{"GET HTTP/1.1", "GET", "", true},
		{"GET index.html HTTP/1.1", "GET", "", true},
		{"/a HTTP/1.1", "", "/a", true},
		{"-", "", "", true},
		{"", "", "", true},
		{`\x16\x03\x01\x02\x00`, "", "", true},
		{"\x16\x03\x01", "", "", true},
		{"- / HTTP/1.1", "", "", true},
		{"HELP", "HELP", "", true},
	} {
		m, tg, bad := splitRequest([]byte(c.req))
		if string(m) != c.method || string(tg) != c.target || (bad != "") != c.bad {
			t.Errorf("splitRequest(%q) = %q, %q, %q; want %q, %q, bad %v", c.req, m, tg, bad, c.method, c.target, c.bad)
		}
	}
}

// Lines of other formats among access lines are set aside one by one, naming what they
// look like; a stream of them alone is refused, by Decode and by the Scanner alike.
func TestMixedLines(t *testing.T) {
	access := `203.0.113.5 - - [01/Jan/2024:00:00:00 +0000] "GET /a HTTP/1.1" 200 1 "-" "-"` + "\n"
	apacheErr := "[Sun Dec 04 04:47:44.123 2005] [error] [client 1.2.3.4] Directory index forbidden by rule: /var/www/\n"
	nginxErr := "2024/01/02 03:04:05 [error] 123#0: *1 open() \"/x\" failed (2: No such file or directory), client: 1.2.3.4\n"
	for _, c := range []struct {
		name    string
		data    string
		records int
		reasons []string // of the set-aside lines, in order
	}{
		{"error lines first", strings.Repeat(apacheErr, 20) + access,
			1, slices.Repeat([]string{"an Apache error-log line, not an access log line"}, 20)},
		{"interleaved", access + nginxErr + access + apacheErr + access,
			3, []string{"an nginx error-log line, not an access log line", "an Apache error-log line, not an access log line"}},
		{"an error line over the record limit", access + "[Sun Dec 04 04:47:44 2005] [error] " + strings.Repeat("x", 70<<10) + "\n" + access,
			2, []string{fmt.Sprintf("line of %d bytes is over the limit of 65536", len("[Sun Dec 04 04:47:44 2005] [error] ")+70<<10)}},
		{"JSON of no known shape before", `{"level":"info"}` + "\n" + nginxErr + access,
			1, []string{"a JSON document, not a combined-format access log line", "an nginx error-log line, not an access log line"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			for name, b := range map[string]Batch{"Decode": mustDecode(t, c.data, Options{}), "Scanner": mustScan(t, c.data, Options{})} {
				var reasons []string
				for _, s := range b.SetAside {
					reasons = append(reasons, s.Reason)
				}
				if b.Format != FormatCombined || len(b.Records) != c.records || !slices.Equal(reasons, c.reasons) {
					t.Errorf("%s: format %s, %d records, set aside %q", name, b.Format, len(b.Records), reasons)
				}
			}
		})
	}
	t.Run("no access line at all", func(t *testing.T) {
		data := strings.Repeat(apacheErr+nginxErr, 600) // past every detection bound
		_, err := Decode([]byte(data), Options{})
		_, serr := scanAll(bytes.NewReader([]byte(data)), Options{})
		for _, e := range []error{err, serr} {
			if fault.Of(e) != fault.Reject || !strings.Contains(fmt.Sprint(e), "none of 1200 lines is an access log line") ||
				!strings.Contains(fmt.Sprint(e), "line 1 is an Apache error-log line") {
				t.Errorf("error %v", e)
			}
		}
	})
}

// A Scanner holds what it cannot decode before the format is known within fixed bounds,
// whatever the input: here a JSON line of no known shape followed by thousands of
// error lines, then an access line.
func TestScannerBoundsHeldLines(t *testing.T) {
	data := `{"level":"info"}` + "\n" + strings.Repeat("2024/01/02 03:04:05 [error] 123#0: *1 x\n", 5000) +
		`203.0.113.5 - - [01/Jan/2024:00:00:00 +0000] "GET /a HTTP/1.1" 200 1` + "\n"
	s := NewScanner(strings.NewReader(data), Options{})
	most := 0
	for !s.done {
		s.step()
		most = max(most, len(s.held))
		s.d.out.Records, s.d.out.SetAside = s.d.out.Records[:0], nil
	}
	if s.Err() != nil || most > detectWithin || most == 0 {
		t.Errorf("err %v, held at most %d lines (bound %d)", s.Err(), most, detectWithin)
	}
	if r, a, _ := s.Counts(); r != 1 || a != 5001 {
		t.Errorf("counts %d records %d set aside", r, a)
	}
	// Decode agrees (the Scanner keeps only the first 1024 set-aside items here).
	want := mustDecode(t, data, Options{})
	if len(want.Records) != 1 || len(want.SetAside) != 5001 || want.SetAside[1023].Line != 1024 {
		t.Errorf("Decode: %d records, %d set aside", len(want.Records), len(want.SetAside))
	}
	got := mustScan(t, data, Options{})
	got.SetAside, want.SetAside = got.SetAside[:maxPendingSetAside], want.SetAside[:maxPendingSetAside]
	if g, w := render(t, got), render(t, want); !bytes.Equal(g, w) {
		t.Errorf("Scanner and Decode differ\n--- scanner\n%.2000s\n--- decode\n%.2000s", g, w)
	}
}

// makeTime computes the instant itself: it agrees with time.Date, as the Time value
// (UTC, comparable with ==), on every day of the years at the edges and around leap
// days, at any offset.
func TestMakeTimeAgreesWithDate(t *testing.T) {
	years := []int{1970, 1971, 1999, 2000, 2023, 2024, 2100, 2400, 9998, 9999}
	for _, y := range years {
		for m := 1; m <= 12; m++ {
			for d := 1; d <= daysIn(m, y); d++ {
				for _, off := range []int{0, 3600, -19800, 50400, -50400} {
					want := time.Date(y, time.Month(m), d, 23, 59, 58, 7, time.UTC).Add(-time.Duration(off) * time.Second)
					wantOK := want.Year() >= minYear && want.Year() <= maxYear
					got, ok := makeTime(y, m, d, 23, 59, 58, 7, off)
					if ok != wantOK || ok && got != want {
						t.Fatalf("makeTime(%d-%02d-%02d, offset %d) = %v %v, want %v %v", y, m, d, off, got, ok, want, wantOK)
					}
				}
			}
		}
	}
}
