package detect

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
)

// Bounds that keep every state small whatever the traffic (see README.md, "Memory").
const (
	maxPerAPI   = 16 // flood overrides: per-API counters a window may carry
	maxWindow   = time.Hour
	minWindow   = time.Minute
	maxHistory  = 10000
	maxParamLen = 64
)

// Config holds every threshold. Start from DefaultConfig, override what you need (JSON:
// `apiguard replay --config FILE`, APIGUARD_DETECT_CONFIG), then Validate. Fields left
// out of the JSON keep their defaults; maps and lists given replace the default ones.
type Config struct {
	// Window is the event-time window every count is kept in, aligned to the Unix epoch
	// (12:00, 12:05, ... for 5m). Whole seconds, 1m to 1h.
	Window Duration `json:"window"`
	// AllowedLateness is how long after a window ends (in the key's own event time)
	// records for it are still counted; later ones are counted as late and dropped.
	// At most Window: a state remembers the current and the previous window only.
	AllowedLateness Duration `json:"allowed_lateness"`
	// Detectors are the detectors that run (default: all of them).
	Detectors []string `json:"detectors"`
	// MinConfidence drops findings below this confidence (0 reports all; a finding just
	// over its threshold has confidence 0.5, one at twice its threshold 0.75).
	MinConfidence float64 `json:"min_confidence"`

	Shared             SharedConfig             `json:"shared"`
	Flood              FloodConfig              `json:"flood"`
	RateSpike          RateSpikeConfig          `json:"rate_spike"`
	Probing            ProbingConfig            `json:"probing"`
	BruteForce         BruteForceConfig         `json:"brute_force"`
	CredentialStuffing CredentialStuffingConfig `json:"credential_stuffing"`
	Enumeration        EnumerationConfig        `json:"enumeration"`
	Exfiltration       ExfiltrationConfig       `json:"exfiltration"`
}

// SharedConfig says when an address (or a subscription) is shared by many identities:
// its own detectors then judge only its traffic that carries no narrower identity, and
// the identity-keyed detectors judge the rest (README.md, "Shared addresses").
type SharedConfig struct {
	// MinIdentities is how many distinct narrower identities (user ids, else
	// subscription ids) a key must carry in a window to count as shared.
	MinIdentities int `json:"min_identities"`
	// MinIdentifiedShare is the share of its requests that must carry one.
	MinIdentifiedShare float64 `json:"min_identified_share"`
}

// FloodConfig: requests per key per window above an absolute limit.
type FloodConfig struct {
	// Limit is the number of requests allowed per window; more fire (AWS WAF's rate
	// rule semantics: 100 allowed, the 101st is a flood).
	Limit int `json:"limit"`
	// PerAPI gives APIs (by APIM API id, as in traffic.Record.API) their own limit;
	// requests to such an API count against it instead of Limit. At most 16.
	PerAPI map[string]int `json:"per_api"`
	// BurstQueries is how many requests to one path, each with a query string unlike
	// the one before (cache busting), from one client and user agent within BurstSpan,
	// fire: a flood too short for Limit. Counted in buckets aligned like windows, so a
	// burst across a boundary counts in halves.
	BurstQueries int `json:"burst_queries"`
	// BurstSpan is the bucket: whole seconds, 1s to 1m.
	BurstSpan Duration `json:"burst_span"`
}

// RateSpikeConfig: a key's window count against its own baseline and the population's.
type RateSpikeConfig struct {
	// Factor is how many times the references the count must exceed.
	Factor float64 `json:"factor"`
	// MinRequests is the least count that can fire at all.
	MinRequests int `json:"min_requests"`
	// MinHistory is how many earlier active windows a baseline (the key's own, or an
	// operation population's) needs before it is used.
	MinHistory int `json:"min_history"`
}

