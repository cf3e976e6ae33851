package config

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestDefaultsAreValid(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Mode != "dryrun" {
		t.Errorf("default mode %q, want dryrun", c.Mode)
	}
	if c.Durations["High"] != 24*time.Hour || c.MaxDuration != 7*24*time.Hour || c.Lookback != 30*24*time.Hour {
		t.Errorf("durations %v max %v lookback %v", c.Durations, c.MaxDuration, c.Lookback)
	}
	if c.MaxBodyBytes != 1<<20 || c.MaxNewPerHour != 100 || c.MaxPerIncident != 20 {
		t.Errorf("limits %d %d %d", c.MaxBodyBytes, c.MaxNewPerHour, c.MaxPerIncident)
	}
	if err := c.RequireTables(); err == nil {
		t.Error("RequireTables passed with no table storage configured")
	}
}

// Every invalid setting is named in one error, not just the first.
func TestEveryProblemNamedAtOnce(t *testing.T) {
	_, err := Load(env(map[string]string{
		"APIGUARD_MODE":                               "yolo",
		"APIGUARD_LOG_LEVEL":                          "loud",
		"APIGUARD_ALLOW_CIDRS":                        "10.0.0.0/8, not-an-ip, 300.1.1.1/24",
		"APIGUARD_DURATION_HIGH":                      "forever",
		"APIGUARD_JITTER":                             "0.9",
		"APIGUARD_MAX_NEW_BLOCKS_PER_HOUR":            "-1",
		"APIGUARD_MAX_BLOCKS_PER_INCIDENT":            "0",
		"APIGUARD_PLAYBOOK":                           "API_SpikeInLatency=nuke",
		"APIGUARD_MODE_OVERRIDES":                     "block_waf=maybe",
		"APIGUARD_TABLE_PREFIX":                       "9bad",
		"APIGUARD_MAX_BODY_BYTES":                     "12",
		"APIGUARD_TABLES_CONNECTION":                  "garbage",
		"APIGUARD_TRIAGE_READS_PER_SECOND":            "100",
		"APIGUARD_TRIAGE_MAX_CAPACITY":                "0",
		"APIGUARD_TRAFFIC_HUB":                        "-logs",
		"APIGUARD_TRAFFIC_HUB_CONSUMER_GROUP":         "$default group",
		"EventHubConnection__fullyQualifiedNamespace": "sb://ns.servicebus.windows.net/",
	}))
	if err == nil {
		t.Fatal("no error")
	}
	for _, name := range []string{"APIGUARD_MODE:", "APIGUARD_LOG_LEVEL", "not-an-ip", "300.1.1.1/24", "APIGUARD_DURATION_HIGH",
		"APIGUARD_JITTER", "APIGUARD_MAX_NEW_BLOCKS_PER_HOUR", "APIGUARD_MAX_BLOCKS_PER_INCIDENT", "nuke", "maybe", "APIGUARD_TABLE_PREFIX", "APIGUARD_MAX_BODY_BYTES",
		"APIGUARD_TABLES_CONNECTION", "APIGUARD_TRIAGE_READS_PER_SECOND", "APIGUARD_TRIAGE_MAX_CAPACITY",
		"APIGUARD_TRAFFIC_HUB:", "APIGUARD_TRAFFIC_HUB_CONSUMER_GROUP:", "EventHubConnection__fullyQualifiedNamespace:"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s:\n%v", name, err)
		}
	}
}

