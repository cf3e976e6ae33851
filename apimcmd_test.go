package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apiguard/apiguard/shared/apim/fragment"
)

// apimPolicy is a small API policy as APIM returns it: CRLF line ends, <base /> first.
const apimPolicy = "<policies>\r\n" +
	"    <inbound>\r\n" +
	"        <base />\r\n" +
	"        <set-header name=\"X-Env\" exists-action=\"override\"><value>@(context.Api.Id)</value></set-header>\r\n" +
	"    </inbound>\r\n" +
	"    <backend>\r\n" +
	"        <base />\r\n" +
	"    </backend>\r\n" +
	"</policies>\r\n"

// apimFixturesDir holds real APIM policies next to the repository; never copied into it.
const apimFixturesDir = "../shared/fixtures/apim-policies"

func runAPIMCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(append([]string{"apim"}, args...), strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestAPIMIncludeRoundTrip(t *testing.T) {
	dir := t.TempDir()
	policy := filepath.Join(dir, "policy.xml")
	os.WriteFile(policy, []byte(apimPolicy), 0o644)
	want := strings.Replace(apimPolicy, "<base />\r\n", "<base />\r\n        <include-fragment fragment-id=\"apiguard-enforce\" />\r\n", 1)

	code, out, errOut := runAPIMCLI(t, "", "include", "--policy", policy)
	if code != 0 || out != want || !strings.Contains(errOut, "inserted include-fragment apiguard-enforce") {
		t.Fatalf("insert: exit %d, stderr %q\n got %q\nwant %q", code, errOut, out, want)
	}
	if n := strings.Count(out, "<include-fragment"); n != 1 {
		t.Errorf("%d includes, want 1", n)
	}

	// The same again, through standard input: nothing to do, the bytes come back as they were.
	code, again, errOut := runAPIMCLI(t, out, "include", "--policy", "-")
	if code != 0 || again != out || !strings.Contains(errOut, "already present: unchanged") {
		t.Errorf("second insert: exit %d, stderr %q, output equal: %v", code, errOut, again == out)
	}

	code, back, errOut := runAPIMCLI(t, out, "include", "--policy", "-", "--remove")
	if code != 0 || back != apimPolicy || !strings.Contains(errOut, "removed") {
		t.Errorf("remove: exit %d, stderr %q\n got %q\nwant %q", code, errOut, back, apimPolicy)
	}
	code, back, errOut = runAPIMCLI(t, "", "include", "--policy", policy, "--remove")
	if code != 0 || back != apimPolicy || !strings.Contains(errOut, "not present: unchanged") {
		t.Errorf("remove when absent: exit %d, stderr %q, output equal: %v", code, errOut, back == apimPolicy)
	}

	code, out, errOut = runAPIMCLI(t, "", "include", "--policy", policy, "--fragment-id", "soc-block")
	if code != 0 || !strings.Contains(out, `<include-fragment fragment-id="soc-block" />`) || !strings.Contains(errOut, "inserted include-fragment soc-block") {
		t.Errorf("--fragment-id: exit %d, stderr %q\n%s", code, errOut, out)
	}
}

func TestAPIMIncludeRefuses(t *testing.T) {
	dir := t.TempDir()
	write := func(name, doc string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(doc), 0o644)
		return p
	}
	policy := write("policy.xml", apimPolicy)
	for _, tc := range []struct {
		name  string
		args  []string
		stdin string
		code  int
		want  string
	}{
		{"no inbound", []string{"include", "--policy", write("outbound.xml", "<policies>\n\t<outbound>\n\t\t<base />\n\t</outbound>\n</policies>\n")}, "", 1, "no <inbound> section"},
		{"fragment root", []string{"include", "--policy", "-"}, "<fragment><base /></fragment>", 1, "no <inbound> section"},
		{"malformed", []string{"include", "--policy", write("open.xml", "<policies><inbound><base /></policies>")}, "", 1, "malformed"},
		{"remove from no inbound", []string{"include", "--remove", "--policy", write("frag.xml", "<fragment />")}, "", 1, "no <inbound> section"},
		{"fragment id starts with a digit", []string{"include", "--policy", policy, "--fragment-id", "1x"}, "", 2, "--fragment-id"},
		{"fragment id with underscore", []string{"include", "--policy", policy, "--fragment-id", "api_guard"}, "", 2, "invalid fragment id"},
		{"empty fragment id", []string{"include", "--policy", policy, "--fragment-id", ""}, "", 2, "invalid fragment id"},
		{"no policy", []string{"include"}, "", 2, "--policy FILE is required"},
		{"extra argument", []string{"include", "--policy", policy, "more.xml"}, "", 2, "--policy FILE is required"},
		{"unknown flag", []string{"include", "--policy", policy, "--force"}, "", 2, "not defined"},
		{"missing file", []string{"include", "--policy", filepath.Join(dir, "missing.xml")}, "", 1, "no such file"},
		{"over the size limit", []string{"include", "--policy", "-"}, "<policies><inbound /></policies>" + strings.Repeat(" ", maxPolicyBytes), 1, "larger than"},
		{"no verb", nil, "", 2, "usage"},
		{"unknown verb", []string{"frobnicate"}, "", 2, "usage"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runAPIMCLI(t, tc.stdin, tc.args...)
			if code != tc.code || out != "" || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d (want %d), stdout %q (want none), stderr %q (want %q)", code, tc.code, out, errOut, tc.want)
			}
		})
	}
}

