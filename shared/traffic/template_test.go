package traffic

import (
	"bytes"
	"testing"
)

var templateCases = []struct{ path, want string }{
	{"", ""},
	{"/", "/"},
	{"/orders", "/orders"},
	{"/orders/48213", "/orders/{id}"},
	{"/orders/48213/", "/orders/{id}/"},
	{"/orders/48213/items/7", "/orders/{id}/items/{id}"},
	{"/users/2b1c7f0e-9a4d-4e1b-8f3c-5d6e7a8b9c0d/profile", "/users/{id}/profile"},
	{"/users/2B1C7F0E-9A4D-4E1B-8F3C-5D6E7A8B9C0D", "/users/{id}"},
	{"/blobs/0123456789abcdef", "/blobs/{id}"},           // 16 hex
	{"/blobs/0123456789abcde", "/blobs/0123456789abcde"}, // 15 hex, not all digits
	{"/blobs/deadbeefdeadbeefdeadbeef", "/blobs/{id}"},
	{"/.well-known/acme-challenge/FMuukC2JOJ5HKmLBujjE_BkDo", "/.well-known/acme-challenge/{id}"},
	{"/t/eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", "/t/{id}"},
	{"/presentations/logstash-monitorama-2013/images", "/presentations/logstash-monitorama-2013/images"},
	{"/blog/my-long-descriptive-page-name-2023", "/blog/my-long-descriptive-page-name-2023"},
	{"/static/kibana-dashboard3.png", "/static/kibana-dashboard3.png"},
	{"/api/v1/ping", "/api/v1/ping"},
	{"/v2", "/v2"},
	{"/abcdefghijklmnopqrstuvwxyz", "/abcdefghijklmnopqrstuvwxyz"}, // letters only
	{"/a//b/12", "/a//b/{id}"},
	{"12/34", "{id}/{id}"},
	{"/caf%C3%A9/12", "/caf%C3%A9/{id}"},
	{"example.com:443", "example.com:443"},
	{"*", "*"},
}

func TestTemplatize(t *testing.T) {
	for _, c := range templateCases {
		if got := Templatize(c.path); got != c.want {
			t.Errorf("Templatize(%q) = %q, want %q", c.path, got, c.want)
		}
		if hasID(c.path) != (c.path != c.want) {
			t.Errorf("hasID(%q) = %v", c.path, hasID(c.path))
		}
		if got := appendTemplate(nil, []byte(c.path)); !bytes.Equal(got, []byte(c.want)) {
			t.Errorf("appendTemplate(%q) = %q", c.path, got)
		}
	}
	// An unchanged path is returned as is, without a copy.
	p := "/orders/recent"
	if got := Templatize(p); got != p {
		t.Fatal(got)
	}
	if n := testing.AllocsPerRun(100, func() { Templatize(p) }); n != 0 {
		t.Errorf("Templatize of an id-free path allocates %v times", n)
	}
}

func TestSplitTarget(t *testing.T) {
	for _, c := range []struct{ in, host, path, query string }{
		{"https://h.example/a/b?x=1&y=2", "h.example", "/a/b", "x=1&y=2"},
		{"https://h.example", "h.example", "/", ""},
		{"https://h.example?x", "h.example", "/", "x"},
		{"https://user:pw@h.example:8443/p#frag", "h.example:8443", "/p", ""},
		{"HTTP://H/P", "H", "/P", ""},
		{"/p?q#f", "", "/p", "q"},
		{"/p?", "", "/p", ""},
		{"?q", "", "", "q"},
		{"mailto:x", "", "mailto:x", ""},
		{"", "", "", ""},
	} {
		h, p, q := splitTarget([]byte(c.in))
		if string(h) != c.host || string(p) != c.path || string(q) != c.query {
			t.Errorf("splitTarget(%q) = %q %q %q, want %q %q %q", c.in, h, p, q, c.host, c.path, c.query)
		}
	}
}