func TestOverridesAndAllowList(t *testing.T) {
	c, err := Load(env(map[string]string{
		"APIGUARD_MODE":           "enforce",
		"APIGUARD_MODE_OVERRIDES": "Block_WAF=dryrun",
		"APIGUARD_PLAYBOOK":       "API_SpikeInLatency=throttle, Custom_Type=block_apim",
		"APIGUARD_ALLOW_CIDRS":    "45.153.160.0/24, 2a01:111::1",
		"APIGUARD_DURATION_LOW":   "1.5d",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.ModeFor("block_waf") != "dryrun" || c.ModeFor("throttle") != "enforce" {
		t.Errorf("modes: %v", c.ModeOverrides)
	}
	if c.Playbook["API_SpikeInLatency"] != "throttle" || c.Playbook["Custom_Type"] != "block_apim" {
		t.Errorf("playbook: %v", c.Playbook)
	}
	if len(c.AllowList) != 2 || c.AllowList[1].Bits() != 128 {
		t.Errorf("allow list: %v", c.AllowList)
	}
	if c.Durations["Low"] != 36*time.Hour {
		t.Errorf("1.5d = %v", c.Durations["Low"])
	}
}

// Event Hubs names are checked at start-up: the host would only fail when the
// listener starts, with a message about the trigger rather than the setting.
func TestEventHubSettings(t *testing.T) {
	for _, tc := range []struct {
		hub, group, namespace string
		ok                    bool
	}{
		{"apiguard-traffic", "apiguard", "apiguard-eh.servicebus.windows.net", true},
		{"insights-logs-gatewaylogs", "$Default", "", true}, // the hub diagnostic settings name by category
		{"a", "g_1.x", "ns.servicebus.chinacloudapi.cn", true},
		{strings.Repeat("h", 256), strings.Repeat("g", 50), "ns.servicebus.windows.net", true},
		{strings.Repeat("h", 257), "apiguard", "", false},
		{"logs", strings.Repeat("g", 51), "", false},
		{"logs-", "apiguard", "", false},
		{"lo gs", "apiguard", "", false},
		{"logs", "$Default2", "", false},
		{"logs", "apiguard", "ns", false},
		{"logs", "apiguard", "https://ns.servicebus.windows.net", false},
		{"logs", "apiguard", "ns.servicebus.windows.net:443", false},
		{"logs", "apiguard", "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k", false},
		{"logs", "apiguard", "ns..windows.net", false},
	} {
		c, err := Load(env(map[string]string{"APIGUARD_TRAFFIC_HUB": tc.hub, "APIGUARD_TRAFFIC_HUB_CONSUMER_GROUP": tc.group,
			"EventHubConnection__fullyQualifiedNamespace": tc.namespace}))
		if (err == nil) != tc.ok {
			t.Errorf("hub %q group %q namespace %q: err %v, want ok=%v", tc.hub, tc.group, tc.namespace, err, tc.ok)
			continue
		}
		if err == nil && (c.TrafficHub != tc.hub || c.TrafficHubConsumerGroup != tc.group || c.EventHubSpace != tc.namespace) {
			t.Errorf("read %q %q %q", c.TrafficHub, c.TrafficHubConsumerGroup, c.EventHubSpace)
		}
	}
	if c, err := Load(env(nil)); err != nil || c.TrafficHub != "apiguard-traffic" || c.TrafficHubConsumerGroup != "apiguard" {
		t.Errorf("defaults: %+v %v", c, err)
	}
}

func declared() []string {
	var names []string
	for _, s := range Settings {
		names = append(names, s.Name)
	}
	sort.Strings(names)
	return names
}

// The sample settings file lists exactly the settings the code reads (plus the
// Functions host's own), each valid.
func TestSampleSettingsMatchCode(t *testing.T) {
	raw, err := os.ReadFile("../../local.settings.sample.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ Values map[string]string }
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	host := map[string]bool{"FUNCTIONS_WORKER_RUNTIME": true, "AzureWebJobsStorage": true}
	var inSample []string
	for k := range f.Values {
		if !host[k] {
			inSample = append(inSample, k)
		}
	}
	sort.Strings(inSample)
	if strings.Join(inSample, ",") != strings.Join(declared(), ",") {
		t.Errorf("sample settings and code differ:\n sample: %v\n code:   %v", inSample, declared())
	}
	if _, err := Load(env(f.Values)); err != nil {
		t.Errorf("sample settings are invalid: %v", err)
	}
}

// The README's configuration table documents every setting.
func TestReadmeDocumentsEverySetting(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(raw)
	if i := strings.Index(section, "## Configuration"); i >= 0 {
		section = section[i:]
		if j := strings.Index(section[3:], "\n## "); j >= 0 {
			section = section[:j+3]
		}
	}
	rows := regexp.MustCompile("(?m)^\\| `([A-Za-z_]+)` \\|").FindAllStringSubmatch(section, -1)
	var documented []string
	for _, r := range rows {
		documented = append(documented, r[1])
	}
	sort.Strings(documented)
	if strings.Join(documented, ",") != strings.Join(declared(), ",") {
		t.Errorf("README table and code differ:\n readme: %v\n code:   %v", documented, declared())
	}
}

// A setting's documentation that sends the reader to a README section names one that
// exists.
func TestSettingsPointToRealSections(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	headings := regexp.MustCompile("(?m)^#+ (.+)$").FindAllStringSubmatch(string(raw), -1)
	see := regexp.MustCompile(`see "([^"]+)"`)
	for _, st := range Settings {
		for _, m := range see.FindAllStringSubmatch(st.Doc, -1) {
			found := false
			for _, h := range headings {
				found = found || strings.TrimSpace(h[1]) == m[1]
			}
			if !found {
				t.Errorf("%s points to README section %q, which does not exist", st.Name, m[1])
			}
		}
	}
}

// Nothing outside this package reads the environment, so the table above is complete.
func TestOnlyConfigReadsEnvironment(t *testing.T) {
	re := regexp.MustCompile(`os\.(Getenv|LookupEnv|Environ)\(`)
	allowed := map[string]bool{
		"../../host.go":  true, // FUNCTIONS_CUSTOMHANDLER_PORT, set by the host itself
		"../../main.go":  true,
		"../../serve.go": true, // layers the environment over local.settings.json
		"../../cli.go":   true, // the operator's shell (APIGUARD_URL, APIGUARD_API_KEY, USER), not app settings
	}
	var files []string
	for _, glob := range []string{"../../*.go", "../../handlers/*.go", "../../shared/*/*.go", "../../shared/*/*/*.go"} {
		m, _ := filepathGlob(glob)
		files = append(files, m...)
	}
	if len(files) < 10 {
		t.Fatalf("found only %d Go files: wrong working directory?", len(files))
	}
	for _, f := range files {
		if allowed[f] || strings.HasSuffix(f, "_test.go") || strings.Contains(f, "/shared/config/") || strings.Contains(f, "azuritetest") {
			continue
		}
		raw, _ := os.ReadFile(f)
		if re.Match(raw) {
			t.Errorf("%s reads the environment directly: declare the setting in config.Settings", f)
		}
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"90s": 90 * time.Second, "4h": 4 * time.Hour, "7d": 168 * time.Hour, "0.5d": 12 * time.Hour} {
		got, err := ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "d", "xd", "4 hours"} {
		if _, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) accepted", in)
		}
	}
}

var filepathGlob = filepath.Glob