// fragmentDoc is what a rendered fragment holds, read with encoding/xml.
type fragmentDoc struct {
	addresses []string
	ranges    [][2]string
	limits    []map[string]string // rate-limit-by-key attributes
	root      string
}

func parseFragment(t *testing.T, doc string) fragmentDoc {
	t.Helper()
	var f fragmentDoc
	d := xml.NewDecoder(strings.NewReader(doc))
	var path []string
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("fragment is not well-formed XML: %v\n%s", err, doc)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			attrs := map[string]string{}
			for _, a := range tok.Attr {
				attrs[a.Name.Local] = a.Value
			}
			if len(path) == 0 {
				f.root = tok.Name.Local
			}
			path = append(path, tok.Name.Local)
			switch tok.Name.Local {
			case "address-range":
				f.ranges = append(f.ranges, [2]string{attrs["from"], attrs["to"]})
			case "rate-limit-by-key":
				f.limits = append(f.limits, attrs)
			}
		case xml.CharData:
			if len(path) > 0 && path[len(path)-1] == "address" {
				f.addresses = append(f.addresses, string(tok))
			}
		case xml.EndElement:
			path = path[:len(path)-1]
		}
	}
	return f
}

func TestAPIMFragment(t *testing.T) {
	dir := t.TempDir()
	blocks := filepath.Join(dir, "blocks.txt")
	os.WriteFile(blocks, []byte("# from the SOC\n2a01:111:f400::7\n\n45.153.170.0/24  # a range\n"), 0o644)

	code, out, errOut := runAPIMCLI(t, "", "fragment",
		"--block", "45.153.160.140", "--block-file", blocks, "--forwarded", "20.50.2.1",
		"--throttle", "ip:45.153.161.9@echo-api", "--calls", "5", "--period", "30")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	f := parseFragment(t, out)
	if f.root != "fragment" {
		t.Errorf("root <%s>, want <fragment>", f.root)
	}
	if want := []string{"20.50.2.1", "45.153.160.140", "2a01:111:f400::7"}; !slices.Equal(f.addresses, want) {
		t.Errorf("ip-filter addresses %q, want %q", f.addresses, want)
	}
	if want := [][2]string{{"45.153.170.0", "45.153.170.255"}}; !reflect.DeepEqual(f.ranges, want) {
		t.Errorf("ip-filter ranges %q, want %q", f.ranges, want)
	}
	wantLimit := map[string]string{"calls": "5", "renewal-period": "30", "counter-key": "apiguard/ip/45.153.161.9/api/echo-api"}
	if len(f.limits) != 1 || !reflect.DeepEqual(f.limits[0], wantLimit) {
		t.Errorf("rate-limit-by-key %v, want one %v", f.limits, wantLimit)
	}
	for _, want := range []string{`<ip-filter action="forbid">`, "X-Forwarded-For", `context.Api.Id == &quot;echo-api&quot;`} {
		if !strings.Contains(out, want) {
			t.Errorf("fragment lacks %s:\n%s", want, out)
		}
	}
	if want := "4 blocks, 1 forwarded, 1 throttles"; !strings.Contains(errOut, want) || !strings.Contains(errOut, " bytes of 32768") {
		t.Errorf("summary %q, want %q and the size", errOut, want)
	}

	// Nothing to enforce is the empty fragment.
	code, out, _ = runAPIMCLI(t, "", "fragment")
	if code != 0 || out != string(fragment.Empty()) {
		t.Errorf("no blocks: exit %d\n%s", code, out)
	}

	// What does not fit, and what the tier cannot do, is reported with its reason.
	code, out, errOut = runAPIMCLI(t, "", "fragment", "--max-bytes", "200", "--tier", "consumption",
		"--block", "45.153.160.140", "--block", "45.153.160.150", "--block", "45.153.160.160", "--throttle", "subscription:sub-1")
	if code != 0 || len(out) > 200 {
		t.Fatalf("exit %d, %d bytes: %s", code, len(out), errOut)
	}
	for _, want := range []string{"evicted 45.153.160.", "skipped throttle apiguard/subscription/sub-1", "Consumption tier has no rate-limit-by-key", "0 throttles"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("summary lacks %q:\n%s", want, errOut)
		}
	}
}

