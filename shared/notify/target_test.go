package notify

import (
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// settings is what lookup finds: secretSetting names another app setting.
var settings = map[string]string{
	"SIEM_KEY":  "s3cr3t-value",
	"CRLF_KEY":  "a\r\nInjected: yes",
	"EMPTY_KEY": "",
}

func lookup(name string) (string, bool) {
	v, ok := settings[name]
	return v, ok
}

// parseCases feed the table test and the fuzz seed corpus. A case either gives
// targets, or errors that contain every one of errs.
var parseCases = []struct {
	name    string
	setting string
	want    []Target
	errs    []string
}{
	{name: "empty", setting: "", want: nil},
	{name: "blank", setting: " \n ", want: nil},
	{name: "no targets", setting: "[]", want: nil},
	{
		name: "all three kinds",
		setting: `[
			{"name": "siem", "url": "https://siem.example/api/events", "kind": "cloudevents",
			 "types": ["apiguard.block.", "apiguard.health.changed"], "header": "x-functions-key", "secretSetting": "SIEM_KEY"},
			{"name": "soc", "url": "https://contoso.webhook.office.com/webhookb2/abc", "kind": "teams"},
			{"name": "ops", "url": "https://hooks.slack.com/services/T000/B000/XXX", "kind": "slack", "types": ["apiguard.decision.pending"]}
		]`,
		want: []Target{
			{Name: "siem", URL: "https://siem.example/api/events", Kind: KindCloudEvents, Types: []string{"apiguard.block.", TypeHealthChanged}, Header: "x-functions-key", Secret: "s3cr3t-value"},
			{Name: "soc", URL: "https://contoso.webhook.office.com/webhookb2/abc", Kind: KindTeams},
			{Name: "ops", URL: "https://hooks.slack.com/services/T000/B000/XXX", Kind: KindSlack, Types: []string{TypeDecisionPending}},
		},
	},
	{
		name:    "http for loopback hosts only",
		setting: `[{"name":"a","url":"http://127.0.0.1:8080/x","kind":"slack"},{"name":"b","url":"http://localhost/x","kind":"slack"},{"name":"c","url":"http://[::1]:9/x","kind":"slack"}]`,
		want: []Target{
			{Name: "a", URL: "http://127.0.0.1:8080/x", Kind: KindSlack},
			{Name: "b", URL: "http://localhost/x", Kind: KindSlack},
			{Name: "c", URL: "http://[::1]:9/x", Kind: KindSlack},
		},
	},
	{
		name:    "a repeated type is kept once",
		setting: `[{"name":"a","url":"https://a.example","kind":"teams","types":["apiguard.block.","apiguard.block."]}]`,
		want:    []Target{{Name: "a", URL: "https://a.example", Kind: KindTeams, Types: []string{"apiguard.block."}}},
	},
	{name: "not JSON", setting: `{`, errs: []string{"not a JSON array"}},
	{name: "an object, not an array", setting: `{"name":"a"}`, errs: []string{"not a JSON array"}},
	{name: "text after the array", setting: `[] []`, errs: []string{"text after the JSON array"}},
	{name: "an element that is not an object", setting: `[1, null]`, errs: []string{"target 0: not a JSON object", "target 1: not a JSON object"}},
	{
		name:    "unknown fields, all of them, spelled exactly",
		setting: `[{"name":"a","url":"https://a.example","kind":"teams","secret":"inline!","Header":"x"}]`,
		errs:    []string{`target 0 (a): unknown field "secret"`, `target 0 (a): unknown field "Header"`},
	},
	{name: "wrong type", setting: `[{"name":"a","url":"https://a.example","kind":"teams","types":"apiguard.block."}]`, errs: []string{`target 0 (a): field "types": expected []string, got a JSON string`}},
	{
		name:    "http elsewhere",
		setting: `[{"name":"a","url":"http://hooks.slack.com/services/SECRETPATH","kind":"slack"}]`,
		errs:    []string{"target 0 (a): url is http://hooks.slack.com: only https"},
	},
	{
		name:    "other problems with the url",
		setting: `[{"name":"a","kind":"slack"},{"name":"b","url":"/relative","kind":"slack"},{"name":"c","url":"ftp://x.example/f","kind":"slack"},{"name":"d","url":"https://user:pw@x.example/","kind":"slack"},{"name":"e","url":"https://x.example/#frag","kind":"slack"}]`,
		errs:    []string{"(a): url is missing", "(b): url is not an absolute URL", `(c): url scheme "ftp" is not https`, "(d): url carries user information", "(e): url has a fragment"},
	},
	{
		name:    "unknown kind",
		setting: `[{"name":"a","url":"https://a.example","kind":"email"},{"name":"b","url":"https://a.example"}]`,
		errs:    []string{`(a): kind "email" is not one of`, `(b): kind "" is not one of`},
	},
	{
		name:    "unknown types",
		setting: `[{"name":"a","url":"https://a.example","kind":"teams","types":["apiguard.blok.","apiguard.block","","apiguard.nothing."]}]`,
		errs:    []string{`"apiguard.blok." is neither`, `"apiguard.block" is neither`, `"" is neither`, `"apiguard.nothing." is neither`},
	},
	{
		name:    "header without secret and the reverse",
		setting: `[{"name":"a","url":"https://a.example","kind":"cloudevents","header":"Authorization"},{"name":"b","url":"https://a.example","kind":"cloudevents","secretSetting":"SIEM_KEY"}]`,
		errs:    []string{`(a): header "Authorization" has no secretSetting`, `(b): secretSetting "SIEM_KEY" names no header`},
	},
	{
		name:    "secret setting missing, empty or unsendable",
		setting: `[{"name":"a","url":"https://a.example","kind":"cloudevents","header":"x-k","secretSetting":"NOPE"},{"name":"b","url":"https://a.example","kind":"cloudevents","header":"x-k","secretSetting":"EMPTY_KEY"},{"name":"c","url":"https://a.example","kind":"cloudevents","header":"x-k","secretSetting":"CRLF_KEY"}]`,
		errs:    []string{`(a): secretSetting "NOPE" is not set`, `(b): secretSetting "EMPTY_KEY" is not set`, `(c): the value of secretSetting "CRLF_KEY" cannot be sent`},
	},
	{
		name:    "bad or reserved header names",
		setting: `[{"name":"a","url":"https://a.example","kind":"cloudevents","header":"x k","secretSetting":"SIEM_KEY"},{"name":"b","url":"https://a.example","kind":"cloudevents","header":"content-type","secretSetting":"SIEM_KEY"}]`,
		errs:    []string{`(a): header "x k" is not a valid header name`, `(b): header "content-type" is set by the dispatcher`},
	},
	{
		name:    "names: missing and duplicate (any case)",
		setting: `[{"url":"https://a.example","kind":"teams"},{"name":"ops","url":"https://a.example","kind":"teams"},{"name":"OPS","url":"https://b.example","kind":"teams"}]`,
		errs:    []string{"target 0: name is missing", `target 2 (OPS): name "OPS" is already used by target 1`},
	},
	{
		name:    "every problem of every target at once",
		setting: `[{"name":"a","url":"http://a.example","kind":"fax","types":["x"],"header":"h"},{"name":"a","url":"https://b.example","kind":"slack"}]`,
		errs:    []string{"(a): url is http://a.example", `(a): kind "fax"`, `"x" is neither`, `(a): header "h" has no secretSetting`, `target 1 (a): name "a" is already used by target 0`},
	},
}

func TestParseTargets(t *testing.T) {
	for _, c := range parseCases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseTargets(c.setting, lookup)
			if c.errs == nil {
				if err != nil {
					t.Fatalf("error: %v", err)
				}
				if !reflect.DeepEqual(got, c.want) {
					t.Errorf("got  %+v\nwant %+v", got, c.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, targets %+v", got)
			}
			if got != nil {
				t.Errorf("targets %+v returned with an error", got)
			}
			msg := strings.ReplaceAll(err.Error(), "notification target", "target")
			for _, want := range c.errs {
				if !strings.Contains(msg, want) {
					t.Errorf("error does not say %q:\n%s", want, msg)
				}
			}
			checkErrorHidesSecrets(t, c.setting, err)
		})
	}
}

