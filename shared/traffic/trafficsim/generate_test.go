package trafficsim

import (
	"flag"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apiguard/apiguard/shared/traffic"
	"github.com/apiguard/apiguard/shared/vocab"
)

// smallConfig is an hour of a small estate with every class weighted: enough for
// the tests that do not need DefaultConfig's volume.
func smallConfig() Config {
	c := DefaultConfig()
	c.Duration = time.Hour
	c.Clients, c.NATUsers, c.ProxyUsers, c.BlogReaders = 120, 40, 8, 15
	return c
}

func TestDeterministic(t *testing.T) {
	for _, seed := range []uint64{42, 43} {
		a, b := Generate(smallConfig(), seed), Generate(smallConfig(), seed)
		if len(a.Records) == 0 || len(a.Attackers) == 0 {
			t.Fatalf("seed %d generated %d records and %d attackers", seed, len(a.Records), len(a.Attackers))
		}
		if !reflect.DeepEqual(a, b) {
			for i := range min(len(a.Records), len(b.Records)) {
				if a.Records[i] != b.Records[i] {
					t.Fatalf("record %d differs between two runs of seed %d:\n%+v\n%+v", i, seed, a.Records[i], b.Records[i])
				}
			}
			t.Fatalf("two runs of seed %d differ (%d and %d records, labels or incidents)", seed, len(a.Records), len(b.Records))
		}
	}
}

// TestStreamsIndependent: each population and each attacker draws from its own
// stream, so a bigger population leaves the attackers' plan and the other
// populations' sizes as they were (addresses come from one pool, and do move).
func TestStreamsIndependent(t *testing.T) {
	cfg := smallConfig()
	more := cfg
	more.Clients, more.Crawlers = cfg.Clients*2, cfg.Crawlers+1
	a, b := Generate(cfg, 5), Generate(more, 5)
	plan := func(s *Scenario) (out []string) {
		for _, at := range s.Attackers {
			out = append(out, fmt.Sprintf("%s %v-%v", at.Class, at.Start.Format(time.TimeOnly), at.End.Format(time.TimeOnly)))
		}
		return out
	}
	if pa, pb := plan(a), plan(b); !slices.Equal(pa, pb) {
		t.Errorf("twice the clients changed the attackers:\n%v\n%v", pa, pb)
	}
	sa, sb := populationSizes(a), populationSizes(b)
	for _, p := range []Population{PopIntegration, PopMonitor, PopBlogAuthor, PopBlogService} {
		if sa[p] != sb[p] {
			t.Errorf("twice the clients changed the %s keys from %d to %d", p, sa[p], sb[p])
		}
	}
	if sb[PopBrowser] <= sa[PopBrowser] {
		t.Errorf("twice the clients: %d browser keys, was %d", sb[PopBrowser], sa[PopBrowser])
	}
}

// TestSeedsDiffer: another seed is another scenario, not the same one shifted.
func TestSeedsDiffer(t *testing.T) {
	cfg := smallConfig()
	a, b := Generate(cfg, 1), Generate(cfg, 2)
	if len(a.Records) == len(b.Records) {
		t.Errorf("seeds 1 and 2 both made %d records", len(a.Records))
	}
	if reflect.DeepEqual(populationSizes(a), populationSizes(b)) {
		t.Errorf("seeds 1 and 2 have the same population sizes %v", populationSizes(a))
	}
	plan := func(s *Scenario) []string {
		var out []string
		for _, at := range s.Attackers {
			out = append(out, fmt.Sprintf("%s@%s", at.Class, at.Start.Format(time.TimeOnly)))
		}
		return out
	}
	if pa, pb := plan(a), plan(b); slices.Equal(pa, pb) {
		t.Errorf("seeds 1 and 2 plant the same attackers at the same times: %v", pa)
	}
	same := 0
	for _, at := range a.Attackers {
		for _, bt := range b.Attackers {
			if at.Class == bt.Class && at.Start.Equal(bt.Start) {
				same++
			}
		}
	}
	if same > 0 {
		t.Errorf("%d attackers of seed 1 start at the same time in seed 2", same)
	}
}

