package triage

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadPolicy(t *testing.T) {
	cases := []struct {
		name string
		p    Policy
		want scope // label ignored
	}{
		{"absent", pol(""), scope{state: absent}},
		{"unread", pol(unread), scope{state: unknown, why: "could not be read"}},
		{"base", pol(polBase), scope{state: readable, base: true}},
		{"no base", pol(polNoBase), scope{state: readable}},
		{"validate-jwt", pol(polJWT), scope{state: readable, base: true, validation: "validate-jwt"}},
		{"validate-azure-ad-token", pol(polAAD), scope{state: readable, base: true, validation: "validate-azure-ad-token"}},
		{"validate-client-certificate before base", pol(polCert), scope{state: readable, base: true, validation: "validate-client-certificate"}},
		{"choose", pol(polChooseJWT), scope{state: readable, base: true, conditional: "validate-jwt inside <choose>"}},
		{"outbound only", pol(polOutboundJWT), scope{state: readable, base: true}},
		{"fragment", pol(polFragment), scope{state: readable, base: true, fragments: []string{"corp-auth"}}},
		{"rate limit", pol(polRateLimit), scope{state: readable, base: true, rateLimit: true}},
		{"garbage", pol(polGarbage), scope{state: unknown, why: "is not readable"}},
		{"empty inbound", pol("<policies><inbound /><backend><base /></backend></policies>"), scope{state: readable}},
		{"no inbound", pol("<policies><outbound><base /></outbound></policies>"), scope{state: unknown, why: "has no <inbound> section"}},
		{"fragment root", pol("<fragment><validate-jwt header-name=\"a\" /></fragment>"), scope{state: unknown, why: "has no <inbound> section"}},
		{"empty document", pol(" "), scope{state: unknown, why: "has no <inbound> section"}},
		{"mismatched end tag", pol("<policies><inbound><base /></choose></inbound></policies>"), scope{state: unknown, why: "is not readable (an end tag does not match its start tag)"}},
		{"base in a when", pol(`<policies><inbound><choose><when condition="@(true)"><base /></when></choose></inbound></policies>`), scope{state: readable}},
		{"only the first inbound", pol(`<policies><inbound><base /></inbound><inbound><validate-jwt /></inbound></policies>`), scope{state: readable, base: true}},
		{"tags in expressions and comments", pol(`<policies><!-- <inbound><validate-jwt /></inbound> --><inbound>` +
			`<set-body>@{ return "<validate-jwt />" + body.As<JObject>(); }</set-body><base></base></inbound></policies>`), scope{state: readable, base: true}},
		{"BOM", pol("\xEF\xBB\xBF<policies><inbound><validate-jwt header-name=\"h\" /></inbound></policies>"), scope{state: readable, validation: "validate-jwt"}},
	}
	r := policyReader{own: map[string]bool{"apiguard": true}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, _ := r.read(c.p, "x")
			got.label = ""
			if !equalScope(got, c.want) {
				t.Errorf("read\n got %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func equalScope(a, b scope) bool {
	return a.state == b.state && a.base == b.base && a.validation == b.validation && a.rateLimit == b.rateLimit &&
		a.conditional == b.conditional && strings.Join(a.fragments, ",") == strings.Join(b.fragments, ",") && a.why == b.why
}

// TestReadFixtures reads every real policy document under shared/fixtures: none may be
// unreadable to the scanner, and the validations they hold are found.
func TestReadFixtures(t *testing.T) {
	const dir = "../../../shared/fixtures/apim-policies" // from /work/main/shared/triage
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("real APIM policies not available at %s: %v", dir, err)
	}
	var r policyReader
	read, validations := 0, 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".xml") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		s, err := r.read(Policy{Found: true, XML: string(b)}, "x")
		if err != nil {
			t.Errorf("%s: %v", path, err)
		}
		read++
		if s.validation != "" || s.conditional != "" {
			validations++
		}
		if strings.HasSuffix(path, "TestData/validate-jwt.xml") && s.validation != "validate-jwt" {
			t.Errorf("%s: validation %q, want validate-jwt", path, s.validation)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if read == 0 || validations == 0 {
		t.Errorf("read %d documents, %d with a validation: the fixtures moved?", read, validations)
	}
	t.Logf("%d real policies read, %d with a validation", read, validations)
}
