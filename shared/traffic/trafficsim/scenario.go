// Package trafficsim generates realistic, labelled API gateway traffic: ordinary
// populations (SPA users, mobile apps, machine clients, a corporate NAT, crawlers,
// integrations, monitors, a WordPress section) with a random set of attackers planted
// at random times. Generate is deterministic per seed and varied across seeds, so the
// detectors can be scored for precision and recall over many seeds (Score) and their
// defaults chosen on data rather than on one file. See README.md.
package trafficsim

import (
	"net/netip"
	"time"

	"github.com/apiguard/apiguard/shared/traffic"
	"github.com/apiguard/apiguard/shared/vocab"
)

// Key is what a detector keeps state for and flags: an address, a subscription or a
// user, as shared/detect keys a record.
type Key struct {
	Type  vocab.KeyType
	Value string
}

func (k Key) String() string { return string(k.Type) + " " + k.Value }

// KeysOf returns the keys a record counts for, by shared/detect's rule: the ip key is
// the attributed client, else the peer; subscription and user when set. Malformed
// records count for their client too.
func KeysOf(r *traffic.Record) []Key {
	return appendKeys(make([]Key, 0, 3), r)
}

func appendKeys(dst []Key, r *traffic.Record) []Key {
	a := r.Client
	if !a.IsValid() {
		a = r.Peer
	}
	if a.IsValid() {
		dst = append(dst, Key{vocab.KeyIP, a.Unmap().String()})
	}
	if r.Subscription != "" {
		dst = append(dst, Key{vocab.KeySubscription, r.Subscription})
	}
	if r.User != "" {
		dst = append(dst, Key{vocab.KeyUser, r.User})
	}
	return dst
}

// Class is the kind of a planted attacker.
type Class string

const (
	// Flood: one client sends far more requests than any person would, for minutes.
	Flood Class = "flood"
	// RateSpike: a known machine client with hours of steady history suddenly sends
	// tens of times its usual rate (a compromised or runaway client).
	RateSpike Class = "rate_spike"
	// PathProbing: a content-discovery scan, tens to hundreds of distinct paths, mostly 404.
	PathProbing Class = "path_probing"
	// PayloadProbing: a handful of requests for sensitive files, traversal, injection
	// markers, admin panels and web shells: a vulnerability scanner's first pass.
	PayloadProbing Class = "payload_probing"
	// BruteForceJSON: password guessing against the API's JSON login (401 on failure).
	BruteForceJSON Class = "brute_force_json"
	// BruteForceWordPress: password guessing against wp-login.php or xmlrpc.php,
	// which answer a failure with 200 (a success redirects with 302).
	BruteForceWordPress Class = "brute_force_wordpress"
	// BruteForceApp: password guessing against other applications' login endpoints
	// (/apps/login, /ghost/api/admin/session, /oauth/token), with their own failure
	// statuses.
	BruteForceApp Class = "brute_force_app"
	// CredentialStuffing: many identities tried once or twice each, from one address
	// or a few.
	CredentialStuffing Class = "credential_stuffing"
	// Enumeration: object ids walked one after another (IDOR, scraping, WordPress
	// ?author=N).
	Enumeration Class = "enumeration"
	// Exfiltration: a few dozen exports, each tens of times the operation's usual
	// size, spread over most of an hour so that no 5-minute window reaches 10 MiB.
	Exfiltration Class = "exfiltration"
	// CacheBusting: bursts of tens of distinct query strings on one path within a
	// second or two, to get past the cache to the origin.
	CacheBusting Class = "cache_busting"
	// UARotation: many 400s from one address that changes its user agent on nearly
	// every request.
	UARotation Class = "ua_rotation"
	// Malformed: requests that are not HTTP (TLS handshakes and other binary junk on
	// the HTTP port), logged with status 400 (Record.Malformed).
	Malformed Class = "malformed"
)