// ProbingConfig: distinct error paths per key per window.
type ProbingConfig struct {
	// Threshold is the number of distinct error paths that fires (at most 64: counted
	// exactly).
	Threshold int `json:"threshold"`
	// Statuses are the response codes that count as probing errors.
	Statuses []int `json:"statuses"`
	// StaticExtensions are ignored (a missing stylesheet is not a probe), compared
	// case-insensitively with the path's extension, dot included.
	StaticExtensions []string `json:"static_extensions"`
	// MinErrorShare is the share of the key's requests in the window that must be
	// probing errors (0 to 1). A scanner's requests mostly fail; a crawler following a
	// site's broken links mostly succeeds (MJ12bot in the background log: 10 distinct
	// 404s in 25 requests).
	MinErrorShare float64 `json:"min_error_share"`
	// RotatingUserAgents is how many distinct user agents on a key's probing errors
	// fire, with at least RotatingMinErrors such errors and MinErrorShare of its
	// requests: a client getting 400s while it rotates its user agent (at most 64).
	RotatingUserAgents int `json:"rotating_user_agents"`
	// RotatingMinErrors is the least number of errors for RotatingUserAgents to judge.
	RotatingMinErrors int `json:"rotating_min_errors"`
	// Malformed is how many requests that were not HTTP (a TLS handshake sent to the
	// HTTP port, binary junk) a key must send in a window to fire, with MinErrorShare.
	Malformed int `json:"malformed"`
	// MarkerWeight is the total weight of distinct probe markers (shared/detect/probe:
	// sensitive files, traversal, injection payloads, admin interfaces, web shells,
	// scanner user agents) a key's requests must carry in a window to fire, whatever
	// they were answered. Each distinct marker counts once.
	MarkerWeight int `json:"marker_weight"`
}

// BruteForceConfig: failed logins, authentication failures and unusual login volume per
// key. A login attempt (a POST to a login endpoint) counts as failed only when its
// answer says so for that endpoint: an ordinary client logs in now and then, mostly
// successfully, and is not a brute forcer for it.
type BruteForceConfig struct {
	// Span is the time the counts are taken over: Window or twice Window (the current
	// and the previous window).
	Span Duration `json:"span"`
	// FailedLogins is the number of failed login attempts that fires: answered with an
	// AuthStatuses or LoginFailureStatuses code, or with a 2xx where success is a
	// redirect (RedirectOnSuccess, or learnt from the endpoint's population).
	FailedLogins int `json:"failed_logins"`
	// AuthFailures is the number of other requests answered with an AuthStatuses code
	// that fires (a guessed API key or token).
	AuthFailures int `json:"auth_failures"`
	// MinFailureShare is the share of the key's login attempts (for FailedLogins) or
	// requests (for AuthFailures) that must have failed: a busy NAT whose users mistype
	// a password now and then mostly succeeds; a guesser mostly fails.
	MinFailureShare float64 `json:"min_failure_share"`
	// LoginAttempts is the number of login attempts that fires where the answers do not
	// tell failure from success (none failed, most were 2xx), when it is also over
	// LoginAttemptsFactor times the endpoint population's typical attempts per client.
	// Without a learnt population, volume alone never fires.
	LoginAttempts int `json:"login_attempts"`
	// LoginAttemptsFactor is how many times the population's typical attempts per client
	// a key's attempts must exceed.
	LoginAttemptsFactor float64 `json:"login_attempts_factor"`
	// AuthStatuses are the codes that count as authentication failures.
	AuthStatuses []int `json:"auth_statuses"`
	// LoginFailureStatuses are further codes that mean a login attempt failed (a JSON
	// login answering 400 or 422 to wrong credentials).
	LoginFailureStatuses []int `json:"login_failure_statuses"`
	// LoginPaths are compared case-insensitively, trailing slash ignored, with the
	// request path and with the operation template: equal, or (for entries of two or
	// more segments) as a suffix, so /api/v1/oauth/token matches /oauth/token.
	LoginPaths []string `json:"login_paths"`
	// LoginWords make a path a login endpoint when one of its segments, at any depth, is
	// one of them or is made of words joined by "-", "_" or "." one of which is
	// (/apps/login, /ghost/api/admin/session, /oauth2/v2.0/token, /admin-login.php).
	LoginWords []string `json:"login_words"`
	// RedirectOnSuccess are login paths (matched as a suffix: under any prefix) that answer a
	// successful login with a redirect and a failed one with 200 (WordPress, Joomla):
	// a 2xx there is a failed attempt, unless the endpoint's population says otherwise
	// (several clients answered 2xx, none redirected).
	RedirectOnSuccess []string `json:"redirect_on_success"`
}

// CredentialStuffingConfig: distinct identities failing from one address.
type CredentialStuffingConfig struct {
	// Threshold is the number of distinct identities (user ids, else subscription ids)
	// with an authentication failure or a login attempt that fires (at most 64).
	Threshold int `json:"threshold"`
	// MinFailingShare is the share of all identities seen from the key that must be
	// failing: an office NAT where 3 of 500 users mistype a password is not stuffing.
	MinFailingShare float64 `json:"min_failing_share"`
}

