// Package config reads apiguard's settings from the environment (Azure app settings),
// fills defaults and validates everything once at start-up, naming every problem at once.
//
// Every setting the code reads is declared in Settings; nothing else in apiguard reads
// the environment. A test checks the table against local.settings.sample.json and the
// README, so the three cannot drift apart.
package config

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/apiguard/apiguard/shared/cidr"
	"github.com/apiguard/apiguard/shared/vocab"
)

// Setting documents one app setting.
type Setting struct {
	Name    string
	Default string
	Doc     string
}

// Settings is every setting apiguard reads, in the order the README documents them.
var Settings = []Setting{
	{"APIGUARD_TABLES_CONNECTION", "", "Table Storage connection string (Azurite locally). Either this or APIGUARD_TABLES_URL."},
	{"APIGUARD_TABLES_URL", "", "Table service URL used with managed identity (DefaultAzureCredential), e.g. https://<account>.table.core.windows.net."},
	{"APIGUARD_TABLE_PREFIX", "apiguard", "Prefix of the table names (letters and digits)."},
	{"APIGUARD_LOG_LEVEL", "info", "trace, debug, info, warn or error."},
	{"APIGUARD_LOG_FORMAT", "auto", "json, console, or auto (JSON under the Functions host or when not on a terminal)."},
	{"APIGUARD_MODE", string(vocab.DryRun), "dryrun (decide and record, enforce nothing), approve (enforce what an operator approves) or enforce."},
	{"APIGUARD_MODE_OVERRIDES", "", "Per-action modes, e.g. block_waf=enforce,throttle=dryrun."},
	{"APIGUARD_PLAYBOOK", "", "Per-alert-type actions overriding the built-in playbook, e.g. API_SpikeInLatency=throttle,API_UnseenParam=record."},
	{"APIGUARD_DEFAULT_ACTION", string(vocab.Record), "Action for alert types the playbook does not know (record, throttle, block_waf, block_apim)."},
	{"APIGUARD_ALLOW_CIDRS", "", "Addresses and CIDRs never to block, comma-separated (private and platform ranges are always protected)."},
	{"APIGUARD_DURATION_INFORMATIONAL", "30m", "Base block/throttle duration for Informational alerts."},
	{"APIGUARD_DURATION_LOW", "1h", "Base duration for Low alerts."},
	{"APIGUARD_DURATION_MEDIUM", "4h", "Base duration for Medium alerts (and alerts of unknown severity)."},
	{"APIGUARD_DURATION_HIGH", "24h", "Base duration for High alerts."},
	{"APIGUARD_MAX_DURATION", "7d", "Cap on escalated durations."},
	{"APIGUARD_ESCALATION_LOOKBACK", "30d", "Offences within this window count for escalation (duration doubles per offence)."},
	{"APIGUARD_JITTER", "0.1", "Relative jitter on durations (0 to 0.5), deterministic per target and incident."},
	{"APIGUARD_MAX_NEW_BLOCKS_PER_HOUR", "100", "Cap on new blocks per clock hour; the excess is recorded as deferred. 0 disables new blocks."},
	{"APIGUARD_MAX_BLOCKS_PER_INCIDENT", "20", "Share of the hourly cap one incident may take: its further addresses are recorded as deferred, so one alert naming many addresses cannot use up the hour (whole number >= 1)."},
	{"APIGUARD_MAX_BODY_BYTES", "1048576", "Largest request body accepted (413 above)."},
	{"APIGUARD_SERVE_HEADER_TIMEOUT", "10s", "Time a client has to send the request line and headers; then the connection is closed."},
	{"APIGUARD_SERVE_BODY_TIMEOUT", "30s", "Time a client has to send the whole body, from the end of its headers; then 408 and the connection is closed (a body trickled byte by byte cannot hold a connection)."},
	{"APIGUARD_SERVE_WRITE_TIMEOUT", "60s", "Time from the end of the headers to the end of the answer: the handler's work runs under this deadline (HTTP functions; timer and queue runs get host.json's functionTimeout)."},
	{"APIGUARD_SERVE_IDLE_TIMEOUT", "60s", "An idle keep-alive connection is closed after this."},
	{"APIGUARD_SERVE_MAX_HEADER_BYTES", "65536", "Largest request line and headers accepted, 4096 to 1048576 (431 above)."},
	{"APIGUARD_SERVE_MAX_CONCURRENT", "64", "Requests apiguard serve handles at once; the excess is answered 503 with Retry-After at once, never queued (under the Functions host the host's own concurrency applies)."},
	{"APIGUARD_WAF_TARGETS", "", "WAF policies to enforce block_waf decisions in: a JSON array, see \"Enforcement in WAF policies\" above."},
	{"APIGUARD_APIM_TARGETS", "", "API Management services to enforce block_apim and throttle decisions in: a JSON array, see \"Enforcement in API Management\" above."},
	{"APIGUARD_THROTTLE_CALLS", "60", "Calls a throttled client may make per period (rate-limit-by-key calls)."},
	{"APIGUARD_THROTTLE_PERIOD", "60", "Throttle renewal period in seconds, 1 to 300 (rate-limit-by-key renewal-period)."},
	{"APIGUARD_RECONCILE_QUEUE", "apiguard-reconcile", "Service Bus queue (sessions enabled) carrying reconcile requests, one session per policy."},
	{"APIGUARD_TRAFFIC_QUEUE", "apiguard-traffic", "Service Bus queue the traffic function reads gateway log batches from (one batch per message)."},
	{"APIGUARD_TRAFFIC_HUB", "apiguard-traffic", "Event hub the traffic-eventhub function reads Azure Monitor diagnostic logs from (APIM GatewayLogs, Application Gateway and Front Door access logs), one batch per event. The Functions host resolves it: set it even to the default."},
	{"APIGUARD_TRAFFIC_HUB_CONSUMER_GROUP", "apiguard", "Consumer group of that event hub that apiguard alone reads with (create it on the hub; sharing one with another reader makes the two take partitions from each other). The Functions host resolves it: set it even to the default."},
	{"APIGUARD_TRAFFIC_FORMAT", "auto", "Log format of traffic batches: auto (detected per batch), apim-diagnostic, apim-loganalytics, appgw, frontdoor or combined."},
	{"APIGUARD_TRUSTED_PROXIES", "", "Addresses and CIDRs of the proxies in front of the gateway whose X-Forwarded-For is trusted, comma-separated; no one else's is."},
	{"APIGUARD_DETECT_CONFIG", "", "Detector thresholds as a JSON object (see shared/detect/README.md); empty takes the defaults."},
	{"APIGUARD_APPROVAL_TTL", "24h", "How long a decision in approve mode waits for an operator before it lapses."},
	{"APIGUARD_NOTIFY_TARGETS", "", "Where notifications go: a JSON array of webhook targets, see \"Notifications\" above."},
	{"APIGUARD_PUBLIC_URL", "", "The app's base URL as callers reach it (e.g. https://<app>.azurewebsites.net/api): links in notifications. Empty: links are relative."},
	{"APIGUARD_API_KEY", "", "Bearer key apiguard serve requires on /api/v1/ when it listens on a non-loopback address (the Functions host uses function keys instead)."},
	{"APIGUARD_TRIAGE_SCOPES", "", "What the monthly triage reads: subscription ids and API Management service resource ids, comma-separated. Empty: the services of APIGUARD_APIM_TARGETS."},
	{"APIGUARD_TRIAGE_SNAPSHOT", "", "A snapshot folder (apiguard triage snapshot) that the triage ranks instead of reading Azure: for evaluation (make run uses the test estate's) and dry runs. Exclusive with APIGUARD_TRIAGE_SCOPES."},
	{"APIGUARD_TRIAGE_SENSITIVE_TAGS", "", "API tags that mark an API as handling sensitive data, comma-separated (e.g. pii,payment,health)."},
	{"APIGUARD_TRIAGE_READS_PER_SECOND", "12", "Pace of the triage's Azure Resource Manager reads (ARM refills about 25 reads a second per subscription and identity); a run of N reads takes N/pace seconds and must fit the function timeout."},
	{"APIGUARD_TRIAGE_MAX_CAPACITY", "60", "Defender for APIs onboarding waits while the service's Capacity metric is at or above this percent."},
	{"APIGUARD_HEALTH_STALE_AFTER", "15m", "Health turns unhealthy when a target's desired state has differed from what it holds for longer than this."},
	{"APIGUARD_CALL_TIMEOUT", "10s", "Longest wait for one try of one Table Storage or Azure Resource Manager request (the SDK retries a try that times out, within the invocation's budget). At most APIGUARD_INVOCATION_BUDGET."},
	{"APIGUARD_INVOCATION_BUDGET", "25s", "How long an HTTP invocation (alerts, ingest, the control API) may run before it answers 503 with Retry-After: below Event Grid's 30 s delivery timeout and the Functions front end's 230 s."},
	{"APIGUARD_BACKGROUND_BUDGET", "4m", "How long a timer, Service Bus or Event Hubs invocation may run before it fails as transient (retried): below the 5-minute expire period and queue lock. The monthly triage is bounded by host.json's functionTimeout instead."},
	{"ServiceBusConnection", "", "Service Bus connection string for sending reconcile requests (the remediate trigger uses the same setting)."},
	{"ServiceBusConnection__fullyQualifiedNamespace", "", "Service Bus namespace (e.g. ns.servicebus.windows.net) reached with managed identity, instead of a connection string."},
	{"EventHubConnection__fullyQualifiedNamespace", "", "Event Hubs namespace (e.g. ns.servicebus.windows.net) the traffic-eventhub trigger reads with managed identity (Azure Event Hubs Data Receiver on the hub). Empty: that function cannot start; the others run."},
}

