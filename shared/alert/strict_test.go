package alert

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/apiguard/apiguard/shared/fault"
)

// strictAddressCases are values a structured field (an IP entity's address, a Graph
// ipEvidence's ipAddress) may hold. want is the address acted on, "" when the value is
// refused; reason is part of the refusal's reason. The table feeds
// TestParseStrictAddress, TestRefusedEntityAddresses and FuzzStrictAddress.
var strictAddressCases = []struct {
	in, want, reason string
}{
	{"45.153.160.140", "45.153.160.140", ""},
	{"2001:db8::1", "2001:db8::1", ""},
	{"2001:DB8::1", "2001:db8::1", ""},
	{"::ffff:45.153.160.140", "45.153.160.140", ""},
	{"45.153.160.140/32", "45.153.160.140", ""},
	{"2001:db8::1/128", "2001:db8::1", ""},
	{"::ffff:45.153.160.140/128", "45.153.160.140", ""},
	// The prefix is never dropped: host bits set, out of range, not a number.
	{"1.2.3.4/1", "", "host bits set: 1.2.3.4/1 is not a network address (the network is 0.0.0.0/1)"},
	{"1.2.3.4/0", "", "host bits set"},
	{"1.2.3.4/24", "", "host bits set"},
	{"1.2.3.4/33", "", "prefix length /33 out of range for IPv4 (0-32)"},
	{"2001:db8::1/129", "", "out of range for IPv6 (0-128)"},
	{"1.2.3.4/-1", "", `prefix length "-1" is not a number from 0 to 32`},
	{"1.2.3.4/+1", "", "is not a number"},
	{"1.2.3.4/", "", "is not a number"},
	{"1.2.3.4/x", "", "is not a number"},
	{"1.2.3.4/032", "", "not canonical"},
	{"1.2.3.4/32/32", "", "is not a number"},
	{"/32", "", "not an IP address before the slash"},
	// A well-formed network is still not one attacker.
	{"1.2.3.0/24", "", "a network of 2^8 addresses"},
	{"0.0.0.0/0", "", "a network of 2^32 addresses"},
	{"::/0", "", "a network of 2^128 addresses"},
	// Junk around or inside the address.
	{"45.153.160.142\xc3(", "", "non-ASCII byte 0xc3 at byte 14"},
	{"45.153.160.142\x00", "", "control byte 0x00 at byte 14"},
	{"45.153.160.142\n", "", "control byte 0x0a"},
	{"45.153.160.142 ", "", "blank at byte 14"},
	{" 45.153.160.142", "", "blank at byte 0"},
	{"45.153. 160.142", "", "blank at byte 7"},
	{"45.153.160.142\t", "", "blank"},
	{"45.153.160.142x", "", "not an IP address"},
	{"45.153.160.142.", "", "not an IP address"},
	{"45.153.160.142,10.1.2.3", "", "not an IP address"},
	{"45.153.160.142\u00a0", "", "non-ASCII"},
	{"４5.153.160.142", "", "non-ASCII"},
	{"045.153.160.142", "", "not an IP address"},
	{"45.153.160.142:443", "", "address with a port"},
	{"[2001:db8::1]:443", "", "address with a port"},
	{"[2001:db8::1]", "", "address in brackets"},
	{"fe80::1%eth0", "", "IPv6 zone"},
	{"", "", "empty"},
	{"not-an-ip", "", "not an IP address"},
	{strings.Repeat("1", 1<<20), "", "1048576 bytes, longer than any address"},
}

func TestParseStrictAddress(t *testing.T) {
	for _, tt := range strictAddressCases {
		a, reason := parseStrictAddress(tt.in)
		got := ""
		if reason == "" {
			got = a.String()
		}
		if got != tt.want || !strings.Contains(reason, tt.reason) || (tt.want == "") != (reason != "") {
			t.Errorf("parseStrictAddress(%.70q) = %q, reason %q; want %q, reason containing %q", tt.in, got, reason, tt.want, tt.reason)
		}
		if len(reason) > 200 {
			t.Errorf("parseStrictAddress(%.70q): reason of %d bytes echoes the input", tt.in, len(reason))
		}
	}
}

