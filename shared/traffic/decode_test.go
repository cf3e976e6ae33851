package traffic

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
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
