package detect

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/apiguard/apiguard/shared/vocab"
)

// Finding is one detection: a key that crossed a detector's threshold in a window.
//
// Findings are level-triggered: every batch that adds to a window where a condition
// holds returns the finding again, with the evidence as it stands. The ID is the same
// each time, so consumers keep the first or the latest version.
type Finding struct {
	ID          string         `json:"id"`       // deterministic: detector, key, window (and template, operation or API)
	Detector    string         `json:"detector"` // flood, rate_spike, probing, brute_force, credential_stuffing, enumeration, exfiltration
	KeyType     vocab.KeyType  `json:"key_type"` // ip, subscription, user
	Key         string         `json:"key"`
	WindowStart time.Time      `json:"window_start"`
	WindowEnd   time.Time      `json:"window_end"`
	Confidence  float64        `json:"confidence"` // 0..1: 0.5 just over the threshold, 0.75 at twice it
	Severity    vocab.Severity `json:"severity"`   // Low, Medium, High
	API         string         `json:"api,omitempty"`
	Operation   string         `json:"operation,omitempty"`
	Evidence    Evidence       `json:"evidence"`
	Reason      string         `json:"reason"` // one sentence for a SOC analyst
}

// Evidence is what a finding rests on.
type Evidence struct {
	// Measure names what Count counts: requests, distinct_error_paths, auth_failures,
	// login_attempts, distinct_failing_identities, distinct_ids, response_bytes.
	Measure   string  `json:"measure"`
	Count     int64   `json:"count"`
	Threshold float64 `json:"threshold"` // the value Count had to reach (or, for flood, exceed)
	Window    string  `json:"window"`    // how long the count covers, e.g. "5m0s"
	Requests  int64   `json:"requests"`  // all requests of the key over that time
	// Baseline is the key's own history (rate_spike: requests per window;
	// exfiltration: response bytes per window).
	Baseline *Stats `json:"baseline,omitempty"`
	// Population is the operations' history (rate_spike: requests per client per
	// window, summed over the operations the key used; exfiltration: response bytes per
	// client per window of the operation).
	Population         *Stats `json:"population,omitempty"`
	DistinctPaths      int    `json:"distinct_error_paths,omitempty"`
	DistinctIdentities int    `json:"distinct_identities,omitempty"`
	FailingIdentities  int    `json:"failing_identities,omitempty"`
	DistinctIDs        int    `json:"distinct_ids,omitempty"`
	// Estimated is set when a distinct count is above 64 and so a sketch estimate
	// (standard error about 13%).
	Estimated     bool   `json:"estimated,omitempty"`
	Template      string `json:"template,omitempty"`
	AuthFailures  int64  `json:"auth_failures,omitempty"`
	LoginAttempts int64  `json:"login_attempts,omitempty"`
	FailedLogins  int64  `json:"failed_logins,omitempty"`
	ResponseBytes int64  `json:"response_bytes,omitempty"`
	// Shared is set when the key was judged as shared: only its traffic without a
	// narrower identity was counted (README.md, "Shared addresses").
	Shared *Shared `json:"shared,omitempty"`
	// Markers are the distinct probe markers a key's requests carried (measure
	// probe_marker_weight), heaviest first.
	Markers []Marker `json:"markers,omitempty"`
	Late    int      `json:"late_deltas_dropped,omitempty"`
	Samples []Sample `json:"samples,omitempty"`
}

// Marker is one probe marker found in a key's requests: its class (sensitive,
// traversal, sqli, scanner...), its weight and the pattern as the data writes it.
type Marker struct {
	Class  string `json:"class"`
	Weight int    `json:"weight"`
	Text   string `json:"text"`
}

// Stats summarises a baseline.
type Stats struct {
	Mean    float64 `json:"mean"`
	StdDev  float64 `json:"stddev"`
	Windows int     `json:"windows"` // windows learnt from
}

// Shared describes a key shared by many identities.
type Shared struct {
	Identities      int     `json:"identities"`
	IdentifiedShare float64 `json:"identified_share"`
}

// Sample is one request kept as evidence.
type Sample struct {
	Time      time.Time `json:"time"`
	Method    string    `json:"method"`
	Path      string    `json:"path"`
	Status    int       `json:"status"`
	UserAgent string    `json:"user_agent,omitempty"`
	Client    string    `json:"client,omitempty"` // the address, for identity keys
}

// confidence grows with how far count is past threshold: 0.5 at the threshold, 0.75
// at twice it, 0.9 at five times.
func confidence(count, threshold float64) float64 {
	if threshold <= 0 || count <= 0 {
		return 1
	}
	c := 1 - 0.5*threshold/count
	return math.Round(min(max(c, 0), 1)*1000) / 1000
}

// severity grades how far past its threshold a finding is: Low under twice, Medium
// under five times, High beyond. floor, when set, lifts it for detectors whose mere
// firing is serious.
func severity(count, threshold float64, floor vocab.Severity) vocab.Severity {
	r := count / max(threshold, 1e-9)
	s := vocab.SeverityLow
	switch {
	case r >= 5:
		s = vocab.SeverityHigh
	case r >= 2:
		s = vocab.SeverityMedium
	}
	if floor != vocab.SeverityUnknown && floor.Rank() > s.Rank() {
		return floor
	}
	return s
}

// findingID is stable per detector, key, window start and qualifier (template,
// operation or API), and safe in any storage key: the detector, key type and window
// are readable, the rest is a hash.
func findingID(det string, k Key, start int64, qual string) string {
	h := hashString(seedFind, string(k.Type)+"\x00"+k.Value+"\x00"+qual)
	return fmt.Sprintf("%s-%s-%s-%016x", det, k.Type, time.Unix(start, 0).UTC().Format("20060102T150405Z"), h)
}

func samplesOf(ws ...*Delta) []Sample {
	var all []sample
	for _, w := range ws {
		if w != nil && w.x != nil {
			all = mergeSamples(all, w.x.samples)
		}
	}
	all = slices.Clip(all)
	if len(all) == 0 {
		return nil
	}
	out := make([]Sample, len(all))
	for i, s := range all {
		out[i] = Sample{Time: time.Unix(0, s.t).UTC(), Method: s.method, Path: s.path, Status: int(s.status),
			UserAgent: s.ua, Client: s.client}
	}
	return out
}
