package traffic

import (
	"bytes"
	"net/netip"
	"reflect"
	"testing"

	"github.com/apiguard/apiguard/shared/fault"
)

// fuzzFormats maps the fuzzer's format byte to an option.
var fuzzFormats = append([]Format{FormatAuto}, Formats...)

// FuzzDecode checks what must hold for any input: no panic, errors are rejections,
// decoding is deterministic, every record has a valid UTC time, a method and a path
// (or is Malformed, with a client, a status and no template), set-aside indexes leave
// exactly the records' places, and for line-oriented input the Scanner agrees with
// Decode, whether it is given the format or detects it (refusals included). Seeds are
// every testdata case and a few mixed and malformed inputs.
func FuzzDecode(f *testing.F) {
	for _, c := range loadCases(f) {
		idx := uint8(0)
		for i, fm := range fuzzFormats {
			if fm == c.opts.Format {
				idx = uint8(i)
			}
		}
		f.Add(c.body, idx, c.opts.MaxRecordBytes != 0, len(c.opts.Trust.Proxies) > 0)
	}
	for _, s := range []string{
		`{"records":[{"time":"2026-01-01T00:00:00Z","properties":"{\"method\":\"GET\",\"url\":\"/\",\"requestHeaders\":\"{\\\"X-Forwarded-For\\\":[\\\"1.2.3.4\\\",\\\"10.0.0.1\\\"]}\"}"}]}`,
		`[{"records":[{"time":"2026-01-01T00:00:00Z","callerIpAddress":"10.0.0.1","properties":{"method":"GET","url":"https://h/1"}}]},{"x":1}]`,
		`{"TimeGenerated":"2026-01-01T00:00:00Z","Method":"GET","Url":"/a","RequestHeaders":{"X-Forwarded-For":"[::ffff:1.2.3.4]:80, 10.0.0.2"}}` + "\n" + `{"TimeGenerated":"2026-01-01T00:00:00Z"`,
		`10.0.0.1 - - [01/Jan/2024:00:00:00 +0000] "GET /\"x HTTP/1.1" 200 - "-" "a\\" "1.2.3.4, 10.0.0.3"`,
		"\xef\xbb\xbf{\"category\":\"FrontDoorAccessLog\",\"time\":\"2026-01-01T00:00:00Z\",\"properties\":{\"socketIp\":\"10.0.0.1\",\"clientIp\":\"1.2.3.4\",\"httpMethod\":\"GET\",\"requestUri\":\"https://h\"}}",
		`{"records":[`,
		`[{}, {"a":[}]`,
		`{"a":"\ud800\udc00\u0000\\"}`,
		"[Sun Dec 04 04:47:44.123 2005] [error] [client 1.2.3.4] x\n2024/01/02 03:04:05 [error] 1#0: y\n" +
			`1.2.3.4 - - [01/Jan/2024:00:00:00 +0000] "\x16\x03\x01" 400 1` + "\n{\"a\":1}\n",
		"{\"a\":1}\n" + `1.2.3.4 - - [01/Jan/2024:00:00:00 +0000] "-" 408 -` + "\n",
		"junk\n" + `{"category":"FrontDoorAccessLog","time":"2026-01-01T00:00:00Z","properties":{"socketIp":"10.0.0.1","httpMethod":"","httpStatusCode":"400"}}`,
		`1.2.3.4 - - [01/Jan/2024:00:00:00 +0000] "GET` + "\n" + `1.2.3.4 - - [01/Jan/2024:00:00:00 +0000] "GET /a" 400 1`,
	} {
		f.Add([]byte(s), uint8(0), false, true)
	}
	f.Fuzz(func(t *testing.T, data []byte, format uint8, small, proxied bool) {
		opts := Options{Format: fuzzFormats[int(format)%len(fuzzFormats)]}
		if small {
			opts.MaxRecordBytes = 300
		}
		if proxied {
			opts.Trust.Proxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")}
		}
		b1, err1 := Decode(data, opts)
		b2, err2 := Decode(data, opts)
		if (err1 == nil) != (err2 == nil) || err1 != nil && err1.Error() != err2.Error() {
			t.Fatalf("two decodings disagree: %v / %v", err1, err2)
		}
		if err1 != nil {
			if fault.Of(err1) != fault.Reject {
				t.Fatalf("error is not a rejection: %v", err1)
			}
			// A batch refused for its format is refused as a stream too, when it was
			// judged on its lines.
			if _, lines, derr := detect(data); opts.Format == FormatAuto && lines && derr != nil && len(data) <= DefaultMaxBatchBytes {
				if _, err := scanAll(bytes.NewReader(data), opts); fault.Of(err) != fault.Reject {
					t.Fatalf("Decode refused (%v) but the Scanner says %v", err1, err)
				}
			}
			return
		}
		if !reflect.DeepEqual(b1, b2) {
			t.Fatal("two decodings give different batches")
		}
		checkBatch(t, b1)
		if b1.Format == FormatAuto && len(b1.Records)+len(b1.SetAside) > 0 {
			t.Fatal("items decoded without a format")
		}

		// Line-oriented input: the Scanner must see the same items, with the format
		// given and, when Decode detected it on the lines, detecting it itself.
		body := bytes.TrimPrefix(data, utf8BOM)
		_, lines, _ := detect(data)
		if opts.Format == FormatAuto && lines && len(b1.SetAside) < maxPendingSetAside {
			s, err := scanAll(bytes.NewReader(data), opts)
			if err != nil {
				t.Fatalf("Scanner detecting: %v", err)
			}
			if !reflect.DeepEqual(render(t, s), render(t, b1)) {
				t.Fatalf("Scanner (detecting) and Decode differ\n--- scanner\n%s\n--- decode\n%s", render(t, s), render(t, b1))
			}
		}
		i := skipWS(body, 0)
		if b1.Format == FormatCombined || b1.Format != FormatAuto && (isLineDelimited(body) || i < len(body) && !looksJSON(body[i:])) {
			opts.Format = b1.Format
			s, err := scanAll(bytes.NewReader(data), opts)
			if err != nil {
				t.Fatalf("Scanner: %v", err)
			}
			if !reflect.DeepEqual(render(t, s), render(t, b1)) {
				t.Fatalf("Scanner and Decode differ\n--- scanner\n%s\n--- decode\n%s", render(t, s), render(t, b1))
			}
		}
	})
}