func populationSizes(s *Scenario) map[Population]int {
	n := map[Population]int{}
	for _, p := range s.Benign {
		n[p]++
	}
	return n
}

// defaultSeeds are the seeds the DefaultConfig tests run: enough for every class and
// population to appear, few enough to keep the package's tests fast.
// -seeds N runs them on seeds 1..N instead, to look for a seed that breaks a promise.
var defaultSeeds = []uint64{1, 2, 3, 4, 5, 6}

var seedsFlag = flag.Int("seeds", 0, "run the DefaultConfig checks on seeds 1..N instead of the default few")

// TestDefaultScenarios generates DefaultConfig for a few seeds and runs every check
// on each: the labels, the documented behaviour of every attacker class and of every
// ordinary population. Across the seeds, every class and population must appear.
func TestDefaultScenarios(t *testing.T) {
	classes := map[Class]int{}
	pops := map[Population]int{}
	seeds := defaultSeeds
	if *seedsFlag > 0 {
		seeds = nil
		for i := range *seedsFlag {
			seeds = append(seeds, uint64(i+1))
		}
	}
	for _, seed := range seeds {
		v := newView(Generate(DefaultConfig(), seed))
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			for _, c := range labelChecks {
				t.Run("labels/"+c.name, func(t *testing.T) { c.check(t, v) })
			}
			for i := range v.s.Attackers {
				at := &v.s.Attackers[i]
				classes[at.Class]++
				t.Run(fmt.Sprintf("attacker/%d-%s", i, at.Class), func(t *testing.T) {
					classChecks[at.Class](t, v, at, v.recordsOf(i))
					if t.Failed() {
						t.Logf("attacker %s %v: %s", at.Class, at.Keys, at.Note)
					}
				})
			}
			for _, c := range popChecks {
				if keys := v.byPop[c.pop]; len(keys) > 0 {
					pops[c.pop]++
					t.Run("population/"+string(c.pop), func(t *testing.T) { c.check(t, v, keys) })
				}
			}
		})
	}
	for _, c := range Classes() {
		if classes[c] == 0 {
			t.Errorf("class %s appears in no seed of %v", c, seeds)
		}
	}
	for _, c := range popChecks {
		if pops[c.pop] == 0 {
			t.Errorf("population %s appears in no seed of %v", c.pop, seeds)
		}
	}
}

// view indexes a scenario for the checks.
type view struct {
	s        *Scenario
	byAtk    [][]int              // record indexes per attacker
	ordinary []int                // records of no attacker
	byKey    map[Key][]int        // ordinary records per key
	byPop    map[Population][]Key // ordinary keys per population (each part of "a+b")
	users    map[string][]string  // distinct users of the ordinary records per address
	victim   map[Key]bool         // every attacker's victims
	owner    map[Key][]int        // attackers per attacker key
}

func newView(s *Scenario) *view {
	v := &view{s: s, byAtk: make([][]int, len(s.Attackers)), byKey: map[Key][]int{}, byPop: map[Population][]Key{},
		users: map[string][]string{}, victim: map[Key]bool{}, owner: map[Key][]int{}}
	for i := range s.Records {
		if a := s.AttackerOf(i); a >= 0 {
			v.byAtk[a] = append(v.byAtk[a], i)
			continue
		}
		v.ordinary = append(v.ordinary, i)
		r := &s.Records[i]
		for _, k := range KeysOf(r) {
			v.byKey[k] = append(v.byKey[k], i)
			if k.Type == vocab.KeyIP && r.User != "" && !slices.Contains(v.users[k.Value], r.User) {
				v.users[k.Value] = append(v.users[k.Value], r.User)
			}
		}
	}
	for k, p := range s.Benign {
		for _, part := range strings.Split(string(p), "+") {
			v.byPop[Population(part)] = append(v.byPop[Population(part)], k)
		}
	}
	for _, keys := range v.byPop {
		slices.SortFunc(keys, compareKeys)
	}
	for i, at := range s.Attackers {
		for _, k := range at.Victims {
			v.victim[k] = true
		}
		for _, k := range at.Keys {
			v.owner[k] = append(v.owner[k], i)
		}
	}
	return v
}

