package alert

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/shared/fault"
	"github.com/apiguard/apiguard/shared/vocab"
)

// FuzzDecode checks what must hold for any body: no panic, errors are rejections,
// decoding is deterministic, and every incident is well formed. Seeds are every
// testdata case; binary selects binary-mode CloudEvents with ceType as ce-type.
func FuzzDecode(f *testing.F) {
	for _, c := range loadCases(f) {
		f.Add(c.body, c.header.Get("ce-type"), c.header.Get("ce-specversion") != "")
	}
	// Paths the cases do not reach: limits, encodings inside encodings, odd entities.
	for _, s := range []string{
		strings.Repeat("[", 65) + strings.Repeat("]", 65),
		`{"specversion":"1.0","id":"e","source":"/s","type":"t","data":"\"{\\\"alertType\\\":\\\"A\\\"}\""}`,
		`{"AlertName":"x","Entities":"[{\"$id\":\"1\",\"Type\":\"ip\",\"Address\":\"::ffff:1.2.3.4\",\"h\":{\"$ref\":\"1\"}}]"}`,
		`{"alertType":"A","extendedProperties":{"a":"[fe80::1%eth0]:80 1.2.3.4:5 ::","b":["2001:db8::1"]}}`,
		`{"value":[{"value":[{"value":[{"value":[{"alertType":"A"}]}]}]}]}`,
		// Strict input: repeated keys, a BOM, refused addresses, bad CloudEvents.
		`{"alertType":"A","x":{"k":1,"\u006b":2}}`,
		"\xef\xbb\xbf" + `{"alertType":"A"}`,
		`{"AlertName":"A","Entities":"[{\"Type\":\"ip\",\"Address\":\"1.2.3.4/1\"},{\"Type\":\"ip\",\"Address\":\"45.153.160.142\\u0000\"}]"}`,
		`{"id":"g","evidence":[{"@odata.type":"#microsoft.graph.security.ipEvidence","ipAddress":"[::1]:80"}]}`,
		`[{"specversion":"0.3","id":"e","source":"/s","type":"t","data":{}},{"specversion":null}]`,
		`{"specversion":"1.0","id":"e","source":"/s","type":"Microsoft.EventGrid.SubscriptionValidationEvent","data":{"validationCode":"x y"}}`,
	} {
		f.Add([]byte(s), "", false)
	}
	for _, c := range badEvents {
		if len(c.event) < 4096 {
			f.Add(fmt.Appendf(nil, c.event, goodAlert), "", false)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte, ceType string, binary bool) {
		var h http.Header
		if binary {
			h = http.Header{}
			h.Set("ce-specversion", "1.0")
			h.Set("ce-id", "e1")
			h.Set("ce-source", "/s")
			h.Set("ce-type", ceType)
		}
		checkParser(t, body)
		b1, err1 := Decode(body, h)
		b2, err2 := Decode(body, h)
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
		if n := len(b1.Incidents) + len(b1.Rejected); n > MaxAlerts {
			t.Fatalf("%d items, over MaxAlerts", n)
		}
		for i, inc := range b1.Incidents {
			checkIncident(t, i, inc)
		}
		if n := len(b1.ValidationCode); n > 0 && checkValidationCode(b1.ValidationCode) != nil {
			t.Fatalf("validation code %.80q answered", b1.ValidationCode)
		}
		if _, err := json.Marshal(b1); err != nil {
			t.Fatalf("batch does not marshal: %v", err)
		}
	})
}