// Every bad value, in an alert that names good addresses before and after it and the
// same address again in free text, is refused with its reason and recorded on the
// incident; the good entities are still decided, nothing is taken from the bad one, and
// extendedProperties are not scanned in its place.
func TestRefusedEntityAddresses(t *testing.T) {
	for _, tt := range strictAddressCases {
		if tt.want != "" {
			continue
		}
		t.Run(fmt.Sprintf("%.40q", tt.in), func(t *testing.T) {
			bad := rawJSONString(tt.in)
			// A JSON reader reads bytes that are not UTF-8 as U+FFFD: that is what
			// the decoder sees and records.
			seen, reasonPart := tt.in, tt.reason
			if !utf8.ValidString(tt.in) {
				seen, reasonPart = strings.ToValidUTF8(tt.in, "\ufffd"), "non-ASCII byte 0xef at byte 14"
			}
			body := fmt.Appendf(nil, `{"properties":{"alertType":"API_SpikeInAPITraffic","systemAlertId":"s1",
				"entities":[{"$id":"1","type":"ip","address":"203.0.113.7"},{"$id":"2","type":"ip","address":%s},{"$id":"3","type":"ip","address":"198.51.100.9"}],
				"extendedProperties":{"client IP address":%s}}}`, bad, bad)
			inc := decodeOne(t, body, nil)
			got := addressStrings(inc)
			if want := []string{"203.0.113.7", "198.51.100.9"}; !slices.Equal(got, want) {
				t.Errorf("addresses %v, want %v", got, want)
			}
			if len(inc.RefusedAddresses) != 1 {
				t.Fatalf("refused %+v, want one", inc.RefusedAddresses)
			}
			r := inc.RefusedAddresses[0]
			if r.Source != SourceEntity || !strings.Contains(r.Reason, reasonPart) || len(r.Value) > 4*maxRefusedValue+3 {
				t.Errorf("refused %+v, want source entity, reason containing %q, value cut", r, reasonPart)
			}
			if len(seen) <= maxRefusedValue {
				if uq, err := unquoteGo(r.Value); err != nil || uq != seen {
					t.Errorf("refused value %q does not give back %q (%v)", r.Value, seen, err)
				}
			}
			// The incident as recorded (JSON) carries the refusal.
			rec, _ := json.Marshal(inc)
			if !bytes.Contains(rec, []byte(`"refused_addresses"`)) {
				t.Errorf("recorded incident lacks refused_addresses: %s", rec)
			}
		})
	}
}

// A lone refused entity names the attacker all the same: free text is not scanned
// for a substitute, so 1.2.3.4 out of "1.2.3.4/1" is never acted on.
func TestRefusedEntityNoFallback(t *testing.T) {
	inc := decodeOne(t, []byte(`{"alertType":"A","entities":[{"type":"ip","address":"1.2.3.4/1"}],
		"extendedProperties":{"client IP address":"1.2.3.4"}}`), nil)
	if len(inc.Addresses) != 0 || len(inc.RefusedAddresses) != 1 {
		t.Errorf("addresses %v, refused %+v: want none acted on, one refused", inc.Addresses, inc.RefusedAddresses)
	}
	// Without an entity, free text keeps its own rules.
	inc = decodeOne(t, []byte(`{"alertType":"A","extendedProperties":{"client IP address":"1.2.3.4/1"}}`), nil)
	if got := addressStrings(inc); !slices.Equal(got, []string{"1.2.3.4"}) || len(inc.RefusedAddresses) != 0 {
		t.Errorf("free text: addresses %v, refused %+v", got, inc.RefusedAddresses)
	}
}

// Graph evidence is read as strictly, and an address that is not a string is refused.
func TestRefusedEvidenceAndTypes(t *testing.T) {
	inc := decodeOne(t, []byte(`{"id":"g1","detectorId":"d","evidence":[
		{"@odata.type":"#microsoft.graph.security.ipEvidence","ipAddress":"45.153.160.142\u0000"},
		{"@odata.type":"#microsoft.graph.security.ipEvidence","ipAddress":"45.153.160.140"}]}`), nil)
	if got := addressStrings(inc); !slices.Equal(got, []string{"45.153.160.140"}) {
		t.Errorf("evidence addresses %v", got)
	}
	if len(inc.RefusedAddresses) != 1 || inc.RefusedAddresses[0].Source != SourceEvidence || inc.RefusedAddresses[0].Value != `45.153.160.142\x00` {
		t.Errorf("evidence refused %+v", inc.RefusedAddresses)
	}
	inc = decodeOne(t, []byte(`{"alertType":"A","entities":[{"type":"ip","address":754712716},{"type":"ip","address":["1.2.3.4"]},{"type":"ip","address":null}]}`), nil)
	if len(inc.Addresses) != 0 || len(inc.RefusedAddresses) != 2 || !strings.Contains(inc.RefusedAddresses[0].Reason, "a JSON number") {
		t.Errorf("non-string addresses: %v, refused %+v", inc.Addresses, inc.RefusedAddresses)
	}
}