func (v *view) recordsOf(atk int) []*traffic.Record {
	out := make([]*traffic.Record, len(v.byAtk[atk]))
	for i, j := range v.byAtk[atk] {
		out[i] = &v.s.Records[j]
	}
	return out
}

// only reports whether the key belongs to population p alone.
func (v *view) only(k Key, p Population) bool { return v.s.Benign[k] == p }

func (v *view) records(k Key) []*traffic.Record {
	out := make([]*traffic.Record, len(v.byKey[k]))
	for i, j := range v.byKey[k] {
		out[i] = &v.s.Records[j]
	}
	return out
}

var labelChecks = []struct {
	name  string
	check func(*testing.T, *view)
}{
	{"event-time order", func(t *testing.T, v *view) {
		s := v.s
		for i := 1; i < len(s.Records); i++ {
			if s.Records[i].Time.Before(s.Records[i-1].Time) {
				t.Fatalf("record %d at %v comes after one at %v", i, s.Records[i].Time, s.Records[i-1].Time)
			}
		}
		if !s.Records[0].Time.Before(s.Records[len(s.Records)-1].Time) || s.Records[0].Time.Before(s.Start) ||
			!s.Records[len(s.Records)-1].Time.Before(s.End) {
			t.Errorf("records span %v..%v, scenario %v..%v", s.Records[0].Time, s.Records[len(s.Records)-1].Time, s.Start, s.End)
		}
		if !slices.IsSortedFunc(s.Attackers, func(x, y Attacker) int { return x.Start.Compare(y.Start) }) {
			t.Error("attackers are not in order of start")
		}
	}},
	{"attackers' records", func(t *testing.T, v *view) {
		for i, at := range v.s.Attackers {
			recs := v.recordsOf(i)
			if len(recs) == 0 || len(recs) != at.Records {
				t.Errorf("attacker %d (%s) made %d records, labelled %d", i, at.Class, len(recs), at.Records)
			}
			if len(at.Keys) == 0 || !at.End.After(at.Start) || at.Note == "" {
				t.Errorf("attacker %d (%s): keys %v, span %v..%v, note %q", i, at.Class, at.Keys, at.Start, at.End, at.Note)
			}
			seen := map[Key]bool{}
			for _, r := range recs {
				if r.Time.Before(at.Start) || !r.Time.Before(at.End) {
					t.Errorf("attacker %d (%s) has a record at %v outside %v..%v", i, at.Class, r.Time, at.Start, at.End)
				}
				own := false
				for _, k := range KeysOf(r) {
					seen[k] = true
					switch {
					case slices.Contains(at.Keys, k):
						own = true
					case slices.Contains(at.Victims, k):
					case v.s.Benign[k] != "": // borrowed: the NAT, a team or the portal's subscription
					default:
						t.Errorf("attacker %d (%s) record key %v is not its own, its victim's or ordinary", i, at.Class, k)
					}
				}
				if !own {
					t.Errorf("attacker %d (%s) record %s %s counts for none of its keys %v", i, at.Class, r.Method, r.Path, at.Keys)
				}
			}
			for _, k := range at.Keys {
				if !seen[k] {
					t.Errorf("attacker %d (%s) key %v is in none of its records", i, at.Class, k)
				}
			}
			for _, k := range at.Victims {
				if !seen[k] || k.Type != vocab.KeyUser {
					t.Errorf("attacker %d (%s) victim %v: in its records %v", i, at.Class, k, seen[k])
				}
			}
		}
	}},
	{"benign keys", func(t *testing.T, v *view) {
		s := v.s
		for k, p := range s.Benign {
			if len(v.owner[k]) > 0 || v.victim[k] {
				t.Errorf("key %v is labelled %s and is an attacker's or a victim's", k, p)
			}
		}
		appears := map[Key]bool{}
		for i := range s.Records {
			for _, k := range KeysOf(&s.Records[i]) {
				appears[k] = true
			}
		}
		for k, p := range s.Benign {
			if !appears[k] {
				t.Errorf("benign key %v (%s) appears in no record", k, p)
			}
		}
		for k := range v.byKey {
			switch {
			case s.Benign[k] != "" || v.victim[k]:
			case len(v.owner[k]) > 0:
				// Ordinary traffic on an attacker key: only a known client's.
				for _, a := range v.owner[k] {
					if !s.Attackers[a].Known {
						t.Errorf("ordinary records carry key %v of attacker %d (%s), which is not Known", k, a, s.Attackers[a].Class)
					}
				}
			default:
				t.Errorf("ordinary key %v has no label", k)
			}
		}
	}},
	{"shared addresses are never attacker keys", func(t *testing.T, v *view) {
		// The corporate NAT (and a carrier's address) carries many users: whoever
		// attacks from behind it is keyed by user, never by the address.
		nat := 0
		for addr, users := range v.users {
			k := Key{vocab.KeyIP, addr}
			if len(users) >= 2 && len(v.owner[k]) > 0 {
				t.Errorf("address %s of %d ordinary users (%s) is a key of attacker %v", addr, len(users), v.s.Benign[k], v.owner[k])
			}
			if len(users) >= 50 {
				nat++
				if !strings.Contains(string(v.s.Benign[k]), string(PopCorporateNAT)) {
					t.Errorf("address %s of %d users is labelled %s", addr, len(users), v.s.Benign[k])
				}
			}
		}
		if nat == 0 || nat > 2 {
			t.Errorf("%d addresses carry 50 users or more, want the office's one or two", nat)
		}
	}},
	{"malformed records", func(t *testing.T, v *view) {
		for i := range v.s.Records {
			r := &v.s.Records[i]
			if !r.Malformed {
				continue
			}
			a := v.s.AttackerOf(i)
			if a < 0 || v.s.Attackers[a].Class != Malformed {
				t.Fatalf("malformed record %d is made by attacker %d", i, a)
			}
			if r.Status != 400 || !r.Client.IsValid() || r.Peer != r.Client || r.Method != "" || r.Path != "" || r.Template != "" {
				t.Errorf("malformed record %+v: want status 400, a client as peer, no request", *r)
			}
		}
	}},
}