// Classes lists every attacker class.
func Classes() []Class {
	return []Class{Flood, RateSpike, PathProbing, PayloadProbing, BruteForceJSON, BruteForceWordPress,
		BruteForceApp, CredentialStuffing, Enumeration, Exfiltration, CacheBusting, UARotation, Malformed}
}

// Population names the ordinary population a key belongs to, so a false positive can
// be explained.
type Population string

const (
	PopBrowser      Population = "browser"        // signed-in SPA users
	PopAnonymous    Population = "anonymous"      // SPA visitors browsing without signing in
	PopMobile       Population = "mobile"         // mobile app users (login-heavy)
	PopCarrier      Population = "mobile-carrier" // a mobile carrier's NAT address shared by several app users
	PopMachine      Population = "machine"        // service clients that fetch an OAuth token every few minutes
	PopCorporateNAT Population = "corporate-nat"  // an office: hundreds of signed-in users behind one or two addresses
	PopForwardProxy Population = "forward-proxy"  // anonymous users behind an untrusted forward proxy (a school, a hotel)
	PopCrawler      Population = "crawler"        // search engine crawlers
	PopIntegration  Population = "integration"    // partner integrations: steady heavy rate, bulk exports
	PopMonitor      Population = "monitor"        // uptime probes every 30 or 60 seconds
	PopBlogReader   Population = "blog-reader"    // readers of the WordPress section
	PopBlogAuthor   Population = "blog-author"    // its authors: logins, the editor's heartbeat
	PopBlogService  Population = "blog-service"   // a WordPress service calling xmlrpc.php (Jetpack-like)
	// PopVictim is an identity that appears only because an attacker used it (a
	// stuffed or guessed account). Flags on victims are reported apart (see Score).
	PopVictim Population = "victim"
)

// Attacker is one planted attack and its ground truth.
type Attacker struct {
	Class Class `json:"class"`
	// Keys are the keys that should be flagged: its address(es) and, when it used
	// them, its subscription and user. An attacker behind the corporate NAT is keyed
	// by its user only: the NAT address is never an attacker key.
	Keys []Key `json:"keys"`
	// Victims are identities the attack named (a guessed account, stuffed logins). A
	// flag on them is neither a hit nor a false positive (a lockout, not a block).
	Victims []Key `json:"victims,omitempty"`
	// Start and End bound its records (planned span, End exclusive).
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Records is how many records it made.
	Records int `json:"records"`
	// Known is set when its keys carry ordinary traffic too, outside the attack: a
	// known client's rate spike, an insider who is also an ordinary user.
	Known bool `json:"known,omitempty"`
	// Note says what it did, for people reading a failing seed.
	Note string `json:"note"`
}

// Incident is an ordinary event that changes benign traffic for a while: a deploy
// that removed endpoints, a wave of expired tokens behind the NAT.
type Incident struct {
	Kind   string    `json:"kind"`
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	Detail string    `json:"detail"`
}

// Scenario is generated traffic with its ground truth.
type Scenario struct {
	Seed   uint64
	Config Config // as given, with defaults filled
	Start  time.Time
	End    time.Time
	// Records in event-time order (ties in generation order).
	Records []traffic.Record
	// Attackers in order of Start.
	Attackers []Attacker
	// Benign maps every key of the records that is neither an attacker's nor a
	// victim's to its population ("a+b" when several share it).
	Benign map[Key]Population
	// Proxies are the trusted proxies in front of the gateway in this scenario (an
	// Application Gateway subnet), empty when clients reach it directly. Decode the
	// written files with traffic.Trust{Proxies: Proxies} (apiguard replay
	// --trusted-proxies) to attribute clients as the records do.
	Proxies   []netip.Prefix
	Incidents []Incident

	origin []int32 // per record: the attacker's index, or -1
}

// AttackerOf returns the index in Attackers of the attacker that made record i, or
// -1 for ordinary traffic.
func (s *Scenario) AttackerOf(i int) int { return int(s.origin[i]) }
