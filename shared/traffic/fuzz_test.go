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
// decoding is deterministic, every record has a valid UTC time, a method and a path,
// set-aside indexes leave exactly the records' places, and for line-oriented input
// the Scanner agrees with Decode. Seeds are every testdata case.
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
			return
		}
		if !reflect.DeepEqual(b1, b2) {
			t.Fatal("two decodings give different batches")
		}
		checkBatch(t, b1)
		if b1.Format == FormatAuto && len(b1.Records)+len(b1.SetAside) > 0 {
			t.Fatal("items decoded without a format")
		}

		// Line-oriented input: the Scanner must see the same items.
		body := bytes.TrimPrefix(data, utf8BOM)
		if b1.Format == FormatCombined || b1.Format != FormatAuto && isLineDelimited(body) {
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