// classChecks test what each class's doc comment promises, on its records.
var classChecks = map[Class]func(*testing.T, *view, *Attacker, []*traffic.Record){
	Flood: func(t *testing.T, v *view, at *Attacker, recs []*traffic.Record) {
		span := at.End.Sub(at.Start)
		if span < 3*time.Minute {
			t.Errorf("flood lasts %v", span)
		}
		if rps := float64(len(recs)) / span.Seconds(); rps < 1 {
			t.Errorf("flood of %.2f requests/s", rps)
		}
	},
	RateSpike: func(t *testing.T, v *view, at *Attacker, recs []*traffic.Record) {
		if !at.Known || len(at.Keys) != 3 {
			t.Fatalf("rate spike keys %v known %v: want a known client's address, subscription and user", at.Keys, at.Known)
		}
		// Its usual rate: ordinary calls (tokens aside) on its address before the spike.
		usual := 0
		var first time.Time
		for _, r := range v.records(at.Keys[0]) {
			if r.Time.Before(at.Start) && r.Operation != "token" {
				usual++
				if first.IsZero() {
					first = r.Time
				}
			}
		}
		history := at.Start.Sub(v.s.Start)
		if history < 45*time.Minute || usual == 0 {
			t.Fatalf("%d ordinary calls in %v of history", usual, history)
		}
		before := float64(usual) / history.Minutes()
		during := float64(len(recs)) / at.End.Sub(at.Start).Minutes()
		if during < 10*before {
			t.Errorf("spike at %.1f calls/min, usual %.2f/min: ×%.1f", during, before, during/before)
		}
	},
	PathProbing: func(t *testing.T, v *view, at *Attacker, recs []*traffic.Record) {
		paths := map[string]bool{}
		errs := 0
		for _, r := range recs {
			paths[r.Host+r.Path] = true
			if r.Status >= 400 {
				errs++
			}
		}
		if len(paths) != len(recs) || len(recs) < 30 || len(recs) > 600 {
			t.Errorf("%d distinct paths in %d requests, want 30 to 600, all distinct", len(paths), len(recs))
		}
		if errs < len(recs)*8/10 {
			t.Errorf("%d of %d answered 4xx, want most", errs, len(recs))
		}
	},
	PayloadProbing: func(t *testing.T, v *view, at *Attacker, recs []*traffic.Record) {
		seen := map[string]bool{}
		for _, r := range recs {
			seen[r.Method+" "+r.Path+"?"+r.Query] = true
		}
		if len(recs) < 4 || len(recs) > 15 || len(seen) != len(recs) {
			t.Errorf("%d requests, %d distinct: want a handful, all distinct", len(recs), len(seen))
		}
	},
	BruteForceJSON: func(t *testing.T, v *view, at *Attacker, recs []*traffic.Record) {
		logins := checkGuesses(t, at, recs, func(r *traffic.Record) bool { return r.Operation == "login" && r.Method == "POST" }, 401)
		if logins < 15 {
			t.Errorf("%d login attempts", logins)
		}
	},
	BruteForceWordPress: func(t *testing.T, v *view, at *Attacker, recs []*traffic.Record) {
		guess := func(r *traffic.Record) bool {
			return r.Method == "POST" && (strings.HasSuffix(r.Path, "/wp-login.php") || strings.HasSuffix(r.Path, "/xmlrpc.php"))
		}
		n, won := 0, 0
		for i, r := range recs {
			if !guess(r) {
				continue
			}
			n++
			switch {
			case r.Status == 200 && r.ResponseBytes > 0:
			case r.Status == 302 && i == len(recs)-1 && strings.HasSuffix(r.Path, "/wp-login.php"):
				won++
			default:
				t.Errorf("POST %s answered %d (%d bytes): a failure is 200, only the last may succeed with 302", r.Path, r.Status, r.ResponseBytes)
			}
		}
		if n < 10 {
			t.Errorf("%d guesses", n)
		}
	},
	BruteForceApp: func(t *testing.T, v *view, at *Attacker, recs []*traffic.Record) {
		status := map[string]int{"/apps/login": 401, "/ghost/api/admin/session": 422, "/oauth/token": 400}
		want, ok := status[recs[0].Path]
		if !ok {
			t.Fatalf("guesses on %s", recs[0].Path)
		}
		if n := checkGuesses(t, at, recs, func(r *traffic.Record) bool { return r.Path == recs[0].Path }, want); n != len(recs) || n < 20 {
			t.Errorf("%d of %d requests are guesses on %s", n, len(recs), recs[0].Path)
		}
	},
	CredentialStuffing: func(t *testing.T, v *view, at *Attacker, recs []*traffic.Record) {
		tries := map[string]int{}
		for _, r := range recs {
			if r.Operation == "login" {
				tries[r.User]++
			}
		}
		for u, n := range tries {
			if n > 2 {
				t.Errorf("identity %s tried %d times", u, n)
			}
		}
		if len(tries) < 40 || len(at.Victims) != len(tries) {
			t.Errorf("%d identities tried, %d victims", len(tries), len(at.Victims))
		}
		if ips := countKeys(at.Keys, vocab.KeyIP); ips < 1 || ips > 6 {
			t.Errorf("%d addresses", ips)
		}
	},
	Enumeration: func(t *testing.T, v *view, at *Attacker, recs []*traffic.Record) {
		targets := map[string]bool{}
		steps := 0
		prev := -1
		for _, r := range recs {
			targets[r.Path+"?"+r.Query] = true
			id := lastNumber(r.Path + "?" + r.Query)
			if prev >= 0 && id == prev+1 {
				steps++
			}
			prev = id
		}
		if len(targets) < 6 {
			t.Errorf("%d distinct objects", len(targets))
		}
		if steps < (len(recs)-1)*3/10 {
			t.Errorf("%d of %d requests step to the next id", steps, len(recs))
		}
	},
	Exfiltration: func(t *testing.T, v *view, at *Attacker, recs []*traffic.Record) {
		site := newSite(newRand(v.s.Seed, "site", 0))
		usual := map[string]float64{"export-report": site.exportMedian, "list-customers": site.listCustomers.median}
		window := map[time.Time]int64{}
		exports := 0
		for _, r := range recs {
			window[r.Time.Truncate(5*time.Minute)] += r.ResponseBytes
			m, ok := usual[r.Operation]
			if !ok {
				continue
			}
			exports++
			if x := float64(r.ResponseBytes) / m; x < 15 || x > 60 {
				t.Errorf("export of %d bytes is ×%.1f the usual %.0f", r.ResponseBytes, x, m)
			}
		}
		if exports < 12 || exports > 48 {
			t.Errorf("%d exports, want a few dozen", exports)
		}
		for w, n := range window {
			if n >= 10<<20 {
				t.Errorf("%d bytes in the 5-minute window from %v", n, w)
			}
		}
		if span := at.End.Sub(at.Start); span < 45*time.Minute {
			t.Errorf("spread over %v only", span)
		}
	},
	CacheBusting: func(t *testing.T, v *view, at *Attacker, recs []*traffic.Record) {
		// Every request is part of a burst: a 2-s window of 20 distinct queries or more.
		inBurst := make([]bool, len(recs))
		for i, r := range recs {
			if r.Path != recs[0].Path || r.Host != recs[0].Host {
				t.Fatalf("cache busting on %s%s and %s%s", recs[0].Host, recs[0].Path, r.Host, r.Path)
			}
			qs := map[string]bool{}
			j := i
			for ; j < len(recs) && recs[j].Time.Sub(r.Time) <= 2*time.Second; j++ {
				qs[recs[j].Query] = true
			}
			if len(qs) >= 20 {
				for k := i; k < j; k++ {
					inBurst[k] = true
				}
			}
		}
		if i := slices.Index(inBurst, false); i >= 0 {
			t.Errorf("request %d of %d at %v is in no burst of 20 distinct queries within 2 s", i, len(recs), recs[i].Time)
		}
	},
	UARotation: func(t *testing.T, v *view, at *Attacker, recs []*traffic.Record) {
		uas := map[string]bool{}
		bad, changes := 0, 0
		for i, r := range recs {
			uas[r.UserAgent] = true
			if r.Status == 400 {
				bad++
			}
			if i > 0 && r.UserAgent != recs[i-1].UserAgent {
				changes++
			}
		}
		// Drawn from browser strings, a few repeat; consecutive ones nearly never.
		if changes < (len(recs)-1)*95/100 || len(uas) < len(recs)*3/4 || bad < len(recs)*7/10 || len(recs) < 30 {
			t.Errorf("%d user agents, %d changes and %d 400s in %d requests", len(uas), changes, bad, len(recs))
		}
	},
	Malformed: func(t *testing.T, v *view, at *Attacker, recs []*traffic.Record) {
		n := 0
		for i, r := range recs {
			switch {
			case r.Malformed:
				n++
			case i != len(recs)-1 || r.Method != "GET" || r.Path != "/":
				t.Errorf("record %d of %d of a malformed attacker: %s %s (only a last GET / may follow the junk)", i, len(recs), r.Method, r.Path)
			}
		}
		if n < 3 {
			t.Errorf("%d malformed records", n)
		}
	},
}