// Refusals are bounded like addresses: past maxRefused only a count goes on.
func TestRefusedCap(t *testing.T) {
	var ents []string
	for i := range maxRefused + 30 {
		ents = append(ents, fmt.Sprintf(`{"type":"ip","address":"10.0.%d.%d/8"}`, i/256, i%256))
	}
	inc := decodeOne(t, []byte(`{"alertType":"A","entities":[`+strings.Join(ents, ",")+`]}`), nil)
	if len(inc.RefusedAddresses) != maxRefused || inc.RefusedMore != 30 {
		t.Errorf("refused %d, more %d; want %d and 30", len(inc.RefusedAddresses), inc.RefusedMore, maxRefused)
	}
}

// rawJSONString quotes s for JSON escaping only what JSON requires, so bytes that are
// not UTF-8 reach the body as they are, as a hostile sender would put them.
func rawJSONString(s string) []byte {
	out := []byte{'"'}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			out = append(out, '\\', c)
		case c < 0x20:
			out = fmt.Appendf(out, `\u%04x`, c)
		default:
			out = append(out, c)
		}
	}
	return append(out, '"')
}

func addressStrings(inc Incident) []string {
	var out []string
	for _, a := range inc.Addresses {
		out = append(out, a.IP.String())
	}
	return out
}

func unquoteGo(s string) (string, error) {
	var out string
	_, err := fmt.Sscanf(`"`+s+`"`, "%q", &out)
	return out, err
}

