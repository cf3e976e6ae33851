package traffic

import (
	"bytes"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// TestFoldKey checks the eight-bytes-at-a-time lowercasing against the byte table
// for every byte value in every position.
func TestFoldKey(t *testing.T) {
	var buf, buf2 [foldLen]byte
	key := make([]byte, 19)
	for c := range 256 {
		for pos := range key {
			for k := range key {
				key[k] = byte('A' + k)
			}
			key[pos] = byte(c)
			got := foldKey(&buf, key, len(key))
			got2 := foldKey(&buf2, key, pos+1) // bytes past the key are read too
			for k := range got2 {
				if got2[k] != lowerASCII[key[k]] {
					t.Fatalf("prefix %d: byte %d folded %#x", pos+1, k, got2[k])
				}
			}
			for k, ch := range key {
				if got[k] != lowerASCII[ch] {
					t.Fatalf("byte %#x at %d: folded %#x, want %#x", ch, k, got[k], lowerASCII[ch])
				}
			}
		}
	}
}

// TestKeyLengthFilter decodes the golden cases and the benchmark batches, in keys'
// original spellings and upper-cased, with memberOf's key filter (length and first
// letter) on and off: the filter may only save work, never hide a key a decoder reads.
func TestKeyLengthFilter(t *testing.T) {
	type input struct {
		name string
		body []byte
		opts Options
	}
	var inputs []input
	for _, tc := range loadCases(t) {
		inputs = append(inputs, input{tc.name, tc.body, tc.opts})
	}
	inputs = append(inputs,
		input{"diagnostic", genDiagnostic(200), Options{Format: FormatAPIMDiagnostic}},
		input{"analytics", genAnalytics(200), Options{Format: FormatAPIMLogAnalytics}},
		input{"analytics-xff", genAnalytics(50), Options{Format: FormatAPIMLogAnalytics,
			Trust: Trust{Proxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}}},
	)
	for _, in := range inputs[:len(inputs):len(inputs)] {
		inputs = append(inputs, input{in.name + "-upper", bytes.ToUpper(in.body), in.opts})
	}
	decodeAll := func() []any {
		var out []any
		for _, in := range inputs {
			b, err := Decode(in.body, in.opts)
			out = append(out, b, err)
		}
		return out
	}
	filtered := decodeAll()
	saved := [4]*keySet{diagTopKeys, diagPropertyKeys, analyticsKeys, headerKeys}
	diagTopKeys, diagPropertyKeys, analyticsKeys, headerKeys = anyKey, anyKey, anyKey, anyKey
	defer func() {
		diagTopKeys, diagPropertyKeys, analyticsKeys, headerKeys = saved[0], saved[1], saved[2], saved[3]
	}()
	unfiltered := decodeAll()
	for i := range filtered {
		if !reflect.DeepEqual(filtered[i], unfiltered[i]) {
			t.Errorf("%s: decoded differently with the key filter", inputs[i/2].name)
		}
	}
}

// refScanString is scanString written the obvious way, byte by byte.
func refScanString(b []byte, i int) (end int, esc, ok bool) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			esc = true
			j++
		case '"':
			return j + 1, esc, true
		}
	}
	return len(b), esc, false
}

// TestScanStringDifferential compares scanString with refScanString on strings
// mixing quotes, backslashes and bytes that trip the eight-byte masks (0x00, 0x01,
// 0x21, 0x23, 0x5b, 0x5d, 0x80+) at every position and length.
func TestScanStringDifferential(t *testing.T) {
	alphabet := []byte{'a', '"', '\\', 0, 1, 0x21, 0x23, 0x5b, 0x5d, 0xa2, 0xdc, 0xff}
	rng := uint64(1)
	next := func() uint64 {
		rng ^= rng << 13
		rng ^= rng >> 7
		rng ^= rng << 17
		return rng
	}
	for n := 0; n < 200000; n++ {
		size := 1 + int(next()%90)
		b := make([]byte, size)
		b[0] = '"'
		for k := 1; k < size; k++ {
			if next()%4 == 0 {
				b[k] = alphabet[next()%uint64(len(alphabet))]
			} else {
				b[k] = 'a' + byte(next()%26)
			}
		}
		e1, s1, o1 := scanString(b, 0)
		e2, s2, o2 := refScanString(b, 0)
		if e1 != e2 || o1 != o2 || (o1 && s1 != s2) {
			t.Fatalf("%q: scanString = %d %v %v, want %d %v %v", b, e1, s1, o1, e2, s2, o2)
		}
	}
}

// Every key a decoder switches on passes its filter in any spelling of its case; keys
// of other lengths or first letters do not.
func TestKeySet(t *testing.T) {
	sets := []struct {
		name string
		set  *keySet
		keys []string
	}{
		{"analytics", analyticsKeys, []string{"records", "timegenerated", "calleripaddress", "method", "url",
			"responsecode", "requestsize", "responsesize", "totaltime", "clienttime", "backendtime",
			"apiid", "operationid", "userid", "apimsubscriptionid", "requestheaders"}},
		{"headers", headerKeys.with("x-forwarded-for"), []string{"x-azure-socketip", "x-azure-clientip",
			"user-agent", "host", "x-forwarded-for"}},
	}
	for _, s := range sets {
		for _, k := range s.keys {
			for _, spelling := range []string{k, strings.ToUpper(k), strings.ToUpper(k[:1]) + k[1:]} {
				if !s.set.has([]byte(spelling)) {
					t.Errorf("%s: %q turned down", s.name, spelling)
				}
			}
		}
	}
	for _, k := range []string{"TenantId", "CorrelationId", "OperationName", "ApiRevision", "ResponseHeaders", "_ResourceId"} {
		if analyticsKeys.has([]byte(k)) {
			t.Errorf("analytics: %q let through", k)
		}
	}
}
