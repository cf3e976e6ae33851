package include

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzInsertRemove: for any input, Insert either refuses it (returning it unchanged) or
// adds exactly one include that a second Insert leaves alone and Remove takes back byte for
// byte (checkInsert); Remove never leaves an include behind; nothing panics.
func FuzzInsertRemove(f *testing.F) {
	for _, op := range []string{"insert", "remove"} {
		paths, _ := filepath.Glob(filepath.Join("testdata", op, "*.in.xml"))
		for _, p := range paths {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	for _, s := range []string{
		"<policies><inbound/></policies>",
		"<policies><inbound></inbound></policies>",
		"<policies>\r\n\t<inbound>\r\n\t\t<base/>\r\n\t</inbound>\r\n</policies>",
		`<policies><inbound><set-variable name="x" value="@(a.As<JObject>()["k"] == "}")" /></inbound></policies>`,
		"<policies><inbound><set-body>@{ return \"</inbound>\"; }</set-body></inbound></policies>",
		"<policies><inbound><value>@($\"{x}}}{{\")</value><base></base></inbound></policies>",
		"<!-- <policies> --><policies><![CDATA[<inbound>]]><inbound><?pi <inbound> ?></inbound></policies>",
		"<policies>\n  <inbound>\n    <include-fragment fragment-id=\"apiguard\" />\n  </inbound>\n</policies>\n",
		`<policies><inbound>@(@"<base /> \"")</inbound></policies>`, // TestLookahead
		`<policies><inbound><x a="@(@" /><base /> \"")" /></inbound></policies>`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		if _, _, broken := checkInsert(doc, testID); broken != nil {
			t.Fatal(broken)
		}
		out, changed, err := Remove(doc, testID)
		if err != nil {
			if changed || !bytes.Equal(out, doc) {
				t.Fatalf("refused Remove changed the document")
			}
			return
		}
		if n, err := Count(out, testID); err != nil || n != 0 {
			t.Fatalf("Count after Remove = %d, %v; want 0\n in %q\nout %q", n, err, doc, out)
		}
		if changed == bytes.Equal(out, doc) {
			t.Fatalf("Remove: changed=%v but output equal to input: %v", changed, bytes.Equal(out, doc))
		}
	})
}