// EnumerationConfig: distinct object ids per path template per key per window.
type EnumerationConfig struct {
	// Threshold is the number of distinct ids in one template that fires.
	Threshold int `json:"threshold"`
	// Overrides set the threshold of one template ("/users/{id}"), one template's query
	// parameter ("/?author"), or a query parameter in any template ("?author").
	Overrides map[string]int `json:"overrides"`
	// IgnoreParams are query parameters whose values are never object ids (paging,
	// sorting, cache busting), compared case-insensitively.
	IgnoreParams []string `json:"ignore_params"`
	// MinWalkShare and MinFailureShare say how the ids must have been chosen, besides
	// their number: by counting (a share of the requests whose numeric id is within two
	// of the previous one) or blindly (a share answered 4xx, 429 aside). Ids a client
	// was handed (a list page's rows) are neither, and an ordinary client browsing a
	// catalogue asks for many. Either share reached fires; both 0 judges the count alone.
	MinWalkShare    float64 `json:"min_walk_share"`
	MinFailureShare float64 `json:"min_failure_share"`
}

// ExfiltrationConfig: response bytes per key and operation against baselines.
type ExfiltrationConfig struct {
	// MinBytes is the least response volume per operation per window that can fire.
	MinBytes int64 `json:"min_bytes"`
	// Factor is how many times the references the volume must exceed.
	Factor float64 `json:"factor"`
	// MinHistory is how many earlier windows a baseline needs before it is used.
	MinHistory int `json:"min_history"`
	// RunResponses is how many large responses (recent ones weighing more: README.md,
	// "exfiltration runs") a run on one operation needs, each on average more than
	// Factor times the operation's typical response, to fire even though no window's
	// volume reaches MinBytes. A file fetched once is not a run.
	RunResponses int `json:"run_responses"`
	// RunMinBytes is the least volume such a run needs.
	RunMinBytes int64 `json:"run_min_bytes"`
}

// DefaultConfig returns the defaults; README.md explains each.
func DefaultConfig() Config {
	return Config{
		Window:          Duration(5 * time.Minute),
		AllowedLateness: Duration(5 * time.Minute),
		Detectors:       Implemented(),
		Shared:          SharedConfig{MinIdentities: 10, MinIdentifiedShare: 0.8},
		Flood:           FloodConfig{Limit: 200, BurstQueries: 20, BurstSpan: Duration(2 * time.Second)},
		RateSpike:       RateSpikeConfig{Factor: 10, MinRequests: 50, MinHistory: 6},
		Probing: ProbingConfig{
			Threshold: 11,
			Statuses:  []int{400, 404, 405},
			StaticExtensions: []string{".css", ".js", ".mjs", ".map", ".png", ".jpg", ".jpeg", ".gif", ".ico",
				".svg", ".webp", ".avif", ".bmp", ".woff", ".woff2", ".ttf", ".eot", ".otf", ".mp4", ".webm", ".mp3",
				".wav", ".ogg"},
			MinErrorShare:      0.5,
			RotatingUserAgents: 5,
			RotatingMinErrors:  10,
			Malformed:          5,
			MarkerWeight:       10,
		},
		BruteForce: BruteForceConfig{
			Span:                 Duration(10 * time.Minute),
			FailedLogins:         5,
			AuthFailures:         5,
			MinFailureShare:      0.5,
			LoginAttempts:        30,
			LoginAttemptsFactor:  10,
			AuthStatuses:         []int{401, 403},
			LoginFailureStatuses: []int{400, 422},
			LoginWords:           []string{"login", "logon", "signin", "session", "sessions", "token", "auth", "authenticate"},
			RedirectOnSuccess:    []string{"/wp-login.php", "/administrator/index.php"},
			LoginPaths: []string{"/wp-login.php", "/xmlrpc.php", "/administrator/index.php", "/login", "/logon",
				"/signin", "/sign-in", "/user/login", "/users/login", "/users/sign_in", "/account/login",
				"/accounts/login", "/oauth/token", "/oauth2/token", "/oauth2/v2.0/token", "/connect/token",
				"/token", "/auth", "/auth/login", "/auth/token", "/api/login", "/api/auth", "/api/token",
				"/api/auth/login", "/api/v1/login", "/session", "/sessions"},
		},
		CredentialStuffing: CredentialStuffingConfig{Threshold: 10, MinFailingShare: 0.5},
		Enumeration: EnumerationConfig{
			Threshold:       50,
			MinWalkShare:    0.25,
			MinFailureShare: 0.5,
			Overrides:       map[string]int{"?author": 6},
			IgnoreParams: []string{"page", "pagesize", "page_size", "per_page", "perpage", "limit", "offset",
				"skip", "top", "$top", "$skip", "start", "size", "count", "cursor", "after", "before", "since",
				"until", "from", "to", "sort", "order", "orderby", "$orderby", "fields", "expand", "$expand",
				"filter", "$filter", "q", "query", "search", "lang", "locale", "v", "ver", "version",
				"api-version", "_", "t", "ts", "timestamp", "cb", "cachebuster", "rand", "nonce", "state", "code",
				"callback", "utm_source", "utm_medium", "utm_campaign", "fbclid", "gclid"},
		},
		Exfiltration: ExfiltrationConfig{MinBytes: 10 << 20, Factor: 10, MinHistory: 6, RunResponses: 10, RunMinBytes: 4 << 20},
	}
}