func checkIncident(t *testing.T, i int, inc Incident) {
	t.Helper()
	if !strings.HasPrefix(inc.ID, "inc-") || len(inc.ID) != len("inc-")+32 {
		t.Fatalf("incident %d: bad ID %q", i, inc.ID)
	}
	if inc.Addresses == nil || len(inc.Addresses) > MaxAddresses {
		t.Fatalf("incident %d: %d addresses (nil: %v)", i, len(inc.Addresses), inc.Addresses == nil)
	}
	seen := map[string]bool{}
	for _, a := range inc.Addresses {
		if !a.IP.IsValid() || a.IP.Zone() != "" || a.IP.Is4In6() {
			t.Fatalf("incident %d: address %#v not normalized", i, a.IP)
		}
		if seen[a.IP.String()] {
			t.Fatalf("incident %d: duplicate address %v", i, a.IP)
		}
		seen[a.IP.String()] = true
		switch a.Source {
		case SourceEntity, SourceExtendedProperties, SourceEvidence:
		default:
			t.Fatalf("incident %d: address source %q", i, a.Source)
		}
	}
	if len(inc.RefusedAddresses) > maxRefused {
		t.Fatalf("incident %d: %d refused addresses", i, len(inc.RefusedAddresses))
	}
	for _, r := range inc.RefusedAddresses {
		if r.Reason == "" || len(r.Value) > 4*maxRefusedValue+3 {
			t.Fatalf("incident %d: refused %+v", i, r)
		}
		if _, reason := parseStrictAddress(mustUnquote(t, r.Value)); reason == "" && !strings.HasSuffix(r.Value, "...") && !strings.HasPrefix(r.Reason, "a JSON") {
			t.Fatalf("incident %d: refused %q is an address", i, r.Value)
		}
	}
	if !json.Valid(inc.Raw) {
		t.Fatalf("incident %d: Raw is not JSON: %q", i, inc.Raw)
	}
	switch inc.Severity {
	case vocab.SeverityUnknown, vocab.SeverityInformational, vocab.SeverityLow, vocab.SeverityMedium, vocab.SeverityHigh:
	default:
		t.Fatalf("incident %d: severity %q", i, inc.Severity)
	}
	for _, tm := range []struct {
		name string
		loc  string
	}{{"start", inc.StartTime.Location().String()}, {"end", inc.EndTime.Location().String()}, {"generated", inc.GeneratedTime.Location().String()}} {
		if tm.loc != "UTC" {
			t.Fatalf("incident %d: %s time in %s", i, tm.name, tm.loc)
		}
	}
}

func mustUnquote(t *testing.T, s string) string {
	t.Helper()
	u, err := unquoteGo(s)
	if err != nil {
		t.Fatalf("refused value %q is not Go-quoted: %v", s, err)
	}
	return u
}

// BenchmarkDecode measures a typical single ARM alert, as the HTTP trigger gets it.
func BenchmarkDecode(b *testing.B) {
	body, err := os.ReadFile(filepath.Join("testdata", "cases", "arm.json"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(body, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeCases runs every testdata case, so each shape's cost is visible.
func BenchmarkDecodeCases(b *testing.B) {
	for _, c := range loadCases(b) {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Decode(c.body, c.header); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// checkParser holds the tree parser to encoding/json: any valid document not nested
// too deeply parses, to the same values, and the root's raw bytes are the document.
func checkParser(t *testing.T, body []byte) {
	t.Helper()
	if !json.Valid(body) {
		return
	}
	dup := hasDuplicateKey(body)
	n, err := parseDocument(body)
	if err != nil {
		if _, ok := depthWithin(body, maxDepth); ok && !(dup && strings.Contains(err.Error(), "duplicate key")) {
			t.Fatalf("valid JSON not parsed: %v", err)
		}
		return
	}
	if dup {
		t.Fatal("a document that repeats a key was parsed")
	}
	if want := bytes.TrimSpace(bytes.TrimPrefix(body, utf8BOM)); !bytes.Equal(n.raw, want) {
		t.Fatalf("root raw %q, want %q", n.raw, want)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var want any
	if err := dec.Decode(&want); err != nil {
		t.Fatalf("encoding/json: %v", err)
	}
	if got := toAny(n); !reflect.DeepEqual(got, want) {
		t.Fatalf("parsed %#v, encoding/json %#v", got, want)
	}
}

// toAny converts a node to what encoding/json decodes with UseNumber (duplicate keys:
// the last wins, as there).
func toAny(n *node) any {
	switch n.kind {
	case kindObject:
		m := make(map[string]any, len(n.keys))
		for i, k := range n.keys {
			m[k] = toAny(n.elems[i])
		}
		return m
	case kindArray:
		a := make([]any, len(n.elems))
		for i, e := range n.elems {
			a[i] = toAny(e)
		}
		return a
	case kindString:
		return n.str
	case kindNumber:
		return json.Number(n.raw)
	case kindBool:
		return string(n.raw) == "true"
	}
	return nil
}
