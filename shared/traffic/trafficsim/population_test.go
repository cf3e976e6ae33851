package trafficsim

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apiguard/apiguard/shared/traffic"
	"github.com/apiguard/apiguard/shared/vocab"
)

// popChecks test what each ordinary population's doc promises, on its keys'
// ordinary records. keys are the population's keys, in order.
var popChecks = []struct {
	pop   Population
	check func(t *testing.T, v *view, keys []Key)
}{
	{PopBrowser, func(t *testing.T, v *view, keys []Key) {
		subs := map[string]bool{}
		for _, k := range ofType(keys, vocab.KeyUser) {
			if !v.only(k, PopBrowser) {
				continue
			}
			recs := v.records(k)
			for i, r := range recs {
				subs[r.Subscription] = true
				// An expired access token: 401, a refresh, the retry.
				if r.Status == 401 && r.Operation != "login" && !followedBy(recs[i+1:], r.Time.Add(time.Second), "refresh") {
					t.Errorf("%s got a 401 on %s and did not refresh", k.Value, r.Path)
				}
			}
		}
		if len(subs) != 1 || subs[""] {
			t.Errorf("signed-in users call with subscriptions %v, want the portal's", subs)
		}
	}},
	{PopAnonymous, func(t *testing.T, v *view, keys []Key) {
		for _, k := range keys {
			for _, r := range v.records(k) {
				if r.User != "" || r.Subscription != "" {
					t.Fatalf("anonymous visitor %v calls as %q with %q", k, r.User, r.Subscription)
				}
			}
		}
	}},
	{PopMobile, func(t *testing.T, v *view, keys []Key) {
		subs := map[string]bool{}
		for _, k := range ofType(keys, vocab.KeyUser) {
			for _, r := range v.records(k) {
				subs[r.Subscription] = true
				if strings.HasPrefix(r.UserAgent, "Mozilla/") {
					t.Fatalf("app user %s calls as a browser: %s", k.Value, r.UserAgent)
				}
			}
		}
		if len(subs) != 1 || subs[""] {
			t.Errorf("app users call with subscriptions %v, want the app's one", subs)
		}
	}},
	{PopCarrier, func(t *testing.T, v *view, keys []Key) {
		most := 0
		for _, k := range keys {
			for _, u := range v.users[k.Value] {
				if p := v.s.Benign[Key{vocab.KeyUser, u}]; p != PopMobile {
					t.Errorf("user %s behind carrier address %s is %s", u, k.Value, p)
				}
			}
			most = max(most, len(v.users[k.Value]))
		}
		if most < 2 {
			t.Errorf("no carrier address is shared: at most %d user", most)
		}
	}},
	{PopMachine, func(t *testing.T, v *view, keys []Key) {
		for _, k := range ofType(keys, vocab.KeyIP) {
			if !v.only(k, PopMachine) {
				continue
			}
			var last time.Time
			ids := map[string]bool{}
			for _, r := range v.records(k) {
				ids[r.Subscription+" "+r.User] = true
				if r.Operation != "token" || r.Status != 200 {
					continue
				}
				if gap := r.Time.Sub(last); !last.IsZero() && (gap < 45*time.Second || gap > 18*time.Minute) {
					t.Errorf("machine client %s fetched a token %v after the previous one", k.Value, gap)
				}
				last = r.Time
			}
			if len(ids) != 1 || last.IsZero() {
				t.Errorf("machine client %s: identities %v, fetched a token: %v", k.Value, ids, !last.IsZero())
			}
		}
	}},
	{PopCorporateNAT, func(t *testing.T, v *view, keys []Key) {
		addrs := ofType(keys, vocab.KeyIP)
		users := 0
		for _, k := range addrs {
			users += len(v.users[k.Value])
			for _, u := range v.users[k.Value] {
				if p := v.s.Benign[Key{vocab.KeyUser, u}]; p == PopCorporateNAT && !strings.Contains(u, "@corp.") {
					t.Errorf("office user %s", u)
				}
			}
		}
		if len(addrs) < 1 || len(addrs) > 2 || users < 100 {
			t.Errorf("%d users behind %d office addresses, want hundreds behind one or two", users, len(addrs))
		}
		expiry := 0
		for _, in := range v.s.Incidents {
			if in.Kind == "token_expiry_wave" {
				expiry++
			}
		}
		if expiry != 1 {
			t.Errorf("%d token expiry waves", expiry)
		}
	}},
	{PopForwardProxy, func(t *testing.T, v *view, keys []Key) {
		private := netip.MustParsePrefix("10.20.0.0/16")
		for _, k := range keys {
			uas := map[string]bool{}
			for _, r := range v.records(k) {
				first, _, _ := strings.Cut(r.Forwarded, ",")
				a, err := netip.ParseAddr(first)
				if err != nil || !private.Contains(a) || r.Client.String() != k.Value || r.User != "" {
					t.Fatalf("forward proxy %s: record from %v forwarded for %q as %q", k.Value, r.Client, r.Forwarded, r.User)
				}
				uas[r.UserAgent] = true
			}
			if len(uas) < 2 {
				t.Errorf("forward proxy %s: %d user agent", k.Value, len(uas))
			}
		}
	}},
	{PopCrawler, func(t *testing.T, v *view, keys []Key) {
		google := netip.MustParsePrefix("66.249.64.0/20")
		for _, k := range keys {
			recs := v.records(k)
			if recs[0].Path != "/robots.txt" {
				t.Errorf("crawler %s starts with %s", k.Value, recs[0].Path)
			}
			if strings.Contains(recs[0].UserAgent, "Googlebot") && !google.Contains(recs[0].Client) {
				t.Errorf("Googlebot from %s", k.Value)
			}
			dead := 0
			for _, r := range recs {
				if r.Status == 404 {
					dead++
				}
			}
			if dead == 0 || dead > len(recs)/5 {
				t.Errorf("crawler %s followed %d dead links in %d requests", k.Value, dead, len(recs))
			}
		}
	}},
	{PopIntegration, func(t *testing.T, v *view, keys []Key) {
		for _, k := range ofType(keys, vocab.KeyIP) {
			recs := v.records(k)
			exports := 0
			for _, r := range recs {
				if r.Operation == "export-orders" {
					exports++
				}
			}
			per5m := float64(len(recs)) / (v.s.End.Sub(v.s.Start).Minutes() / 5)
			if per5m < 150 || exports == 0 {
				t.Errorf("integration %s: %.0f requests per 5 minutes, %d bulk exports", k.Value, per5m, exports)
			}
		}
	}},
	{PopMonitor, func(t *testing.T, v *view, keys []Key) {
		for _, k := range keys {
			recs := v.records(k)
			every := recs[1].Time.Sub(recs[0].Time).Round(30 * time.Second)
			if every != 30*time.Second && every != time.Minute && every != 5*time.Minute {
				t.Errorf("monitor %s probes every %v", k.Value, every)
			}
			for i := 1; i < len(recs); i++ {
				if d := recs[i].Time.Sub(recs[i-1].Time) - every; d < -time.Second-time.Millisecond || d > time.Second+time.Millisecond {
					t.Errorf("monitor %s probes %v after the previous one, every %v", k.Value, recs[i].Time.Sub(recs[i-1].Time), every)
					break
				}
			}
		}
	}},
	{PopBlogReader, func(t *testing.T, v *view, keys []Key) {
		for _, k := range keys {
			for _, r := range v.records(k) {
				if r.Method != "GET" || r.API != "blog" {
					t.Fatalf("blog reader %s: %s %s%s (api %q)", k.Value, r.Method, r.Host, r.Path, r.API)
				}
			}
		}
	}},
	{PopBlogAuthor, func(t *testing.T, v *view, keys []Key) {
		// wp-login.php answers a failed login with the form again (200) and a
		// success with a redirect (302) to wp-admin.
		logins := 0
		var gaps []time.Duration
		for _, k := range ofType(keys, vocab.KeyIP) {
			recs := slices.DeleteFunc(v.records(k), func(r *traffic.Record) bool { return r.API != "blog" }) // an author may write from the office
			var beat time.Time
			for i, r := range recs {
				switch {
				case r.Method == "POST" && strings.HasSuffix(r.Path, "/wp-login.php"):
					logins++
					switch {
					case r.Status == 200 && r.ResponseBytes >= 5200 && r.ResponseBytes <= 5600:
					case r.Status == 302 && r.ResponseBytes == 0:
						if !slices.ContainsFunc(recs[i+1:], func(x *traffic.Record) bool {
							return strings.HasSuffix(x.Path, "/wp-admin/") && x.Time.Sub(r.Time) == time.Second
						}) {
							t.Errorf("author %s logged in and did not open wp-admin", k.Value)
						}
					default:
						t.Errorf("author %s login answered %d with %d bytes", k.Value, r.Status, r.ResponseBytes)
					}
				case strings.HasSuffix(r.Path, "/admin-ajax.php"):
					if !beat.IsZero() && v.only(k, PopBlogAuthor) { // several authors share the office's address
						gaps = append(gaps, r.Time.Sub(beat))
					}
					beat = r.Time
				}
			}
		}
		// The editor's heartbeat: every 15 to 60 seconds (shorter gaps where two
		// sessions of one author overlap, longer between sessions).
		slices.Sort(gaps)
		var median time.Duration
		if len(gaps) > 0 {
			median = gaps[len(gaps)/2]
		}
		if logins == 0 || len(gaps) > 0 && (median < 15*time.Second || median > 61*time.Second) {
			t.Errorf("%d author logins, %d heartbeat gaps (median %v)", logins, len(gaps), median)
		}
	}},
	{PopBlogService, func(t *testing.T, v *view, keys []Key) {
		jetpack := netip.MustParsePrefix("192.0.80.0/20")
		for _, k := range keys {
			for _, r := range v.records(k) {
				if !jetpack.Contains(r.Client) || r.Method != "POST" || !strings.HasSuffix(r.Path, "/xmlrpc.php") {
					t.Fatalf("blog service %s: %s %s", k.Value, r.Method, r.Path)
				}
			}
		}
	}},
}