// ConfigError names every invalid threshold.
type ConfigError struct{ Problems []string }

func (e *ConfigError) Error() string {
	return "invalid detector config:\n  " + strings.Join(e.Problems, "\n  ")
}

// ParseConfig reads a JSON configuration over the defaults, rejecting unknown fields,
// and validates it.
func ParseConfig(data []byte) (*Config, error) {
	c := DefaultConfig()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("detector config: %w", err)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Validate checks every field and returns a *ConfigError naming each problem (by its
// JSON path), or nil.
func (c *Config) Validate() error {
	var problems []string
	bad := func(name, format string, args ...any) {
		problems = append(problems, name+": "+fmt.Sprintf(format, args...))
	}
	w := time.Duration(c.Window)
	switch {
	case w < minWindow || w > maxWindow:
		bad("window", "%s is not from %s to %s", w, minWindow, maxWindow)
	case w%time.Second != 0:
		bad("window", "%s is not a whole number of seconds", w)
	}
	if l := time.Duration(c.AllowedLateness); l < 0 || l > w {
		bad("allowed_lateness", "%s is not from 0 to the window (%s): a state keeps one previous window", l, w)
	}
	known := Implemented()
	seen := map[string]bool{}
	for _, d := range c.Detectors {
		if !slices.Contains(known, d) {
			bad("detectors", "%q is not one of %s", d, strings.Join(known, ", "))
		} else if seen[d] {
			bad("detectors", "%q is listed twice", d)
		}
		seen[d] = true
	}
	if !(c.MinConfidence >= 0 && c.MinConfidence < 1) {
		bad("min_confidence", "%v is not from 0 to below 1", c.MinConfidence)
	}

	if c.Shared.MinIdentities < 2 || c.Shared.MinIdentities > sketchK {
		bad("shared.min_identities", "%d is not from 2 to %d", c.Shared.MinIdentities, sketchK)
	}
	if !(c.Shared.MinIdentifiedShare > 0 && c.Shared.MinIdentifiedShare <= 1) {
		bad("shared.min_identified_share", "%v is not above 0 and at most 1", c.Shared.MinIdentifiedShare)
	}

	if c.Flood.Limit < 1 {
		bad("flood.limit", "%d is not a count >= 1", c.Flood.Limit)
	}
	if c.Flood.BurstQueries < 2 {
		bad("flood.burst_queries", "%d is not a count >= 2", c.Flood.BurstQueries)
	}
	if b := time.Duration(c.Flood.BurstSpan); b < time.Second || b > time.Minute || b%time.Second != 0 {
		bad("flood.burst_span", "%s is not a whole number of seconds from 1s to 1m", b)
	}
	if len(c.Flood.PerAPI) > maxPerAPI {
		bad("flood.per_api", "%d APIs: at most %d may have their own limit", len(c.Flood.PerAPI), maxPerAPI)
	}
	for _, api := range sortedMapKeys(c.Flood.PerAPI) {
		if strings.TrimSpace(api) == "" || len(api) > maxAPILen {
			bad("flood.per_api", "%q is not an API id (1 to %d characters)", api, maxAPILen)
		}
		if n := c.Flood.PerAPI[api]; n < 1 {
			bad("flood.per_api."+api, "%d is not a count >= 1", n)
		}
	}

	if !(c.RateSpike.Factor > 1) || math.IsInf(c.RateSpike.Factor, 0) {
		bad("rate_spike.factor", "%v is not a number above 1", c.RateSpike.Factor)
	}
	if c.RateSpike.MinRequests < 1 {
		bad("rate_spike.min_requests", "%d is not a count >= 1", c.RateSpike.MinRequests)
	}
	if c.RateSpike.MinHistory < 1 || c.RateSpike.MinHistory > maxHistory {
		bad("rate_spike.min_history", "%d is not from 1 to %d windows", c.RateSpike.MinHistory, maxHistory)
	}

	if c.Probing.Threshold < 1 || c.Probing.Threshold > sketchK {
		bad("probing.threshold", "%d is not from 1 to %d (counted exactly)", c.Probing.Threshold, sketchK)
	}
	checkStatuses(bad, "probing.statuses", c.Probing.Statuses)
	if c.Probing.MinErrorShare < 0 || c.Probing.MinErrorShare > 1 {
		bad("probing.min_error_share", "%g is not from 0 to 1", c.Probing.MinErrorShare)
	}
	if c.Probing.RotatingUserAgents < 2 || c.Probing.RotatingUserAgents > sketchK {
		bad("probing.rotating_user_agents", "%d is not from 2 to %d (counted exactly)", c.Probing.RotatingUserAgents, sketchK)
	}
	if c.Probing.MarkerWeight < 1 {
		bad("probing.marker_weight", "%d is not a weight >= 1", c.Probing.MarkerWeight)
	}
	if c.Probing.Malformed < 1 {
		bad("probing.malformed", "%d is not a count >= 1", c.Probing.Malformed)
	}
	if c.Probing.RotatingMinErrors < 1 {
		bad("probing.rotating_min_errors", "%d is not a count >= 1", c.Probing.RotatingMinErrors)
	}
	for _, e := range c.Probing.StaticExtensions {
		if len(e) < 2 || len(e) > 16 || e[0] != '.' || strings.ContainsAny(e[1:], "./?# ") {
			bad("probing.static_extensions", "%q is not an extension such as \".css\"", e)
		}
	}

	if s := time.Duration(c.BruteForce.Span); s != w && s != 2*w {
		bad("brute_force.span", "%s is neither the window (%s) nor twice it", s, w)
	}
	if c.BruteForce.FailedLogins < 1 {
		bad("brute_force.failed_logins", "%d is not a count >= 1", c.BruteForce.FailedLogins)
	}
	if c.BruteForce.AuthFailures < 1 {
		bad("brute_force.auth_failures", "%d is not a count >= 1", c.BruteForce.AuthFailures)
	}
	if !(c.BruteForce.MinFailureShare >= 0 && c.BruteForce.MinFailureShare <= 1) {
		bad("brute_force.min_failure_share", "%v is not from 0 to 1", c.BruteForce.MinFailureShare)
	}
	if c.BruteForce.LoginAttempts < 1 {
		bad("brute_force.login_attempts", "%d is not a count >= 1", c.BruteForce.LoginAttempts)
	}
	if !(c.BruteForce.LoginAttemptsFactor >= 1) || math.IsInf(c.BruteForce.LoginAttemptsFactor, 0) {
		bad("brute_force.login_attempts_factor", "%v is not a number of at least 1", c.BruteForce.LoginAttemptsFactor)
	}
	checkStatuses(bad, "brute_force.auth_statuses", c.BruteForce.AuthStatuses)
	if len(c.BruteForce.LoginFailureStatuses) > 0 {
		checkStatuses(bad, "brute_force.login_failure_statuses", c.BruteForce.LoginFailureStatuses)
	}
	for _, p := range c.BruteForce.LoginPaths {
		if len(p) < 2 || p[0] != '/' || strings.ContainsAny(p, "?# ") || len(p) > 256 {
			bad("brute_force.login_paths", "%q is not a path such as \"/login\"", p)
		}
	}
	for _, p := range c.BruteForce.RedirectOnSuccess {
		if len(p) < 2 || p[0] != '/' || strings.ContainsAny(p, "?# ") || len(p) > 256 {
			bad("brute_force.redirect_on_success", "%q is not a path such as \"/wp-login.php\"", p)
		}
	}
	for _, w := range c.BruteForce.LoginWords {
		if w == "" || len(w) > 32 || strings.ContainsAny(w, "/?#-_. ") || strings.ToLower(w) != w {
			bad("brute_force.login_words", "%q is not a lower-case word such as \"login\"", w)
		}
	}

	if c.CredentialStuffing.Threshold < 2 || c.CredentialStuffing.Threshold > sketchK {
		bad("credential_stuffing.threshold", "%d is not from 2 to %d (counted exactly)", c.CredentialStuffing.Threshold, sketchK)
	}
	if !(c.CredentialStuffing.MinFailingShare >= 0 && c.CredentialStuffing.MinFailingShare <= 1) {
		bad("credential_stuffing.min_failing_share", "%v is not from 0 to 1", c.CredentialStuffing.MinFailingShare)
	}

	for name, v := range map[string]float64{"enumeration.min_walk_share": c.Enumeration.MinWalkShare,
		"enumeration.min_failure_share": c.Enumeration.MinFailureShare} {
		if v < 0 || v > 1 {
			bad(name, "%g is not from 0 to 1", v)
		}
	}
	if c.Enumeration.Threshold < 2 {
		bad("enumeration.threshold", "%d is not a count >= 2", c.Enumeration.Threshold)
	}
	for _, k := range sortedMapKeys(c.Enumeration.Overrides) {
		if k == "" || (k[0] != '/' && k[0] != '?') || len(k) > maxTmplLen {
			bad("enumeration.overrides", "%q is not a template (\"/users/{id}\"), a template's parameter (\"/?author\") or a parameter (\"?author\")", k)
		}
		if n := c.Enumeration.Overrides[k]; n < 2 {
			bad("enumeration.overrides."+k, "%d is not a count >= 2", n)
		}
	}
	for _, p := range c.Enumeration.IgnoreParams {
		if p == "" || len(p) > maxParamLen || strings.ContainsAny(p, "=&?# ") {
			bad("enumeration.ignore_params", "%q is not a query parameter name", p)
		}
	}

	if c.Exfiltration.MinBytes < 1 {
		bad("exfiltration.min_bytes", "%d is not a byte count >= 1", c.Exfiltration.MinBytes)
	}
	if !(c.Exfiltration.Factor > 1) || math.IsInf(c.Exfiltration.Factor, 0) {
		bad("exfiltration.factor", "%v is not a number above 1", c.Exfiltration.Factor)
	}
	if c.Exfiltration.RunResponses < 2 {
		bad("exfiltration.run_responses", "%d is not a count >= 2", c.Exfiltration.RunResponses)
	}
	if c.Exfiltration.RunMinBytes < 1 {
		bad("exfiltration.run_min_bytes", "%d is not a byte count >= 1", c.Exfiltration.RunMinBytes)
	}
	if c.Exfiltration.MinHistory < 1 || c.Exfiltration.MinHistory > maxHistory {
		bad("exfiltration.min_history", "%d is not from 1 to %d windows", c.Exfiltration.MinHistory, maxHistory)
	}

	if len(problems) > 0 {
		sort.Strings(problems)
		return &ConfigError{Problems: problems}
	}
	return nil
}

func checkStatuses(bad func(string, string, ...any), name string, codes []int) {
	if len(codes) == 0 {
		bad(name, "empty: name at least one status")
	}
	for _, s := range codes {
		if s < 100 || s > 599 {
			bad(name, "%d is not an HTTP status", s)
		}
	}
}

func sortedMapKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// enabled reports whether detector d runs.
func (c *Config) enabled(d string) bool { return slices.Contains(c.Detectors, d) }

// Duration is a time.Duration written in JSON as a Go duration string ("5m", "1h30m");
// a bare number is read as seconds.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("%q is not a duration such as \"5m\"", s)
		}
		*d = Duration(v)
		return nil
	}
	var secs float64
	if err := json.Unmarshal(b, &secs); err != nil {
		return errors.New("a duration is a string such as \"5m\" or a number of seconds")
	}
	if math.IsNaN(secs) || math.Abs(secs) > float64(math.MaxInt64/int64(time.Second)) {
		return fmt.Errorf("%v seconds is out of range", secs)
	}
	*d = Duration(secs * float64(time.Second))
	return nil
}

func (d Duration) String() string { return time.Duration(d).String() }