// Config is the validated configuration.
type Config struct {
	TablesConnection string
	TablesURL        string
	TablePrefix      string

	LogLevel  string
	LogFormat string

	Mode          vocab.Mode
	ModeOverrides map[vocab.Action]vocab.Mode
	Playbook      map[string]vocab.Action
	DefaultAction vocab.Action
	AllowList     []netip.Prefix

	Durations     map[vocab.Severity]time.Duration // by known severity
	MaxDuration   time.Duration
	Lookback      time.Duration
	Jitter        float64
	MaxNewPerHour int
	// MaxPerIncident is the share of MaxNewPerHour one incident may take.
	MaxPerIncident int
	MaxBodyBytes   int64
	// Edge bounds the HTTP server's clients (shared/config/edge.go).
	Edge Edge

	WAFTargets     []WAFTarget
	APIMTargets    []APIMTarget
	ThrottleCalls  int
	ThrottlePeriod int
	ReconcileQueue string
	TrafficQueue   string
	// TrafficHub and TrafficHubConsumerGroup are where the traffic-eventhub function
	// reads; the host resolves them in its function.json, apiguard names batches by
	// the hub.
	TrafficHub              string
	TrafficHubConsumerGroup string
	TrafficFormat           string
	TrustedProxies          []netip.Prefix
	// DetectConfig is the raw JSON of detector thresholds; the detect package
	// validates it (handlers do, at start-up).
	DetectConfig string
	// ApprovalTTL is how long a pending decision waits before it lapses.
	ApprovalTTL time.Duration
	// NotifyTargets is the raw JSON of the notification targets; the notify package
	// validates it (flow does, at start-up).
	NotifyTargets string
	PublicURL     string
	APIKey        string
	// TriageScopes are subscription ids and APIM service ids the triage reads.
	TriageScopes []string
	// TriageSnapshot is a snapshot folder the triage reads instead of Azure.
	TriageSnapshot string
	// SensitiveTags mark APIs as handling sensitive data.
	SensitiveTags []string
	// MaxCapacity (percent) holds Defender onboarding back while the service is busier.
	MaxCapacity float64
	// TriageReadsPerSecond paces the triage collector's ARM reads.
	TriageReadsPerSecond float64
	// StaleAfter bounds how long a target may differ from the desired state and
	// health still say healthy.
	StaleAfter time.Duration
	// CallTimeout bounds one try of one storage or ARM request; InvocationBudget and
	// BackgroundBudget bound a whole invocation (see Budget).
	CallTimeout      time.Duration
	InvocationBudget time.Duration
	BackgroundBudget time.Duration
	ServiceBusConn   string
	ServiceBusSpace  string
	// EventHubSpace is the Event Hubs namespace of the traffic-eventhub trigger.
	EventHubSpace string
}