// checkErrorHidesSecrets: an error never repeats a secret's value, a URL's path or its
// user information.
func checkErrorHidesSecrets(t *testing.T, setting string, err error) {
	t.Helper()
	msg := err.Error()
	for _, v := range settings {
		if len(v) > 3 && strings.Contains(msg, v) {
			t.Errorf("error repeats a secret: %s", msg)
		}
	}
	for _, word := range []string{"SECRETPATH", "/services/", "pw@"} {
		if strings.Contains(setting, word) && strings.Contains(msg, word) {
			t.Errorf("error repeats %q from a URL: %s", word, msg)
		}
	}
}

func TestWants(t *testing.T) {
	all := Target{}
	blocks := Target{Types: []string{"apiguard.block."}}
	exact := Target{Types: []string{TypeDecisionPending}}
	for _, c := range []struct {
		t    Target
		typ  string
		want bool
	}{
		{all, TypeHealthChanged, true},
		{blocks, TypeBlockRemoved, true},
		{blocks, TypeDecisionPending, false},
		{blocks, "apiguard.blockade", false},
		{exact, TypeDecisionPending, true},
		{exact, TypeDecisionPending + ".more", false},
	} {
		if got := c.t.Wants(c.typ); got != c.want {
			t.Errorf("%v wants %s: %v, want %v", c.t.Types, c.typ, got, c.want)
		}
	}
}

// Whatever the setting, ParseTargets either refuses it or returns targets the
// dispatcher can use as they are, and never repeats a secret it looked up in its error.
func FuzzParseTargets(f *testing.F) {
	for _, c := range parseCases {
		f.Add(c.setting)
	}
	f.Fuzz(func(t *testing.T, setting string) {
		got, err := ParseTargets(setting, lookup)
		if err != nil {
			if got != nil {
				t.Fatalf("targets with an error")
			}
			if !strings.Contains(setting, "s3cr3t-value") && strings.Contains(err.Error(), "s3cr3t-value") {
				t.Fatalf("error repeats a secret: %v", err)
			}
			return
		}
		names := map[string]bool{}
		for _, tg := range got {
			if tg.Name == "" || names[strings.ToLower(tg.Name)] {
				t.Fatalf("missing or repeated name %q", tg.Name)
			}
			names[strings.ToLower(tg.Name)] = true
			u, err := url.Parse(tg.URL)
			if err != nil || u.Host == "" || !(u.Scheme == "https" || u.Scheme == "http" && loopback(u.Hostname())) {
				t.Fatalf("url %q accepted", tg.URL)
			}
			if !slices.Contains(Kinds(), tg.Kind) {
				t.Fatalf("kind %q accepted", tg.Kind)
			}
			if (tg.Header == "") != (tg.Secret == "") || !validHeaderValue(tg.Secret) {
				t.Fatalf("header %q with secret %q", tg.Header, tg.Secret)
			}
			for _, typ := range tg.Types {
				if checkTypeFilter(typ) != "" {
					t.Fatalf("type filter %q accepted", typ)
				}
			}
		}
	})
}