func TestAPIMFragmentRefuses(t *testing.T) {
	dir := t.TempDir()
	blocks := filepath.Join(dir, "blocks.txt")
	os.WriteFile(blocks, []byte("45.153.160.140\n10.20.30.40 # the gateway\n"), 0o644)
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"private address", []string{"--block", "10.0.0.1"}, 1, "10.0.0.1/32 is never blocked: 10.0.0.0/8: private range"},
		{"Azure platform address", []string{"--block", "168.63.129.16"}, 1, "168.63.129.16/32 is never blocked"},
		{"CIDR over a protected range", []string{"--block", "168.63.0.0/16"}, 1, "never blocked"},
		{"forwarded platform address", []string{"--forwarded", "168.63.129.16"}, 1, "--forwarded: 168.63.129.16/32 is never blocked"},
		{"protected address in a file", []string{"--block-file", blocks}, 1, "blocks.txt:2: 10.20.30.40/32 is never blocked"},
		{"throttle of a protected address", []string{"--throttle", "ip:10.0.0.1"}, 1, `--throttle "ip:10.0.0.1": 10.0.0.1 is never throttled`},
		{"bad address", []string{"--block", "not-an-ip"}, 1, "not an address"},
		{"bad forwarded address", []string{"--forwarded", "45.153.160.0/33"}, 1, "not an address"},
		{"missing block file", []string{"--block-file", filepath.Join(dir, "nope.txt")}, 1, "no such file"},
		{"bad throttle", []string{"--throttle", "claim:sub"}, 1, `--throttle "claim:sub": claim:NAME=VALUE needs '='`},
		{"calls 0", []string{"--calls", "0"}, 2, "--calls 0: must be at least 1"},
		{"period 0", []string{"--period", "0"}, 2, "--period 0: must be 1..300"},
		{"period 301", []string{"--period", "301"}, 2, "--period 301: must be 1..300"},
		{"unknown tier", []string{"--tier", "castle"}, 2, `Tier "castle"`},
		{"consumption throttle", []string{"--consumption-throttle", "maybe"}, 2, `ConsumptionThrottle "maybe"`},
		{"RFC 7239 header", []string{"--forwarded-header", "Forwarded"}, 2, "not supported"},
		{"header with a space", []string{"--forwarded-header", "X Client"}, 2, "not an HTTP header name"},
		{"too many hops", []string{"--trusted-hops", "17"}, 2, "TrustedHops 17"},
		{"no hops", []string{"--trusted-hops", "0"}, 2, "--trusted-hops 0"},
		{"over the limit", []string{"--max-bytes", "40000"}, 2, "MaxBytes 40000"},
		{"max bytes 0", []string{"--max-bytes", "0"}, 2, "--max-bytes 0"},
		{"every bad option at once", []string{"--calls", "0", "--tier", "castle"}, 2, "--calls 0: must be at least 1\napiguard apim fragment: fragment options: Tier"},
		{"argument", []string{"45.153.160.140"}, 2, "unexpected argument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runAPIMCLI(t, "", append([]string{"fragment"}, tc.args...)...)
			if code != tc.code || out != "" || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d (want %d), stdout %q (want none), stderr %q (want %q)", code, tc.code, out, errOut, tc.want)
			}
		})
	}
}