// Traffic log formats (shared/traffic).
var trafficFormats = map[string]bool{"auto": true, "apim-diagnostic": true, "apim-loganalytics": true, "appgw": true, "frontdoor": true, "combined": true}

// Load reads the settings through lookup (os.LookupEnv in production) and validates them.
// The error lists every problem, one per line.
func Load(lookup func(string) (string, bool)) (*Config, error) {
	get := func(name string) string {
		if v, ok := lookup(name); ok && strings.TrimSpace(v) != "" {
			return strings.TrimSpace(v)
		}
		for _, s := range Settings {
			if s.Name == name {
				return s.Default
			}
		}
		panic("config: setting not declared: " + name)
	}
	var problems []string
	bad := func(name, format string, args ...any) {
		problems = append(problems, name+": "+fmt.Sprintf(format, args...))
	}

	c := &Config{
		TablesConnection: get("APIGUARD_TABLES_CONNECTION"),
		TablesURL:        get("APIGUARD_TABLES_URL"),
		TablePrefix:      get("APIGUARD_TABLE_PREFIX"),
		LogLevel:         strings.ToLower(get("APIGUARD_LOG_LEVEL")),
		LogFormat:        strings.ToLower(get("APIGUARD_LOG_FORMAT")),
		Mode:             vocab.Mode(strings.ToLower(get("APIGUARD_MODE"))),
		DefaultAction:    vocab.Action(strings.ToLower(get("APIGUARD_DEFAULT_ACTION"))),
		Durations:        map[vocab.Severity]time.Duration{},
	}

	if c.TablesConnection != "" && c.TablesURL != "" {
		bad("APIGUARD_TABLES_CONNECTION", "set either it or APIGUARD_TABLES_URL, not both")
	}
	if c.TablesURL != "" && !strings.HasPrefix(c.TablesURL, "https://") && !strings.HasPrefix(c.TablesURL, "http://") {
		bad("APIGUARD_TABLES_URL", "%q is not an http(s) URL", c.TablesURL)
	}
	if c.TablesConnection != "" && !strings.Contains(strings.ToLower(c.TablesConnection), "accountname=") &&
		!strings.Contains(strings.ToLower(c.TablesConnection), "tableendpoint=") {
		bad("APIGUARD_TABLES_CONNECTION", "does not look like a storage connection string (no AccountName or TableEndpoint)")
	}
	if !validTablePrefix(c.TablePrefix) {
		bad("APIGUARD_TABLE_PREFIX", "%q must start with a letter, hold only letters and digits, and be at most 40 characters", c.TablePrefix)
	}
	switch c.LogLevel {
	case "trace", "debug", "info", "warn", "error":
	default:
		bad("APIGUARD_LOG_LEVEL", "%q is not one of trace, debug, info, warn, error", c.LogLevel)
	}
	switch c.LogFormat {
	case "auto", "json", "console":
	default:
		bad("APIGUARD_LOG_FORMAT", "%q is not one of auto, json, console", c.LogFormat)
	}
	playbookWords := oneOf(vocab.PlaybookActions())
	if !slices.Contains(vocab.Modes(), c.Mode) {
		bad("APIGUARD_MODE", "%q is not %s", c.Mode, oneOf(vocab.Modes()))
	}
	var err error
	if c.ModeOverrides, err = parsePairs(get("APIGUARD_MODE_OVERRIDES"), func(k, v string) error {
		if _, ok := vocab.ParseAction(k, vocab.PlaybookActions()); !ok {
			return fmt.Errorf("%q is not an action (%s)", k, playbookWords)
		}
		if !slices.Contains(vocab.Modes(), vocab.Mode(v)) {
			return fmt.Errorf("%q is not %s", v, oneOf(vocab.Modes()))
		}
		return nil
	}, true, func(k, v string) (vocab.Action, vocab.Mode) { return vocab.Action(k), vocab.Mode(v) }); err != nil {
		bad("APIGUARD_MODE_OVERRIDES", "%v", err)
	}
	if c.Playbook, err = parsePairs(get("APIGUARD_PLAYBOOK"), func(k, v string) error {
		if _, ok := vocab.ParseAction(v, vocab.PlaybookActions()); !ok {
			return fmt.Errorf("%s=%s: action must be %s", k, v, playbookWords)
		}
		return nil
	}, false, func(k, v string) (string, vocab.Action) { return k, vocab.Action(v) }); err != nil {
		bad("APIGUARD_PLAYBOOK", "%v", err)
	}
	if !slices.Contains(vocab.PlaybookActions(), c.DefaultAction) {
		bad("APIGUARD_DEFAULT_ACTION", "%q is not %s", c.DefaultAction, playbookWords)
	}
	if c.AllowList, err = ParsePrefixes(get("APIGUARD_ALLOW_CIDRS")); err != nil {
		bad("APIGUARD_ALLOW_CIDRS", "%v", err)
	}
	for _, sev := range vocab.Severities() {
		name := "APIGUARD_DURATION_" + strings.ToUpper(string(sev))
		d, err := ParseDuration(get(name))
		if err != nil || d <= 0 {
			bad(name, "%q is not a positive duration (e.g. 30m, 4h, 7d)", get(name))
			continue
		}
		c.Durations[sev] = d
	}
	if c.MaxDuration, err = ParseDuration(get("APIGUARD_MAX_DURATION")); err != nil || c.MaxDuration <= 0 {
		bad("APIGUARD_MAX_DURATION", "%q is not a positive duration", get("APIGUARD_MAX_DURATION"))
	} else {
		for sev, d := range c.Durations {
			if d > c.MaxDuration {
				bad("APIGUARD_DURATION_"+strings.ToUpper(string(sev)), "%s exceeds APIGUARD_MAX_DURATION (%s)", d, c.MaxDuration)
			}
		}
	}
	if c.Lookback, err = ParseDuration(get("APIGUARD_ESCALATION_LOOKBACK")); err != nil || c.Lookback < 0 {
		bad("APIGUARD_ESCALATION_LOOKBACK", "%q is not a duration", get("APIGUARD_ESCALATION_LOOKBACK"))
	}
	if c.Jitter, err = strconv.ParseFloat(get("APIGUARD_JITTER"), 64); err != nil || c.Jitter < 0 || c.Jitter > 0.5 {
		bad("APIGUARD_JITTER", "%q is not a number from 0 to 0.5", get("APIGUARD_JITTER"))
	}
	if c.MaxNewPerHour, err = strconv.Atoi(get("APIGUARD_MAX_NEW_BLOCKS_PER_HOUR")); err != nil || c.MaxNewPerHour < 0 {
		bad("APIGUARD_MAX_NEW_BLOCKS_PER_HOUR", "%q is not a whole number >= 0", get("APIGUARD_MAX_NEW_BLOCKS_PER_HOUR"))
	}
	if c.MaxPerIncident, err = strconv.Atoi(get("APIGUARD_MAX_BLOCKS_PER_INCIDENT")); err != nil || c.MaxPerIncident < 1 {
		bad("APIGUARD_MAX_BLOCKS_PER_INCIDENT", "%q is not a whole number >= 1", get("APIGUARD_MAX_BLOCKS_PER_INCIDENT"))
	}
	if c.MaxBodyBytes, err = strconv.ParseInt(get("APIGUARD_MAX_BODY_BYTES"), 10, 64); err != nil || c.MaxBodyBytes < 1024 || c.MaxBodyBytes > 64<<20 {
		bad("APIGUARD_MAX_BODY_BYTES", "%q is not a byte count from 1024 to 67108864", get("APIGUARD_MAX_BODY_BYTES"))
	}
	c.Edge = loadEdge(get, bad)
	if c.WAFTargets, err = parseWAFTargets(get("APIGUARD_WAF_TARGETS")); err != nil {
		bad("APIGUARD_WAF_TARGETS", "%v", err)
	}
	if c.APIMTargets, err = parseAPIMTargets(get("APIGUARD_APIM_TARGETS")); err != nil {
		bad("APIGUARD_APIM_TARGETS", "%v", err)
	}
	if c.ThrottleCalls, err = strconv.Atoi(get("APIGUARD_THROTTLE_CALLS")); err != nil || c.ThrottleCalls < 1 {
		bad("APIGUARD_THROTTLE_CALLS", "%q is not a whole number >= 1", get("APIGUARD_THROTTLE_CALLS"))
	}
	if c.ThrottlePeriod, err = strconv.Atoi(get("APIGUARD_THROTTLE_PERIOD")); err != nil || c.ThrottlePeriod < 1 || c.ThrottlePeriod > 300 {
		bad("APIGUARD_THROTTLE_PERIOD", "%q is not a number of seconds from 1 to 300", get("APIGUARD_THROTTLE_PERIOD"))
	}
	c.ReconcileQueue = get("APIGUARD_RECONCILE_QUEUE")
	c.TrafficQueue = get("APIGUARD_TRAFFIC_QUEUE")
	c.TrafficHub = get("APIGUARD_TRAFFIC_HUB")
	if !validEntityName(c.TrafficHub, 256) {
		bad("APIGUARD_TRAFFIC_HUB", "%q is not an event hub name (letters, digits, '.', '-', '_', starting and ending with a letter or digit, at most 256)", c.TrafficHub)
	}
	c.TrafficHubConsumerGroup = get("APIGUARD_TRAFFIC_HUB_CONSUMER_GROUP")
	if c.TrafficHubConsumerGroup != "$Default" && !validEntityName(c.TrafficHubConsumerGroup, 50) {
		bad("APIGUARD_TRAFFIC_HUB_CONSUMER_GROUP", "%q is not a consumer group name ($Default, or letters, digits, '.', '-', '_', starting and ending with a letter or digit, at most 50)", c.TrafficHubConsumerGroup)
	}
	c.TrafficFormat = strings.ToLower(get("APIGUARD_TRAFFIC_FORMAT"))
	if !trafficFormats[c.TrafficFormat] {
		bad("APIGUARD_TRAFFIC_FORMAT", "%q is not auto, apim-diagnostic, apim-loganalytics, appgw, frontdoor or combined", c.TrafficFormat)
	}
	if c.TrustedProxies, err = ParsePrefixes(get("APIGUARD_TRUSTED_PROXIES")); err != nil {
		bad("APIGUARD_TRUSTED_PROXIES", "%v", err)
	}
	c.DetectConfig = get("APIGUARD_DETECT_CONFIG")
	if c.ApprovalTTL, err = ParseDuration(get("APIGUARD_APPROVAL_TTL")); err != nil || c.ApprovalTTL < time.Minute {
		bad("APIGUARD_APPROVAL_TTL", "%q is not a duration of at least 1m", get("APIGUARD_APPROVAL_TTL"))
	}
	c.NotifyTargets = get("APIGUARD_NOTIFY_TARGETS")
	c.PublicURL = strings.TrimSuffix(get("APIGUARD_PUBLIC_URL"), "/")
	if c.PublicURL != "" && !strings.HasPrefix(c.PublicURL, "https://") && !strings.HasPrefix(c.PublicURL, "http://") {
		bad("APIGUARD_PUBLIC_URL", "%q is not an http(s) URL", c.PublicURL)
	}
	c.APIKey = get("APIGUARD_API_KEY")
	if c.APIKey != "" && len(c.APIKey) < 16 {
		bad("APIGUARD_API_KEY", "is %d characters: use at least 16 (a random key)", len(c.APIKey))
	}
	if c.TriageScopes, err = parseTriageScopes(get("APIGUARD_TRIAGE_SCOPES"), c.APIMTargets); err != nil {
		bad("APIGUARD_TRIAGE_SCOPES", "%v", err)
	}
	if c.TriageSnapshot = get("APIGUARD_TRIAGE_SNAPSHOT"); c.TriageSnapshot != "" {
		if get("APIGUARD_TRIAGE_SCOPES") != "" {
			bad("APIGUARD_TRIAGE_SNAPSHOT", "set either it or APIGUARD_TRIAGE_SCOPES, not both")
		} else if st, err := os.Stat(c.TriageSnapshot); err != nil || !st.IsDir() {
			bad("APIGUARD_TRIAGE_SNAPSHOT", "%q is not a folder (write one with apiguard triage snapshot)", c.TriageSnapshot)
		}
		c.TriageScopes = nil // the snapshot names its own
	}
	c.SensitiveTags = splitList(get("APIGUARD_TRIAGE_SENSITIVE_TAGS"))
	if c.MaxCapacity, err = strconv.ParseFloat(get("APIGUARD_TRIAGE_MAX_CAPACITY"), 64); err != nil || c.MaxCapacity <= 0 || c.MaxCapacity > 100 {
		bad("APIGUARD_TRIAGE_MAX_CAPACITY", "%q is not a percent above 0, at most 100", get("APIGUARD_TRIAGE_MAX_CAPACITY"))
	}
	if c.TriageReadsPerSecond, err = strconv.ParseFloat(get("APIGUARD_TRIAGE_READS_PER_SECOND"), 64); err != nil || c.TriageReadsPerSecond <= 0 || c.TriageReadsPerSecond > 25 {
		bad("APIGUARD_TRIAGE_READS_PER_SECOND", "%q is not a rate above 0, at most 25 (ARM's refill)", get("APIGUARD_TRIAGE_READS_PER_SECOND"))
	}
	if c.StaleAfter, err = ParseDuration(get("APIGUARD_HEALTH_STALE_AFTER")); err != nil || c.StaleAfter < time.Minute {
		bad("APIGUARD_HEALTH_STALE_AFTER", "%q is not a duration of at least 1m", get("APIGUARD_HEALTH_STALE_AFTER"))
	}
	c.loadBudgets(get, bad)
	c.ServiceBusConn = get("ServiceBusConnection")
	c.ServiceBusSpace = get("ServiceBusConnection__fullyQualifiedNamespace")
	if c.ServiceBusConn != "" && c.ServiceBusSpace != "" {
		bad("ServiceBusConnection", "set either it or ServiceBusConnection__fullyQualifiedNamespace, not both")
	}
	if c.ServiceBusConn != "" && !strings.Contains(strings.ToLower(c.ServiceBusConn), "endpoint=") {
		bad("ServiceBusConnection", "does not look like a Service Bus connection string (no Endpoint=)")
	}
	c.EventHubSpace = get("EventHubConnection__fullyQualifiedNamespace")
	if c.EventHubSpace != "" && !validNamespace(c.EventHubSpace) {
		bad("EventHubConnection__fullyQualifiedNamespace", "%q is not a host name: give the namespace as ns.servicebus.windows.net, without scheme, port or path", c.EventHubSpace)
	}

	if len(problems) > 0 {
		sort.Strings(problems)
		return nil, &Error{Problems: problems}
	}
	return c, nil
}