// checkGuesses checks that every guess fails with status fail (the last may succeed),
// on a victim's identity, and returns how many there are.
func checkGuesses(t *testing.T, at *Attacker, recs []*traffic.Record, guess func(*traffic.Record) bool, fail int) int {
	t.Helper()
	n := 0
	for i, r := range recs {
		if !guess(r) {
			continue
		}
		n++
		if !slices.Contains(at.Victims, Key{vocab.KeyUser, r.User}) {
			t.Errorf("guess on %q, not a victim (%v)", r.User, at.Victims)
		}
		if r.Status != fail && !(r.Status < 300 && i >= len(recs)-2) {
			t.Errorf("guess %d of %d answered %d, want %d", i, len(recs), r.Status, fail)
		}
	}
	return n
}

func countKeys(ks []Key, typ vocab.KeyType) int {
	n := 0
	for _, k := range ks {
		if k.Type == typ {
			n++
		}
	}
	return n
}

// lastNumber is the last run of digits in s, -1 when there is none.
func lastNumber(s string) int {
	end := strings.LastIndexAny(s, "0123456789")
	if end < 0 {
		return -1
	}
	start := end
	for start > 0 && s[start-1] >= '0' && s[start-1] <= '9' {
		start--
	}
	n := 0
	for _, c := range s[start : end+1] {
		n = n*10 + int(c-'0')
	}
	return n
}