func TestAPIMParseThrottle(t *testing.T) {
	for _, tc := range []struct {
		spec string
		want fragment.Throttle
		err  string // a substring of the error; "" for none
	}{
		{spec: "ip:45.153.161.9", want: fragment.Throttle{Key: fragment.KeyIP, Value: "45.153.161.9"}},
		{spec: "ip:203.0.113.9@echo-api", want: fragment.Throttle{Key: fragment.KeyIP, Value: "203.0.113.9", API: "echo-api"}},
		{spec: "ip:::ffff:45.153.161.9", want: fragment.Throttle{Key: fragment.KeyIP, Value: "45.153.161.9"}},
		{spec: "ip:2A01:111:F400:0::7@orders", want: fragment.Throttle{Key: fragment.KeyIP, Value: "2a01:111:f400::7", API: "orders"}},
		{spec: "subscription:sub-0001", want: fragment.Throttle{Key: fragment.KeySubscription, Value: "sub-0001"}},
		{spec: "subscription:sub-0001@orders-v2", want: fragment.Throttle{Key: fragment.KeySubscription, Value: "sub-0001", API: "orders-v2"}},
		{spec: "claim:sub=bob", want: fragment.Throttle{Key: fragment.KeyClaim, Claim: "sub", Value: "bob"}},
		{spec: "claim:sub=bob@orders-v2", want: fragment.Throttle{Key: fragment.KeyClaim, Claim: "sub", Value: "bob", API: "orders-v2"}},
		{spec: "claim:tid=a=b", want: fragment.Throttle{Key: fragment.KeyClaim, Claim: "tid", Value: "a=b"}},
		{spec: "claim:email=bob@example.com@orders", want: fragment.Throttle{Key: fragment.KeyClaim, Claim: "email", Value: "bob@example.com", API: "orders"}},
		{spec: "claim:email=bob@example.com@", want: fragment.Throttle{Key: fragment.KeyClaim, Claim: "email", Value: "bob@example.com"}},
		{spec: "each-ip@echo-api", want: fragment.Throttle{Key: fragment.KeyIP, API: "echo-api"}},
		{spec: "each-subscription@echo-api", want: fragment.Throttle{Key: fragment.KeySubscription, API: "echo-api"}},
		{spec: "each-claim:oid@echo-api", want: fragment.Throttle{Key: fragment.KeyClaim, Claim: "oid", API: "echo-api"}},

		{spec: "ip:", err: "needs an address"},
		{spec: "ip", err: "needs an address"},
		{spec: "ip:@echo-api", err: "needs an address"},
		{spec: "ip:not-an-ip", err: `"not-an-ip" is not an IP address`},
		{spec: "ip:45.153.161.0/24", err: "is not an IP address"},
		{spec: "ip:fe80::1%eth0", err: "is not an IP address"},
		{spec: "subscription:", err: "needs a subscription id"},
		{spec: "claim:sub", err: "needs '='"},
		{spec: "claim:=bob", err: "needs a claim name"},
		{spec: "claim:sub=", err: "needs a value"},
		{spec: "claim:sub=@orders", err: "needs a value"},
		{spec: "each-ip", err: "needs @API"},
		{spec: "each-ip@", err: "needs an API id after the @"},
		{spec: "each-ip:45.153.161.9@echo-api", err: "takes no value"},
		{spec: "each-subscription:x@echo-api", err: "takes no value"},
		{spec: "each-claim@echo-api", err: "needs a claim name"},
		{spec: "each-claim:sub=bob@echo-api", err: "not a value"},
		{spec: "each-claim:sub", err: "needs @API"},
		{spec: "header:x=1", err: `unknown key "header"`},
		{spec: "", err: "no key"},
		{spec: ":x", err: "no key"},
	} {
		got, err := parseThrottle(tc.spec)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%q: %v", tc.spec, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q: error %v, want %q", tc.spec, err, tc.err)
		case tc.err == "" && got != tc.want:
			t.Errorf("%q: got %+v, want %+v", tc.spec, got, tc.want)
		}
	}

	// Through the command, every throttle gets --calls, --period, severity 2 and a day.
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ths, err := fragmentThrottles([]string{"each-claim:oid@echo-api", "subscription:s1"}, 7, 90, now.Add(apimTTL))
	if err != nil {
		t.Fatal(err)
	}
	for _, th := range ths {
		if th.Calls != 7 || th.Period != 90 || th.Severity != 2 || !th.Expires.Equal(now.Add(24*time.Hour)) {
			t.Errorf("%+v: want calls 7, period 90, severity 2, expiry a day on", th)
		}
	}
}

