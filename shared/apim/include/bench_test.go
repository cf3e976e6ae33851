package include

import (
	"bytes"
	"os"
	"testing"
)

// policy20K is the csharp case padded with realistic inbound policies to about 20 KB, the
// size of a large customer API policy (the service limit is 256 KiB).
func policy20K(tb testing.TB) []byte {
	tb.Helper()
	doc, err := os.ReadFile("testdata/insert/csharp.in.xml")
	if err != nil {
		tb.Fatal(err)
	}
	block := []byte(`        <set-header name="X-Trace" exists-action="override">
            <value>@(context.Request.Headers.GetValueOrDefault("traceparent", "") != "" && context.Variables.GetValueOrDefault<int>("n") > 2 ? "on" : "off")</value>
        </set-header>
        <!-- keep <base /> last -->
        <set-variable name="body" value="@{ var b = context.Request.Body.As<JObject>(preserveContent: true); return b["id"]?.ToString() ?? "{{default-id}}"; }" />
`)
	at := bytes.Index(doc, []byte("        <base />"))
	var pad []byte
	for len(doc)+len(pad) < 20*1024 {
		pad = append(pad, block...)
	}
	return cat(doc[:at], pad, doc[at:])
}

func BenchmarkInsert(b *testing.B) {
	doc := policy20K(b)
	if _, changed, err := Insert(doc, testID); err != nil || !changed {
		b.Fatalf("changed=%v err=%v", changed, err)
	}
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Insert(doc, testID); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRemove(b *testing.B) {
	doc, _, err := Insert(policy20K(b), testID)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Remove(doc, testID); err != nil {
			b.Fatal(err)
		}
	}
}
