package detect

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDefaultConfigIsValid(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	// Defaults that the README and the peers document: keep them in step.
	if c.Flood.Limit != 200 || c.Probing.Threshold != 11 || c.Probing.MinErrorShare != 0.5 || c.BruteForce.AuthFailures != 5 ||
		time.Duration(c.BruteForce.Span) != 10*time.Minute || c.CredentialStuffing.Threshold != 10 ||
		c.Enumeration.Threshold != 50 || c.Enumeration.Overrides["?author"] != 6 || time.Duration(c.Window) != 5*time.Minute {
		t.Fatalf("defaults changed: %+v", c)
	}
}

// Validate names every problem at once, by JSON path.
func TestValidateNamesEveryProblem(t *testing.T) {
	c := DefaultConfig()
	c.Window = Duration(90*time.Second + 500*time.Millisecond)
	c.AllowedLateness = Duration(time.Hour)
	c.Detectors = []string{"flood", "flood", "ddos"}
	c.MinConfidence = 1
	c.Shared = SharedConfig{MinIdentities: 1, MinIdentifiedShare: 0}
	c.Flood = FloodConfig{Limit: 0, PerAPI: map[string]int{"": 5, "search": 0}}
	c.RateSpike = RateSpikeConfig{Factor: 1, MinRequests: 0, MinHistory: 0}
	c.Probing = ProbingConfig{Threshold: 65, Statuses: []int{404, 700}, StaticExtensions: []string{"css"}}
	c.BruteForce = BruteForceConfig{Span: Duration(7 * time.Minute), AuthFailures: 0, FailedLogins: -1, AuthStatuses: nil,
		LoginPaths: []string{"login"}, MinFailureShare: 2, LoginAttempts: 0, LoginAttemptsFactor: 0.5,
		LoginFailureStatuses: []int{99}, LoginWords: []string{"Log-In"}, RedirectOnSuccess: []string{"wp-login.php"}}
	c.CredentialStuffing = CredentialStuffingConfig{Threshold: 1, MinFailingShare: 2}
	c.Enumeration = EnumerationConfig{Threshold: 1, Overrides: map[string]int{"author": 6, "?id": 1}, IgnoreParams: []string{"a=b"}}
	c.Exfiltration = ExfiltrationConfig{MinBytes: 0, Factor: 0.5, MinHistory: 20000}
	err := c.Validate()
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("want a *ConfigError, got %v", err)
	}
	for _, name := range []string{"window:", "allowed_lateness:", "detectors: \"flood\" is listed twice", "detectors: \"ddos\"",
		"min_confidence:", "shared.min_identities:", "shared.min_identified_share:", "flood.limit:", "flood.per_api: \"\"",
		"flood.per_api.search:", "rate_spike.factor:", "rate_spike.min_requests:", "rate_spike.min_history:",
		"probing.threshold:", "probing.statuses: 700", "probing.static_extensions:", "brute_force.span:",
		"brute_force.auth_failures:", "brute_force.failed_logins:", "brute_force.min_failure_share:",
		"brute_force.login_attempts:", "brute_force.login_attempts_factor:", "brute_force.login_failure_statuses: 99",
		"brute_force.login_words:", "brute_force.redirect_on_success:", "brute_force.auth_statuses: empty", "brute_force.login_paths:",
		"credential_stuffing.threshold:", "credential_stuffing.min_failing_share:", "enumeration.threshold:",
		"enumeration.overrides: \"author\"", "enumeration.overrides.?id:", "enumeration.ignore_params:",
		"exfiltration.min_bytes:", "exfiltration.factor:", "exfiltration.min_history:", "exfiltration.run_responses:",
		"exfiltration.run_min_bytes:", "flood.burst_queries:", "flood.burst_span:", "probing.rotating_user_agents:",
		"probing.rotating_min_errors:", "probing.malformed:", "probing.marker_weight:"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("the error does not name %q:\n%v", name, err)
		}
	}
	if len(ce.Problems) != 44 {
		t.Errorf("%d problems, want 44:\n%v", len(ce.Problems), err)
	}
}

// The example configuration (testdata/config.json) loads: durations as strings, left
// out fields keep their defaults, unknown fields are refused.
func TestParseConfig(t *testing.T) {
	raw, err := os.ReadFile("testdata/config.json")
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseConfig(raw)
	if err != nil {
		t.Fatal(err)
	}
	if c.Flood.PerAPI["search"] != 1000 || time.Duration(c.AllowedLateness) != 2*time.Minute || c.Probing.Threshold != 12 {
		t.Fatalf("config %+v", c)
	}
	if c.Enumeration.Threshold != DefaultConfig().Enumeration.Threshold {
		t.Fatal("a field left out lost its default")
	}
	if _, err := ParseConfig([]byte(`{"flood":{"limt":5}}`)); err == nil || !strings.Contains(err.Error(), "limt") {
		t.Fatalf("unknown field: %v", err)
	}
	if _, err := ParseConfig([]byte(`{"window":"5 minutes"}`)); err == nil {
		t.Fatal("bad duration accepted")
	}
	if c, err := ParseConfig([]byte(`{"window":600,"brute_force":{"span":"20m"}}`)); err != nil || time.Duration(c.Window) != 10*time.Minute {
		t.Fatalf("seconds as a number: %v %v", c, err)
	}
	// Round trip: the defaults marshal to JSON that parses back to themselves.
	def := DefaultConfig()
	b, _ := json.Marshal(def)
	back, err := ParseConfig(b)
	if err != nil || !reflect.DeepEqual(*back, def) {
		t.Fatalf("round trip: %v\n%s", err, b)
	}
}