// TestAPIMIncludeFixtures puts the include into every real policy next to the repository
// and takes it out again: whatever insertion accepts must come back byte for byte.
func TestAPIMIncludeFixtures(t *testing.T) {
	if _, err := os.Stat(apimFixturesDir); err != nil {
		t.Skipf("real APIM policies not available at %s (%v): skipping", apimFixturesDir, err)
	}
	var inserted, present, refused int
	err := filepath.WalkDir(apimFixturesDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		doc, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(apimFixturesDir, path)
		code, out, errOut := runAPIMCLI(t, "", "include", "--policy", path)
		switch {
		case code == 1:
			refused++
			t.Logf("refused %s: %s", rel, strings.TrimSpace(errOut))
			if out != "" {
				t.Errorf("%s: refused (%s) but wrote %d bytes", rel, strings.TrimSpace(errOut), len(out))
			}
			return nil
		case code != 0:
			t.Errorf("%s: exit %d: %s", rel, code, errOut)
			return nil
		case strings.Contains(errOut, "already present"):
			present++
			if out != string(doc) {
				t.Errorf("%s: include already present, but the output differs", rel)
			}
			return nil
		}
		inserted++
		if n := strings.Count(out, `fragment-id="apiguard-enforce"`) - strings.Count(string(doc), `fragment-id="apiguard-enforce"`); n != 1 {
			t.Errorf("%s: %d includes added, want 1", rel, n)
		}
		code, back, errOut := runAPIMCLI(t, out, "include", "--policy", "-", "--remove")
		if code != 0 || back != string(doc) || !strings.Contains(errOut, "removed") {
			t.Errorf("%s: remove: exit %d, stderr %q; restored byte for byte: %v", rel, code, errOut, back == string(doc))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if inserted == 0 {
		t.Errorf("no fixture under %s took the include", apimFixturesDir)
	}
	t.Logf("%d files: %d inserted and removed again, %d already present, %d refused", inserted+present+refused, inserted, present, refused)
}