// FunctionTimeout is host.json's functionTimeout (a test ties the two): the host ends an
// invocation that runs longer, so every budget must end before it, and the failure is
// apiguard's (a transient fault, logged) rather than the host's.
const FunctionTimeout = time.Hour

// minCallTimeout keeps a try long enough for one round trip to a storage account in
// another region under load; below it healthy calls would time out.
const minCallTimeout = 100 * time.Millisecond

// loadBudgets reads the per-call timeout and the invocation budgets: each a duration,
// a call no longer than the shorter budget, the budgets within FunctionTimeout.
func (c *Config) loadBudgets(get func(string) string, bad func(name, format string, args ...any)) {
	read := func(name string, min, max time.Duration) time.Duration {
		d, err := ParseDuration(get(name))
		if err != nil || d < min || d > max {
			bad(name, "%q is not a duration from %v to %v", get(name), min, max)
			return 0
		}
		return d
	}
	c.CallTimeout = read("APIGUARD_CALL_TIMEOUT", minCallTimeout, FunctionTimeout)
	c.InvocationBudget = read("APIGUARD_INVOCATION_BUDGET", minCallTimeout, FunctionTimeout)
	c.BackgroundBudget = read("APIGUARD_BACKGROUND_BUDGET", minCallTimeout, FunctionTimeout)
	if shortest := min(c.InvocationBudget, c.BackgroundBudget); shortest > 0 && c.CallTimeout > shortest {
		bad("APIGUARD_CALL_TIMEOUT", "%v is longer than a whole invocation's budget (APIGUARD_INVOCATION_BUDGET %v, APIGUARD_BACKGROUND_BUDGET %v)",
			c.CallTimeout, c.InvocationBudget, c.BackgroundBudget)
	}
}

