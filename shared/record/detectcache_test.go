package record

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/shared/detect"
	"github.com/apiguard/apiguard/shared/vocab"
)

func cacheKey(i int) detect.Key {
	return detect.Key{Type: vocab.KeyIP, Value: fmt.Sprintf("10.0.0.%d", i)}
}

// The cache stays within its bytes, lets the least recently used go first, refreshes
// an entry on get and on put, and keeps no entry larger than itself.
func TestStateCacheBound(t *testing.T) {
	entry := func(i int) int { // the bytes of entry i with a 100-byte state
		return (&cacheEntry{key: cacheKey(i), bin: make([]byte, 100), etag: `W/"x"`}).bytes()
	}
	c := newStateCache(3 * entry(1))
	put := func(i, n int) { c.put(cacheKey(i), cached{bin: make([]byte, n), etag: `W/"x"`}) }
	has := func(t *testing.T, want ...int) {
		n, size, _ := c.usage()
		if n != len(want) || size > c.max {
			t.Fatalf("%d entries, %d bytes of %d; want %v", n, size, c.max, want)
		}
		for _, i := range want {
			if _, ok := c.m[cacheKey(i)]; !ok {
				t.Fatalf("entry %d was evicted; want %v held", i, want)
			}
		}
	}
	steps := []struct {
		name string
		do   func()
		want []int
	}{
		{"fill", func() { put(1, 100); put(2, 100); put(3, 100) }, []int{1, 2, 3}},
		{"the least recently used goes", func() { put(4, 100) }, []int{2, 3, 4}},
		{"get refreshes", func() { c.get(cacheKey(2)); put(5, 100) }, []int{2, 4, 5}},
		{"put replaces and refreshes", func() { put(4, 100); put(6, 100) }, []int{4, 5, 6}},
		{"a larger entry evicts as many as it takes", func() { put(7, 100+entry(1)) }, []int{6, 7}},
		{"an entry larger than the cache is not kept", func() { put(8, 4*entry(1)) }, []int{6, 7}},
		{"drop", func() { c.drop(cacheKey(7)); c.drop(cacheKey(6)) }, nil},
	}
	for _, s := range steps {
		s.do()
		t.Run(s.name, func(t *testing.T) { has(t, s.want...) })
	}
	if _, ok := c.get(cacheKey(2)); ok {
		t.Fatal("an evicted entry is still found")
	}
	if size := c.size; size != 0 {
		t.Fatalf("an empty cache counts %d bytes", size)
	}
}

// The cache is trusted while what it holds is found current, and stands aside when
// another writer keeps moving the rows on (about 1 time in N with N instances).
func TestStateCacheTrust(t *testing.T) {
	c := newStateCache(1 << 20)
	if !c.trusted() {
		t.Fatal("a new cache is not trusted")
	}
	for range 200 {
		c.observe(true)
	}
	if !c.trusted() {
		t.Fatal("a cache always current is not trusted")
	}
	// Four instances: an entry is current one time in four.
	for i := range 128 {
		c.observe(i%4 == 0)
	}
	if c.trusted() {
		t.Fatalf("a cache current 1 time in 4 is still trusted (estimate %.2f)", c.current)
	}
	n := 0
	for !c.trusted() {
		c.observe(true)
		n++
	}
	// From an estimate of about 0.5, ln(0.475/0.05)*128 = 288 observations: one to
	// three batches' worth of cached keys.
	if n > 3*128 {
		t.Fatalf("trusted again only after %d current entries", n)
	}
	var none *stateCache
	if none.trusted() {
		t.Fatal("no cache is trusted")
	}
}

// transactionETags takes the new ETags from a transaction's response, in order, and
// gives none for anything but n successful responses. The success body is Azurite's.
func TestTransactionETags(t *testing.T) {
	part := func(status, etag string) string {
		s := "--changesetresponse_1\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n" +
			"HTTP/1.1 " + status + "\r\nX-Content-Type-Options: nosniff\r\nDataServiceVersion: 3.0;\r\n"
		if etag != "" {
			s += "ETag: " + etag + "\r\n"
		}
		return s + "\r\n\r\n"
	}
	body := func(parts ...string) string {
		return "--batchresponse_0\r\nContent-Type: multipart/mixed; boundary=changesetresponse_1\r\n\r\n" +
			strings.Join(parts, "") + "--changesetresponse_1--\r\n--batchresponse_0--\r\n"
	}
	e1, e2 := `W/"datetime'2026-12-06T05%3A17%3A28.1218257Z'"`, `W/"datetime'2026-12-06T05%3A17%3A28.1218265Z'"`
	cases := []struct {
		name string
		body string
		n    int
		want []string
	}{
		{"two updates", body(part("204 No Content", e1), part("204 No Content", e2)), 2, []string{e1, e2}},
		{"fewer responses than operations", body(part("204 No Content", e1)), 2, nil},
		{"a response without an ETag", body(part("204 No Content", e1), part("204 No Content", "")), 2, nil},
		{"a failed operation", body(part("412 Precondition Failed", "")), 1, nil},
		{"not multipart", `{"odata.error":{"code":"InvalidInput"}}`, 1, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := &http.Response{Header: http.Header{"Content-Type": {"multipart/mixed; boundary=batchresponse_0"}},
				Body: io.NopCloser(bytes.NewReader([]byte(c.body)))}
			got := transactionETags(resp, c.n)
			if fmt.Sprint(got) != fmt.Sprint(c.want) || (got == nil) != (c.want == nil) {
				t.Fatalf("got %q, want %q", got, c.want)
			}
		})
	}
	if transactionETags(nil, 1) != nil {
		t.Fatal("ETags from no response")
	}
}