// Keys that repeat in one object are refused wherever the decoder reads JSON, naming
// the key; keys that differ only in case are distinct keys and are read.
func TestDuplicateKeys(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		name, body string
		key        string // "" when the body must decode
	}{
		{"top level", `{"alertType":"A","alertType":"B"}`, "alertType"},
		{"escaped spelling", `{"alertType":"A","\u0061lertType":"B"}`, "alertType"},
		{"in properties", `{"properties":{"alertType":"A","systemAlertId":"1","systemAlertId":"2"}}`, "systemAlertId"},
		{"in an entity", `{"alertType":"A","entities":[{"type":"ip","address":"10.1.2.3","address":"45.153.160.140"}]}`, "address"},
		{"deep", `{"alertType":"A","x":{"y":[{"z":{"k":1,"k":2}}]}}`, "k"},
		{"in extendedProperties", `{"alertType":"A","extendedProperties":{"client IP address":"1.2.3.4","client IP address":"5.6.7.8"}}`, "client IP address"},
		{"in a large object", `{"alertType":"A",` + manyKeys(40) + `,"k7":0}`, "k7"},
		{"in Entities as JSON text", `{"AlertName":"A","Entities":"[{\"Type\":\"ip\",\"Address\":\"1.2.3.4\",\"Address\":\"5.6.7.8\"}]"}`, "Address"},
		{"in CloudEvent data", `{"specversion":"1.0","id":"e","source":"/s","type":"t","data":{"alertType":"A","alertType":"B"}}`, "alertType"},
		{"in CloudEvent data_base64", `{"specversion":"1.0","id":"e","source":"/s","type":"t","data_base64":"` + b64(`{"alertType":"A","alertType":"B"}`) + `"}`, "alertType"},
		{"a CloudEvent attribute", `{"specversion":"1.0","specversion":"1.0","id":"e","source":"/s","type":"t","data":{}}`, "specversion"},
		{"in an Event Grid event", `{"eventType":"t","eventType":"Microsoft.EventGrid.SubscriptionValidationEvent","data":{"validationCode":"x"}}`, "eventType"},
		{"case differs", `{"alertType":"A","extendedProperties":{"client IP address":"1.2.3.4","Client IP address":"5.6.7.8"}}`, ""},
		{"same key in sibling objects", `{"alertType":"A","entities":[{"type":"ip","address":"1.2.3.4"},{"type":"ip","address":"5.6.7.8"}]}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Decode([]byte(tt.body), nil)
			if tt.key == "" {
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Decode succeeded with %+v, want a 400 naming %q", b, tt.key)
			}
			if fault.StatusOf(err) != http.StatusBadRequest || !strings.Contains(err.Error(), fmt.Sprintf("duplicate key %q", tt.key)) {
				t.Errorf("got %v (status %d), want a 400 naming %q", err, fault.StatusOf(err), tt.key)
			}
		})
	}
	// In a batch, an element whose encoded part repeats a key is set aside with the
	// reason; the others are decided.
	b, err := Decode([]byte(`[{"AlertName":"A","Entities":"[{\"Address\":\"1.2.3.4\",\"Address\":\"5.6.7.8\"}]"},{"alertType":"B","systemAlertId":"s2"}]`), nil)
	if err != nil || len(b.Incidents) != 1 || len(b.Rejected) != 1 || b.Rejected[0].Index != 0 || !strings.Contains(b.Rejected[0].Reason, `duplicate key "Address"`) {
		t.Errorf("batch: %+v, %v", b, err)
	}
}

func manyKeys(n int) string {
	var parts []string
	for i := range n {
		parts = append(parts, fmt.Sprintf(`"k%d":%d`, i, i))
	}
	return strings.Join(parts, ",")
}

// The position named is the repeated key's.
func TestDuplicateKeyPosition(t *testing.T) {
	_, err := Decode([]byte("{\"alertType\":\"A\",\n \"alertType\":\"B\"}"), nil)
	if err == nil || !strings.Contains(err.Error(), "line 2, column 2 (byte offset 19)") {
		t.Errorf("got %v", err)
	}
}

// A UTF-8 byte order mark before the body, or before a document inside it, is skipped.
func TestByteOrderMark(t *testing.T) {
	const bom = "\xef\xbb\xbf"
	plain := readCase(t, "arm")
	want, err := Decode(plain, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(append([]byte(bom), plain...), nil)
	if err != nil {
		t.Fatalf("body with a BOM: %v", err)
	}
	if string(render(t, got)) != string(render(t, want)) {
		t.Error("a BOM changes the decoded batch")
	}
	inner := `{"specversion":"1.0","id":"e","source":"/s","type":"t","data_base64":"` +
		base64.StdEncoding.EncodeToString([]byte(bom+`{"alertType":"A"}`)) + `"}`
	if inc := decodeOne(t, []byte(inner), nil); inc.AlertType != "A" {
		t.Errorf("data_base64 with a BOM: %+v", inc)
	}
	// Only one, and only first: a BOM anywhere else is what JSON says it is.
	if _, err := Decode([]byte(bom+bom+`{}`), nil); err == nil {
		t.Error("two BOMs accepted")
	}
}

// FuzzStrictAddress: an accepted value is exactly one address in one of its spellings,
// and a refusal never echoes the input.
func FuzzStrictAddress(f *testing.F) {
	for _, c := range strictAddressCases {
		if len(c.in) < 256 {
			f.Add(c.in)
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, reason := parseStrictAddress(s)
		if reason != "" {
			if a.IsValid() || len(reason) > 200 {
				t.Fatalf("refused %q with address %v, reason %q", s, a, reason)
			}
			return
		}
		if !a.IsValid() || a.Zone() != "" || a.Is4In6() {
			t.Fatalf("accepted %q as %#v", s, a)
		}
		if strings.Trim(s, "0123456789abcdefABCDEF:./") != "" {
			t.Fatalf("accepted %q, which holds more than an address", s)
		}
		want, err := netip.ParseAddr(s)
		if err != nil {
			p, perr := netip.ParsePrefix(s)
			if perr != nil || !p.IsSingleIP() {
				t.Fatalf("accepted %q, which is neither an address nor a one-address prefix", s)
			}
			want = p.Addr()
		}
		if want.Unmap() != a {
			t.Fatalf("accepted %q as %v, want %v", s, a, want.Unmap())
		}
	})
}

// hasDuplicateKey reports, with encoding/json's tokenizer and independently of the
// decoder's parser, whether some object in a valid document repeats a key.
func hasDuplicateKey(body []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(body))
	type frame struct {
		keys   map[string]bool
		object bool
		expect bool // the next token in this object is a key
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) || err != nil {
			return false
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.expect {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:len(stack)-1]
				continue
			}
			k := tok.(string)
			if top.keys[k] {
				return true
			}
			top.keys[k] = true
			top.expect = false
			continue
		}
		if top != nil && top.object {
			top.expect = true // this token is the value
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{keys: map[string]bool{}, object: true, expect: true})
		case json.Delim('['):
			stack = append(stack, &frame{})
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
	}
}