// Budget is how long one invocation may run: HTTP invocations answer within
// InvocationBudget, background ones (timers, queues, event hubs) within
// BackgroundBudget, and long ones (the monthly triage, whose paced reads are sized to
// the function timeout) within FunctionTimeout.
type Budget int

const (
	Interactive Budget = iota
	Background
	Long
)

// Budget returns the duration of budget b.
func (c *Config) Budget(b Budget) time.Duration {
	switch b {
	case Background:
		return c.BackgroundBudget
	case Long:
		return FunctionTimeout
	default:
		return c.InvocationBudget
	}
}

// FromEnv loads the configuration from the process environment.
func FromEnv() (*Config, error) { return Load(os.LookupEnv) }

// Error lists every invalid setting.
type Error struct{ Problems []string }

func (e *Error) Error() string {
	return "invalid settings:\n  " + strings.Join(e.Problems, "\n  ")
}

// RequireTables reports whether a Table Storage location is configured; the offline
// commands need none, the server does.
func (c *Config) RequireTables() error {
	if c.TablesConnection == "" && c.TablesURL == "" {
		return &Error{Problems: []string{"APIGUARD_TABLES_CONNECTION: set it (or APIGUARD_TABLES_URL) to reach Table Storage"}}
	}
	return nil
}

// RequireQueue reports whether reconcile requests can be sent: under the Functions host
// WAF targets need Service Bus to reach the one writer per policy.
func (c *Config) RequireQueue() error {
	if len(c.WAFTargets)+len(c.APIMTargets) > 0 && c.ServiceBusConn == "" && c.ServiceBusSpace == "" {
		return &Error{Problems: []string{"ServiceBusConnection: set it (or ServiceBusConnection__fullyQualifiedNamespace) when APIGUARD_WAF_TARGETS or APIGUARD_APIM_TARGETS names targets"}}
	}
	return nil
}