func ofType(keys []Key, typ vocab.KeyType) []Key {
	var out []Key
	for _, k := range keys {
		if k.Type == typ {
			out = append(out, k)
		}
	}
	return out
}

// followedBy reports whether one of recs before until is a call of operation op.
func followedBy(recs []*traffic.Record, until time.Time, op string) bool {
	for _, r := range recs {
		if r.Time.After(until) {
			return false
		}
		if r.Operation == op {
			return true
		}
	}
	return false
}

// TestDeploys: a deploy's removed endpoints answer 404 to everyone while it lasts.
func TestDeploys(t *testing.T) {
	cfg := smallConfig()
	cfg.Deploys = 3
	removed := 0
	for seed := uint64(1); seed <= 3; seed++ {
		s := Generate(cfg, seed)
		deploys := 0
		for _, in := range s.Incidents {
			if in.Kind != "deploy" {
				continue
			}
			deploys++
			list, _, _ := strings.Cut(strings.TrimPrefix(in.Detail, "a deploy removed "), ":")
			ops := strings.Split(list, " and ")
			for i := range s.Records {
				r := &s.Records[i]
				if r.Time.Before(in.Start) || !r.Time.Before(in.End) || !slices.Contains(ops, r.Method+" "+r.Template) {
					continue
				}
				// What would have succeeded is a 404; an expired token is still a 401
				// (the client refreshes, retries and gets its 404).
				switch {
				case r.Status == 404:
					removed++
				case r.Status < 400:
					t.Errorf("seed %d: %s %s answered %d at %v, while %s", seed, r.Method, r.Path, r.Status, r.Time, in.Detail)
				}
			}
		}
		if deploys == 0 {
			t.Errorf("seed %d: no deploy", seed)
		}
	}
	if removed == 0 {
		t.Error("no call of a removed endpoint in three seeds")
	}
}