// ModeFor is the mode an action runs in: its override, else the global mode.
func (c *Config) ModeFor(action vocab.Action) vocab.Mode {
	if m, ok := c.ModeOverrides[action]; ok {
		return m
	}
	return c.Mode
}

func validTablePrefix(p string) bool {
	if p == "" || len(p) > 40 {
		return false
	}
	for i, r := range p {
		isLetter := (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')
		if i == 0 && !isLetter {
			return false
		}
		if !isLetter && !(r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// validEntityName reports an Event Hubs entity name (event hub, consumer group): 1 to
// max letters, digits, '.', '-' and '_', starting and ending with a letter or digit.
func validEntityName(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	alnum := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' }
	for i := 0; i < len(s); i++ {
		if c := s[i]; !alnum(c) && c != '.' && c != '-' && c != '_' {
			return false
		}
	}
	return alnum(s[0]) && alnum(s[len(s)-1])
}

// validNamespace reports a fully qualified host name such as ns.servicebus.windows.net:
// the trigger's identity-based connection takes a bare host, and a URL or a connection
// string pasted there fails only when the listener starts.
func validNamespace(s string) bool {
	labels := strings.Split(s, ".")
	if len(s) > 253 || len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			if c := l[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// parsePairs reads "k=v,k=v" into typed keys and values. Keys are lower-cased when
// lowerKeys is set; values always.
func parsePairs[K comparable, V any](s string, check func(k, v string) error, lowerKeys bool, as func(k, v string) (K, V)) (map[K]V, error) {
	out := map[K]V{}
	if s == "" {
		return out, nil
	}
	var errs []error
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		k, v = strings.TrimSpace(k), strings.ToLower(strings.TrimSpace(v))
		if lowerKeys {
			k = strings.ToLower(k)
		}
		if !ok || k == "" || v == "" {
			errs = append(errs, fmt.Errorf("%q is not key=value", part))
			continue
		}
		if err := check(k, v); err != nil {
			errs = append(errs, err)
			continue
		}
		tk, tv := as(k, v)
		out[tk] = tv
	}
	return out, errors.Join(errs...)
}

// oneOf lists the allowed words of a setting for its error message: "a, b or c".
func oneOf[T ~string](words []T) string {
	var b strings.Builder
	for i, w := range words {
		switch {
		case i == 0:
		case i == len(words)-1:
			b.WriteString(" or ")
		default:
			b.WriteString(", ")
		}
		b.WriteString(string(w))
	}
	return b.String()
}

// ParsePrefixes reads comma-separated addresses and CIDRs; a bare address is a /32 or /128.
func ParsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	var errs []error
	for _, part := range strings.Split(s, ",") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		p, err := cidr.Parse(part)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, p)
	}
	return out, errors.Join(errs...)
}

// ParseDuration is time.ParseDuration plus a "d" (24h) unit, since block durations are
// naturally stated in days.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if strings.HasSuffix(s, "d") {
		n, err := strconv.ParseFloat(strings.TrimSuffix(s, "d"), 64)
		if err != nil {
			return 0, fmt.Errorf("bad duration %q", s)
		}
		return time.Duration(n * float64(24*time.Hour)), nil
	}
	return time.ParseDuration(s)
}
