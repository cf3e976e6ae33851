package detect

import (
	"fmt"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/apiguard/apiguard/shared/traffic"
	"github.com/apiguard/apiguard/shared/vocab"
)

// scenario is generated traffic and what the detectors must and must not find in it.
// The same table seeds the fuzz corpus (the states it leaves) and documents every
// default: each detector has a positive case and a near miss just under its threshold.
type scenario struct {
	name   string
	cfg    func(*Config) // changes to the defaults
	recs   func() []traffic.Record
	want   []want // each must match at least one finding
	absent []want // none may match any finding
}

const (
	attacker = "203.0.113.7"
	nat      = "203.0.113.50"
)

// history is 8 windows of ordinary traffic from t0: 20 population clients at 5
// requests a window, and the attacker at per requests a window shaped by fn. The
// attacker's own baseline and the operation's population baseline are then learnt
// (MinHistory is 6).
func history(per int, fn func(i int, r *traffic.Record)) []traffic.Record {
	var out []traffic.Record
	out = append(out, population(20, 5, 9, t0, fn)...)
	for w := range 8 {
		out = append(out, burst(attacker, per, t0.Add(time.Duration(w)*5*time.Minute+30*time.Second), 5*time.Second, fn)...)
	}
	return out
}

var spikeAt = t0.Add(40 * time.Minute) // the ninth window

func sized(bytes int64) func(int, *traffic.Record) {
	return func(_ int, r *traffic.Record) { r.ResponseBytes = bytes }
}

func status(code int, path string) func(int, *traffic.Record) {
	return func(i int, r *traffic.Record) {
		r.Status = code
		r.Path = fmt.Sprintf(path, i)
		r.Template = r.Path
	}
}

// users makes n well-behaved users of one subscription behind nat, per requests each.
func users(n, per int, at time.Time) []traffic.Record {
	var out []traffic.Record
	for u := range n {
		out = append(out, burst(nat, per, at.Add(time.Duration(u)*400*time.Millisecond), 20*time.Second, func(i int, r *traffic.Record) {
			r.User = fmt.Sprintf("user-%03d", u)
			r.Subscription = "sub-portal"
			r.Path = fmt.Sprintf("/shop/items/%d", u*10+i)
			r.Template = "/items/{id}"
		})...)
	}
	return out
}

// login makes each request a POST to path answered with code, as a log shows it (the
// template is the path).
func login(path string, code int) func(int, *traffic.Record) {
	return func(_ int, r *traffic.Record) {
		r.Method, r.Path, r.Template, r.API, r.Status = "POST", path, path, "", code
	}
}

func mallory(fn func(i int, r *traffic.Record)) func(int, *traffic.Record) {
	return func(i int, r *traffic.Record) {
		r.User, r.Subscription = "mallory", "sub-portal"
		if fn != nil {
			fn(i, r)
		}
	}
}

var scenarios = []scenario{
	// flood: 200 allowed per 5 minutes (README.md: chosen on the generated scenarios), the 201st fires.
	{name: "flood/201", recs: func() []traffic.Record { return burst(attacker, 201, t0, time.Second, nil) },
		want: []want{{vocab.DetectorFlood, vocab.KeyIP, attacker}}},
	{name: "flood/200_near_miss", recs: func() []traffic.Record { return burst(attacker, 200, t0, time.Second, nil) },
		absent: []want{{det: vocab.DetectorFlood}}},
	{name: "flood/two_windows_of_120", recs: func() []traffic.Record {
		return burst(attacker, 240, t0.Add(3*time.Minute), 1500*time.Millisecond, nil) // 120 in each window
	}, absent: []want{{det: vocab.DetectorFlood}}},
	{name: "flood/a_schools_forward_proxy_near_miss", recs: func() []traffic.Record {
		// 40 anonymous browsers behind one address, 300 requests in the window together.
		return burst(attacker, 300, t0, time.Second, func(i int, r *traffic.Record) {
			r.UserAgent = fmt.Sprintf("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/13%d.0.%d", i%40/10, i%40)
		})
	}, absent: []want{{det: vocab.DetectorFlood}}},
	{name: "flood/two_agents_are_one_client", recs: func() []traffic.Record {
		return burst(attacker, 300, t0, time.Second, func(i int, r *traffic.Record) {
			r.UserAgent = fmt.Sprintf("flooder/%d", i%2)
		})
	}, want: []want{{vocab.DetectorFlood, vocab.KeyIP, attacker}}},
	{name: "flood/a_clients_usual_volume_is_not_a_flood", recs: func() []traffic.Record {
		// An integration at 300 a window for 40 minutes: flagged until its own baseline is learnt.
		var out []traffic.Record
		for w := range 9 {
			out = append(out, burst(attacker, 300, t0.Add(time.Duration(w)*5*time.Minute), time.Second, nil)...)
		}
		return out
	}, want: []want{{vocab.DetectorFlood, vocab.KeyIP, attacker}}},
	{name: "flood/per_api_limit",
		cfg: func(c *Config) { c.Flood.PerAPI = map[string]int{"search": 300} },
		recs: func() []traffic.Record {
			return cat(burst(attacker, 301, t0, 500*time.Millisecond, func(_ int, r *traffic.Record) { r.API = "search" }),
				burst(attacker, 50, t0.Add(time.Second), time.Second, nil))
		}, want: []want{{vocab.DetectorFlood, vocab.KeyIP, attacker}}},
	{name: "flood/per_api_within_limit",
		cfg: func(c *Config) { c.Flood.PerAPI = map[string]int{"search": 300} },
		recs: func() []traffic.Record {
			return cat(burst(attacker, 300, t0, 500*time.Millisecond, func(_ int, r *traffic.Record) { r.API = "search" }),
				burst(attacker, 100, t0.Add(time.Second), time.Second, nil))
		}, absent: []want{{det: vocab.DetectorFlood}}},

	// rate_spike: > 10x every learnt reference, and at least 50 requests.
	{name: "rate_spike/51_over_baseline_5", recs: func() []traffic.Record {
		return cat(history(5, nil), burst(attacker, 51, spikeAt.Add(30*time.Second), 4*time.Second, nil))
	}, want: []want{{vocab.DetectorRateSpike, vocab.KeyIP, attacker}}, absent: []want{{det: vocab.DetectorFlood}}},
	{name: "rate_spike/50_at_10x_near_miss", recs: func() []traffic.Record {
		return cat(history(5, nil), burst(attacker, 50, spikeAt.Add(30*time.Second), 4*time.Second, nil))
	}, absent: []want{{det: vocab.DetectorRateSpike}}},
	{name: "rate_spike/quiet_1_to_12", recs: func() []traffic.Record {
		return cat(history(1, nil), burst(attacker, 12, spikeAt.Add(30*time.Second), 4*time.Second, nil))
	}, absent: []want{{det: vocab.DetectorRateSpike}}},
	{name: "rate_spike/no_history", recs: func() []traffic.Record {
		return burst(attacker, 90, spikeAt, 3*time.Second, nil)
	}, absent: []want{{det: vocab.DetectorRateSpike}}},

	// probing: 11 distinct error paths (400, 404, 405; CrowdSec's bucket of capacity 10
	// overflows at the 11th), static resources left out, at least half the requests errors.
	{name: "probing/11_paths", recs: func() []traffic.Record {
		return burst(attacker, 11, t0, time.Second, status(404, "/admin/probe%d.php"))
	},
		want: []want{{vocab.DetectorProbing, vocab.KeyIP, attacker}}},
	{name: "probing/10_paths_near_miss", recs: func() []traffic.Record {
		// 10 distinct paths, each asked twice: 20 errors, 10 paths.
		return cat(burst(attacker, 10, t0, time.Second, status(404, "/admin/probe%d.php")),
			burst(attacker, 10, t0.Add(time.Minute), time.Second, status(405, "/admin/probe%d.php")))
	}, absent: []want{{det: vocab.DetectorProbing}}},
	{name: "probing/mostly_successful_crawler_near_miss", recs: func() []traffic.Record {
		// 12 distinct broken links among 30 pages: 40% errors, a crawler rather than a scanner.
		return cat(burst(attacker, 12, t0, time.Second, status(404, "/blog/old-post-%d")),
			burst(attacker, 18, t0.Add(time.Minute), time.Second, status(200, "/blog/post-%d")))
	}, absent: []want{{det: vocab.DetectorProbing}}},
	{name: "probing/static_ignored", recs: func() []traffic.Record {
		return cat(burst(attacker, 30, t0, time.Second, status(404, "/assets/img%d.png")),
			burst(attacker, 9, t0.Add(time.Minute), time.Second, status(404, "/admin/probe%d.php")))
	}, absent: []want{{det: vocab.DetectorProbing}}},

	// brute_force: 5 failed logins or 5 authentication failures in 10 minutes.
	{name: "brute_force/5_failures_over_two_windows", recs: func() []traffic.Record {
		return cat(burst(attacker, 3, t0.Add(8*time.Minute), 20*time.Second, status(401, "/shop/orders")),
			burst(attacker, 2, t0.Add(11*time.Minute), 20*time.Second, status(401, "/shop/orders")))
	}, want: []want{{vocab.DetectorBruteForce, vocab.KeyIP, attacker}}},
	{name: "brute_force/4_failures_near_miss", recs: func() []traffic.Record {
		return cat(burst(attacker, 2, t0.Add(8*time.Minute), 20*time.Second, status(401, "/shop/orders")),
			burst(attacker, 2, t0.Add(11*time.Minute), 20*time.Second, status(403, "/shop/orders")))
	}, absent: []want{{det: vocab.DetectorBruteForce}}},
	{name: "brute_force/failures_20_minutes_apart", recs: func() []traffic.Record {
		return cat(burst(attacker, 3, t0, 20*time.Second, status(401, "/shop/orders")),
			burst(attacker, 3, t0.Add(20*time.Minute), 20*time.Second, status(401, "/shop/orders")))
	}, absent: []want{{det: vocab.DetectorBruteForce}}},
	{name: "brute_force/5_wordpress_logins_answered_200", recs: func() []traffic.Record {
		return burst(attacker, 5, t0, 10*time.Second, func(_ int, r *traffic.Record) {
			r.Method, r.Path, r.Template, r.API = "POST", "/wp-login.php", "", ""
		})
	}, want: []want{{vocab.DetectorBruteForce, vocab.KeyIP, attacker}}},
	{name: "brute_force/4_logins_near_miss", recs: func() []traffic.Record {
		return burst(attacker, 4, t0, 10*time.Second, func(_ int, r *traffic.Record) {
			r.Method, r.Path, r.Template, r.API = "POST", "/api/v1/oauth/token", "", ""
		})
	}, absent: []want{{det: vocab.DetectorBruteForce}}},

	// Bursts: cache busting, too short for the flood limit.
	{name: "flood/cache_busting_burst", recs: func() []traffic.Record {
		return burst(attacker, 40, t0.Add(10*time.Second), 40*time.Millisecond, func(i int, r *traffic.Record) {
			r.Query = fmt.Sprintf("cb=%d%x", i, i*7919)
		})
	}, want: []want{{vocab.DetectorFlood, vocab.KeyIP, attacker}}},
	{name: "flood/cache_busting_burst_across_a_bucket_boundary", recs: func() []traffic.Record {
		// 24 requests from 0.9 s before a 2-second boundary to 0.9 s after: 12 in each bucket.
		return burst(attacker, 24, t0.Add(9*time.Second+100*time.Millisecond), 75*time.Millisecond, func(i int, r *traffic.Record) {
			r.Query = fmt.Sprintf("cb=%d%x", i, i*7919)
		})
	}, want: []want{{vocab.DetectorFlood, vocab.KeyIP, attacker}}},
	{name: "flood/19_queries_in_a_burst_near_miss", recs: func() []traffic.Record {
		return burst(attacker, 19, t0.Add(10*time.Second), 40*time.Millisecond, func(i int, r *traffic.Record) {
			r.Query = fmt.Sprintf("cb=%d", i)
		})
	}, absent: []want{{det: vocab.DetectorFlood}}},
	{name: "flood/paging_through_results_is_not_a_burst", recs: func() []traffic.Record {
		return burst(attacker, 60, t0, 4*time.Second, func(i int, r *traffic.Record) {
			r.Query = fmt.Sprintf("page=%d", i+1)
		})
	}, absent: []want{{det: vocab.DetectorFlood}}},
	{name: "flood/retry_storm_of_one_url_is_not_cache_busting", recs: func() []traffic.Record {
		return burst(attacker, 40, t0.Add(10*time.Second), 40*time.Millisecond, func(_ int, r *traffic.Record) {
			r.Query = "q=shoes"
		})
	}, absent: []want{{det: vocab.DetectorFlood}}},
	{name: "flood/office_browsers_searching_are_not_one_burst", recs: func() []traffic.Record {
		// 40 people behind one address search within two seconds, in 8 browsers.
		return burst(nat, 40, t0.Add(10*time.Second), 40*time.Millisecond, func(i int, r *traffic.Record) {
			r.Query = fmt.Sprintf("q=item%d", i)
			r.UserAgent = fmt.Sprintf("Mozilla/5.0 (Windows NT 10.0) Chrome/13%d.0", i%8)
		})
	}, absent: []want{{det: vocab.DetectorFlood}}},

	// Probing while rotating the user agent: many 400s, many agents.
	{name: "probing/rotating_user_agents_on_400s", recs: func() []traffic.Record {
		return burst(attacker, 12, t0, 3*time.Second, func(i int, r *traffic.Record) {
			r.Status, r.UserAgent = 400, fmt.Sprintf("Mozilla/5.0 (compatible; agent-%d)", i%6)
		})
	}, want: []want{{vocab.DetectorProbing, vocab.KeyIP, attacker}}},
	{name: "probing/one_agent_with_400s_near_miss", recs: func() []traffic.Record {
		return burst(attacker, 12, t0, 3*time.Second, func(i int, r *traffic.Record) {
			r.Status, r.UserAgent = 400, fmt.Sprintf("Mozilla/5.0 (compatible; agent-%d)", i%4)
		})
	}, absent: []want{{det: vocab.DetectorProbing}}},

	// Probe markers: a scanner is known by what it sends, answered whatever.
	{name: "probing/scanner_user_agent_one_request", recs: func() []traffic.Record {
		return burst(attacker, 1, t0, time.Second, func(_ int, r *traffic.Record) { r.UserAgent = "sqlmap/1.8.2#stable (https://sqlmap.org)" })
	}, want: []want{{vocab.DetectorProbing, vocab.KeyIP, attacker}}},
	{name: "probing/two_injections_answered_200", recs: func() []traffic.Record {
		qs := []string{"q=1%27%20UNION%20SELECT%20password%20FROM%20users--", "file=..%2f..%2f..%2fetc%2fpasswd"}
		return burst(attacker, 2, t0, 2*time.Second, func(i int, r *traffic.Record) { r.Query = qs[i] })
	}, want: []want{{vocab.DetectorProbing, vocab.KeyIP, attacker}}},
	{name: "probing/three_sensitive_files", recs: func() []traffic.Record {
		paths := []string{"/.env", "/.git/config", "/wp-config.php.bak"}
		return burst(attacker, 3, t0, 2*time.Second, func(i int, r *traffic.Record) { r.Status, r.Path, r.Template = 404, paths[i], "" })
	}, want: []want{{vocab.DetectorProbing, vocab.KeyIP, attacker}}},
	{name: "probing/one_sensitive_file_and_a_search_near_miss", recs: func() []traffic.Record {
		// A forgotten bookmark to /.env and a search for "select union rep" in ordinary words.
		return cat(burst(attacker, 1, t0, time.Second, func(_ int, r *traffic.Record) { r.Status, r.Path, r.Template = 404, "/.env", "" }),
			burst(attacker, 20, t0.Add(10*time.Second), 60*time.Second, func(i int, r *traffic.Record) {
				r.Query, r.UserAgent = fmt.Sprintf("q=select+union+rep+%d", i), "curl/8.5.0"
			}))
	}, absent: []want{{det: vocab.DetectorProbing}}},

	// Requests that were not HTTP count for their client.
	{name: "probing/malformed_requests", recs: func() []traffic.Record {
		return burst(attacker, 5, t0, 2*time.Second, func(_ int, r *traffic.Record) {
			r.Method, r.Path, r.Template, r.API, r.Status, r.Malformed = "", "", "", "", 400, true
		})
	}, want: []want{{vocab.DetectorProbing, vocab.KeyIP, attacker}}},
	{name: "probing/slow_malformed_over_two_windows", recs: func() []traffic.Record {
		// A slow scanner: one handshake every 80 s, 3 in one window and 2 in the next.
		return burst(attacker, 5, t0.Add(100*time.Second), 80*time.Second, func(_ int, r *traffic.Record) {
			r.Method, r.Path, r.Template, r.API, r.Status, r.Malformed = "", "", "", "", 400, true
		})
	}, want: []want{{vocab.DetectorProbing, vocab.KeyIP, attacker}}},
	{name: "probing/4_malformed_near_miss", recs: func() []traffic.Record {
		return burst(attacker, 4, t0, 2*time.Second, func(_ int, r *traffic.Record) {
			r.Method, r.Path, r.Template, r.API, r.Status, r.Malformed = "", "", "", "", 400, true
		})
	}, absent: []want{{det: vocab.DetectorProbing}}},

	// brute_force is judged on outcomes (README.md, "brute_force and ordinary clients").
	{name: "brute_force/json_login_5_failures", recs: func() []traffic.Record {
		return burst(attacker, 5, t0, 10*time.Second, login("/api/v1/auth/login", 401))
	}, want: []want{{vocab.DetectorBruteForce, vocab.KeyIP, attacker}}},
	{name: "brute_force/a_rotated_secret_retried_near_miss", recs: func() []traffic.Record {
		// A machine client gets tokens, then its secret is rotated: it retries with the
		// old one every 20 s for two minutes. Its own credentials, not guesses.
		svc := func(code int) func(int, *traffic.Record) {
			return func(i int, r *traffic.Record) {
				login("/oauth2/token", code)(i, r)
				r.Subscription, r.User = "sub-billing", "svc-billing"
			}
		}
		return byTime(cat(burst(attacker, 2, t0, 2*time.Minute, svc(200)), burst(attacker, 6, t0.Add(3*time.Minute), 20*time.Second, svc(401))))
	}, absent: []want{{vocab.DetectorBruteForce, vocab.KeyIP, attacker}, {vocab.DetectorBruteForce, vocab.KeySubscription, "sub-billing"}}},
	{name: "brute_force/guesses_at_one_account", recs: func() []traffic.Record {
		// The same failures naming an account that never logged in from here.
		return burst(attacker, 6, t0, 20*time.Second, func(i int, r *traffic.Record) {
			login("/api/v1/auth/login", 401)(i, r)
			r.User = "victim"
		})
	}, want: []want{{vocab.DetectorBruteForce, vocab.KeyIP, attacker}}},
	{name: "brute_force/json_login_answered_400", recs: func() []traffic.Record {
		return burst(attacker, 6, t0, 10*time.Second, login("/api/v1/auth/login", 400))
	}, want: []want{{vocab.DetectorBruteForce, vocab.KeyIP, attacker}}},
	{name: "brute_force/login_words_at_any_depth", recs: func() []traffic.Record {
		return cat(burst(attacker, 5, t0, 10*time.Second, login("/apps/login", 401)),
			burst("203.0.113.8", 5, t0, 10*time.Second, login("/ghost/api/admin/session", 401)),
			burst("203.0.113.9", 5, t0, 10*time.Second, login("/id/oauth2/v2.0/token", 400)))
	}, want: []want{{vocab.DetectorBruteForce, vocab.KeyIP, attacker}, {vocab.DetectorBruteForce, vocab.KeyIP, "203.0.113.8"},
		{vocab.DetectorBruteForce, vocab.KeyIP, "203.0.113.9"}}},
	{name: "brute_force/ordinary_client_logs_in_often_and_succeeds", recs: func() []traffic.Record {
		// A mobile app that logs in at every start: 8 logins in 10 minutes, one token
		// expired on the way (a 401, then a refresh that succeeds).
		return cat(burst(attacker, 8, t0, 70*time.Second, login("/api/v1/auth/login", 200)),
			burst(attacker, 1, t0.Add(3*time.Minute), time.Second, status(401, "/api/v1/orders")))
	}, absent: []want{{det: vocab.DetectorBruteForce}}},
	{name: "brute_force/token_refresher_is_not_guessing", recs: func() []traffic.Record {
		return burst(attacker, 20, t0, 30*time.Second, login("/oauth2/token", 200))
	}, absent: []want{{det: vocab.DetectorBruteForce}}},
	{name: "brute_force/failures_among_many_successes", recs: func() []traffic.Record {
		// A NAT's users log in: 6 typos among 30 logins is not guessing.
		return burst(nat, 30, t0, 10*time.Second, func(i int, r *traffic.Record) {
			login("/api/v1/auth/login", 200)(i, r)
			if i%5 == 0 {
				r.Status = 401
			}
		})
	}, absent: []want{{det: vocab.DetectorBruteForce}}},
	{name: "brute_force/redirect_on_success_learnt_from_the_population", recs: func() []traffic.Record {
		// Clients of /portal/signin are redirected when they log in; the guesser is
		// answered 200 (the form again) six times.
		var out []traffic.Record
		for c := range 4 {
			out = append(out, burst(fmt.Sprintf("198.18.0.%d", c+1), 1, t0.Add(time.Duration(c)*time.Minute), time.Second,
				login("/portal/signin", 302))...)
		}
		return cat(out, burst(attacker, 6, t0, 20*time.Second, login("/portal/signin", 200)))
	}, want: []want{{vocab.DetectorBruteForce, vocab.KeyIP, attacker}}},
	{name: "brute_force/configured_redirect_contradicted_by_the_population", recs: func() []traffic.Record {
		// An API that happens to serve /wp-login.php as JSON: every client is answered
		// 200 and none redirected, so a client logging in 6 times is not guessing.
		var out []traffic.Record
		for c := range 4 {
			out = append(out, burst(fmt.Sprintf("198.18.0.%d", c+1), 1, t0.Add(time.Duration(c)*time.Minute), time.Second,
				login("/wp-login.php", 200))...)
		}
		return cat(out, burst(attacker, 6, t0, 20*time.Second, login("/wp-login.php", 200)))
	}, absent: []want{{det: vocab.DetectorBruteForce}}},
	{name: "brute_force/unusual_login_volume", recs: func() []traffic.Record {
		// An endpoint that answers 200 whatever happens: 40 attempts in a window where a
		// typical client makes one.
		return cat(population(20, 1, 9, t0, login("/api/v2/session", 200)),
			burst(attacker, 40, spikeAt.Add(30*time.Second), 5*time.Second, login("/api/v2/session", 200)))
	}, want: []want{{vocab.DetectorBruteForce, vocab.KeyIP, attacker}}},
	{name: "brute_force/login_volume_usual_for_the_endpoint", recs: func() []traffic.Record {
		// Machine clients fetch a token 5 times a window: 40 is under 10 times that.
		return cat(population(20, 5, 9, t0, login("/connect/token", 200)),
			burst(attacker, 40, spikeAt.Add(30*time.Second), 5*time.Second, login("/connect/token", 200)))
	}, absent: []want{{det: vocab.DetectorBruteForce}}},
	{name: "brute_force/auth_failures_mixed_with_successes", recs: func() []traffic.Record {
		// An integration with a stale key for one API: 5 401s among 30 calls.
		return burst(attacker, 30, t0, 10*time.Second, func(i int, r *traffic.Record) {
			if i%6 == 0 {
				r.Status = 401
			}
		})
	}, absent: []want{{det: vocab.DetectorBruteForce}}},

	// credential_stuffing: 10 distinct identities failing from one address.
	{name: "credential_stuffing/10_users", recs: func() []traffic.Record {
		return burst(attacker, 10, t0, 5*time.Second, func(i int, r *traffic.Record) {
			r.Status, r.User = 401, fmt.Sprintf("victim%d@example.com", i)
		})
	}, want: []want{{vocab.DetectorCredentialStuffing, vocab.KeyIP, attacker}}},
	{name: "credential_stuffing/9_users_near_miss", recs: func() []traffic.Record {
		return burst(attacker, 9, t0, 5*time.Second, func(i int, r *traffic.Record) {
			r.Status, r.User = 401, fmt.Sprintf("victim%d@example.com", i)
		})
	}, absent: []want{{det: vocab.DetectorCredentialStuffing}}},
	{name: "credential_stuffing/office_nat_few_typos", recs: func() []traffic.Record {
		typos := burst(nat, 12, t0.Add(time.Minute), 5*time.Second, func(i int, r *traffic.Record) {
			r.Status, r.User, r.Subscription = 401, fmt.Sprintf("user-%03d", i*40), "sub-portal"
		})
		return byTime(cat(users(500, 3, t0), typos))
	}, absent: []want{{det: vocab.DetectorCredentialStuffing}, {kt: vocab.KeyIP}}},

	{name: "credential_stuffing/token_expiry_wave_is_not_stuffing", recs: func() []traffic.Record {
		// 30 users behind one address get a 401 (their tokens expired), refresh, succeed.
		var out []traffic.Record
		for u := range 30 {
			out = append(out, burst(attacker, 3, t0.Add(time.Duration(u)*time.Second), 2*time.Second, func(i int, r *traffic.Record) {
				r.User = fmt.Sprintf("user-%02d", u)
				if i == 0 {
					r.Status = 401
				}
			})...)
		}
		return out
	}, absent: []want{{det: vocab.DetectorCredentialStuffing}}},
	{name: "probing/404s_on_objects_of_one_operation_are_one_endpoint", recs: func() []traffic.Record {
		return burst(attacker, 15, t0, 3*time.Second, func(i int, r *traffic.Record) {
			r.Path, r.Template, r.Status = fmt.Sprintf("/shop/items/%d", 9000+i), "/items/{id}", 404
		})
	}, absent: []want{{det: vocab.DetectorProbing}, {det: vocab.DetectorEnumeration}}},

	// enumeration: 50 distinct ids per template; ?author 6 (CrowdSec user-enum: > 5).
	{name: "enumeration/50_ids", recs: func() []traffic.Record {
		return burst(attacker, 50, t0, 3*time.Second, func(i int, r *traffic.Record) {
			r.Path, r.Template = fmt.Sprintf("/shop/users/%d", 1000+i), "/users/{id}"
		})
	}, want: []want{{vocab.DetectorEnumeration, vocab.KeyIP, attacker}}},
	{name: "enumeration/49_ids_near_miss", recs: func() []traffic.Record {
		return burst(attacker, 49, t0, 3*time.Second, func(i int, r *traffic.Record) {
			r.Path, r.Template = fmt.Sprintf("/shop/users/%d", 1000+i), "/users/{id}"
		})
	}, absent: []want{{det: vocab.DetectorEnumeration}}},
	{name: "enumeration/list_page_with_a_call_per_row", recs: func() []traffic.Record {
		// A front end that fetches each of the 25 rows of two list pages (N+1).
		return burst(attacker, 50, t0, 200*time.Millisecond, func(i int, r *traffic.Record) {
			r.Path, r.Template = fmt.Sprintf("/shop/items/%d", 7000+i*13), "/items/{id}"
			if i%25 == 0 {
				r.Path, r.Template, r.Query = "/shop/items", "/items", fmt.Sprintf("page=%d", i/25+1)
			}
		})
	}, absent: []want{{det: vocab.DetectorEnumeration}}},
	{name: "enumeration/slow_walk_over_two_windows", recs: func() []traffic.Record {
		// One id every 8 s from 12:02: 37 in the first window, 23 in the next.
		return burst(attacker, 60, t0.Add(2*time.Minute), 8*time.Second, func(i int, r *traffic.Record) {
			r.Path, r.Template = fmt.Sprintf("/shop/orders/%d", 5000+i), "/orders/{id}"
		})
	}, want: []want{{vocab.DetectorEnumeration, vocab.KeyIP, attacker}}},
	{name: "enumeration/slow_walk_of_49_near_miss", recs: func() []traffic.Record {
		return burst(attacker, 49, t0.Add(2*time.Minute), 8*time.Second, func(i int, r *traffic.Record) {
			r.Path, r.Template = fmt.Sprintf("/shop/orders/%d", 5000+i), "/orders/{id}"
		})
	}, absent: []want{{det: vocab.DetectorEnumeration}}},
	// How the ids were chosen: by counting, or blindly (mostly refused), or handed out.
	{name: "enumeration/60_random_ids_mostly_not_found", recs: func() []traffic.Record {
		return burst(attacker, 60, t0, 2*time.Second, func(i int, r *traffic.Record) {
			r.Path, r.Template = fmt.Sprintf("/shop/users/%d", 1000+(i*7919)%100000), "/users/{id}"
			if i%3 != 0 {
				r.Status = 404
			}
		})
	}, want: []want{{vocab.DetectorEnumeration, vocab.KeyIP, attacker}}},
	{name: "enumeration/catalogue_browsing_80_ids_near_miss", recs: func() []traffic.Record {
		// Product pages a client was handed by list pages: found, in no order.
		return burst(attacker, 80, t0, 3*time.Second, func(i int, r *traffic.Record) {
			r.Path, r.Template = fmt.Sprintf("/shop/items/%d", 10000+(i*7919)%90000), "/items/{id}"
			if i%20 == 0 {
				r.Status = 404 // the odd product withdrawn since the list was shown
			}
		})
	}, absent: []want{{det: vocab.DetectorEnumeration}}},
	{name: "enumeration/per_template_override", cfg: func(c *Config) { c.Enumeration.Overrides["/users/{id}"] = 10 },
		recs: func() []traffic.Record {
			return burst(attacker, 10, t0, 3*time.Second, func(i int, r *traffic.Record) {
				r.Path, r.Template = fmt.Sprintf("/shop/users/%d", 1000+i), "/users/{id}"
			})
		}, want: []want{{vocab.DetectorEnumeration, vocab.KeyIP, attacker}}},
	{name: "enumeration/wordpress_author_1_to_12", recs: func() []traffic.Record {
		return burst(attacker, 12, t0, time.Second, func(i int, r *traffic.Record) {
			r.Path, r.Template, r.Query, r.API, r.Status = "/", "/", fmt.Sprintf("author=%d", i+1), "", 301
		})
	}, want: []want{{vocab.DetectorEnumeration, vocab.KeyIP, attacker}}},
	{name: "enumeration/wordpress_author_1_to_5_near_miss", recs: func() []traffic.Record {
		return burst(attacker, 5, t0, time.Second, func(i int, r *traffic.Record) {
			r.Path, r.Template, r.Query, r.API, r.Status = "/", "/", fmt.Sprintf("author=%d", i+1), "", 301
		})
	}, absent: []want{{det: vocab.DetectorEnumeration}}},
	{name: "enumeration/paging_is_not_ids", recs: func() []traffic.Record {
		return burst(attacker, 60, t0, 4*time.Second, func(i int, r *traffic.Record) {
			r.Query = fmt.Sprintf("page=%d&per_page=50&_=%d", i+1, 1700000000000+i)
		})
	}, absent: []want{{det: vocab.DetectorEnumeration}}},
	{name: "enumeration/browsing_15_items_over_3_templates", recs: func() []traffic.Record {
		return burst(attacker, 45, t0, 6*time.Second, func(i int, r *traffic.Record) {
			r.Path = fmt.Sprintf("/shop/%s/%d", []string{"items", "reviews", "sellers"}[i%3], 500+i/3)
			r.Template = "/" + []string{"items", "reviews", "sellers"}[i%3] + "/{id}"
		})
	}, absent: []want{{det: vocab.DetectorEnumeration}}},

	// exfiltration: >= 10 MiB on one operation and > 10x every learnt reference.
	{name: "exfiltration/40MiB_over_200KiB", recs: func() []traffic.Record {
		return cat(history(20, sized(10<<10)), burst(attacker, 20, spikeAt.Add(30*time.Second), 5*time.Second, sized(2<<20)))
	}, want: []want{{vocab.DetectorExfiltration, vocab.KeyIP, attacker}}},
	{name: "exfiltration/under_min_bytes_near_miss", cfg: func(c *Config) { c.Exfiltration.RunResponses = 1000 }, recs: func() []traffic.Record {
		return cat(history(20, sized(10<<10)), burst(attacker, 20, spikeAt.Add(30*time.Second), 5*time.Second, sized(500_000)))
	}, absent: []want{{det: vocab.DetectorExfiltration}}},
	{name: "exfiltration/usual_for_this_client", recs: func() []traffic.Record {
		var own []traffic.Record
		for w := range 8 {
			own = append(own, burst(attacker, 20, t0.Add(time.Duration(w)*5*time.Minute+30*time.Second), 5*time.Second, sized(2<<20))...)
		}
		return cat(population(20, 5, 9, t0, sized(10<<10)), own, burst(attacker, 20, spikeAt.Add(30*time.Second), 5*time.Second, sized(2<<20)))
	}, absent: []want{{det: vocab.DetectorExfiltration}}},

	// Shared addresses: 500 well-behaved users of one subscription behind one NAT, and
	// one abusive user. The identity is found; the address and the subscription are not.
	{name: "shared/abuser_floods", recs: func() []traffic.Record {
		return byTime(cat(users(500, 4, t0), burst(nat, 300, t0.Add(10*time.Second), 900*time.Millisecond, mallory(nil))))
	}, want: []want{{vocab.DetectorFlood, vocab.KeyUser, "mallory"}}, absent: []want{{kt: vocab.KeyIP}, {kt: vocab.KeySubscription}}},
	{name: "shared/abuser_probes", recs: func() []traffic.Record {
		return byTime(cat(users(500, 4, t0), burst(nat, 30, t0.Add(10*time.Second), 2*time.Second, mallory(status(404, "/shop/.env%d")))))
	}, want: []want{{vocab.DetectorProbing, vocab.KeyUser, "mallory"}}, absent: []want{{kt: vocab.KeyIP}, {kt: vocab.KeySubscription}}},
	{name: "shared/abuser_enumerates", recs: func() []traffic.Record {
		return byTime(cat(users(500, 4, t0), burst(nat, 60, t0.Add(10*time.Second), 2*time.Second, mallory(func(i int, r *traffic.Record) {
			r.Path, r.Template = fmt.Sprintf("/shop/users/%d", i), "/users/{id}"
		}))))
	}, want: []want{{vocab.DetectorEnumeration, vocab.KeyUser, "mallory"}}, absent: []want{{kt: vocab.KeyIP}, {kt: vocab.KeySubscription}}},
	{name: "shared/abuser_guesses_passwords", recs: func() []traffic.Record {
		return byTime(cat(users(500, 4, t0), burst(nat, 8, t0.Add(10*time.Second), 5*time.Second, mallory(status(401, "/shop/orders")))))
	}, want: []want{{vocab.DetectorBruteForce, vocab.KeyUser, "mallory"}}, absent: []want{{kt: vocab.KeyIP}, {kt: vocab.KeySubscription}}},
	{name: "shared/anonymous_flood_from_the_nat_is_still_found", recs: func() []traffic.Record {
		return byTime(cat(users(500, 4, t0), burst(nat, 250, t0.Add(10*time.Second), time.Second, nil)))
	}, want: []want{{vocab.DetectorFlood, vocab.KeyIP, nat}}},
	// exfiltration runs: large responses spread over windows, none reaching MinBytes.
	{name: "exfiltration/run_of_exports_over_an_hour", recs: func() []traffic.Record {
		// 30 exports of 800 KiB, one every 100 seconds (about 2.4 MiB a window), where
		// the operation's typical response is 20 KiB.
		return byTime(cat(population(20, 5, 22, t0, sized(20<<10)), history(5, sized(20<<10)),
			burst(attacker, 30, spikeAt.Add(10*time.Second), 100*time.Second, sized(800<<10))))
	}, want: []want{{vocab.DetectorExfiltration, vocab.KeyIP, attacker}}},
	{name: "exfiltration/a_few_large_responses_near_miss", recs: func() []traffic.Record {
		// 8 exports over the same hour: under RunResponses.
		return byTime(cat(population(20, 5, 22, t0, sized(20<<10)), history(5, sized(20<<10)),
			burst(attacker, 8, spikeAt.Add(10*time.Second), 375*time.Second, sized(800<<10))))
	}, absent: []want{{det: vocab.DetectorExfiltration}}},
	{name: "exfiltration/crawler_fetching_one_archive", recs: func() []traffic.Record {
		// A crawler with a history of ordinary pages fetches a 37 MiB archive once.
		return byTime(cat(history(5, sized(20<<10)), burst(attacker, 1, spikeAt.Add(10*time.Second), time.Second,
			func(_ int, r *traffic.Record) {
				r.Path, r.Template, r.ResponseBytes = "/downloads/catalog-2026.zip", "/downloads/catalog-2026.zip", 37<<20
			})))
	}, absent: []want{{det: vocab.DetectorExfiltration}}},
	{name: "exfiltration/run_from_an_account_without_a_past", recs: func() []traffic.Record {
		// A taken-over account seldom used before: judged on the operation alone. A
		// thousand records a window, so that each batch is one window.
		return byTime(cat(population(20, 50, 22, t0, sized(20<<10)),
			burst(attacker, 30, spikeAt.Add(10*time.Second), 100*time.Second, sized(800<<10))))
	}, want: []want{{vocab.DetectorExfiltration, vocab.KeyIP, attacker}}},
	{name: "exfiltration/run_on_a_quiet_operation", recs: func() []traffic.Record {
		// Two clients a window use the export: the run's own exports must not become its
		// typical response. Other traffic makes each batch one window.
		export := func(_ int, r *traffic.Record) {
			r.Path, r.Template, r.ResponseBytes = "/shop/reports/7/export", "/reports/{id}/export", 20<<10
		}
		return byTime(cat(population(20, 50, 22, t0, nil), population(2, 1, 22, t0.Add(time.Minute), export),
			burst(attacker, 30, spikeAt.Add(10*time.Second), 100*time.Second, func(i int, r *traffic.Record) {
				export(i, r)
				r.ResponseBytes = 800 << 10
			})))
	}, want: []want{{vocab.DetectorExfiltration, vocab.KeyIP, attacker}}},
	{name: "exfiltration/a_file_download_site_near_miss", recs: func() []traffic.Record {
		// An operation answered 304 (empty) for its first windows, then a 39 MiB file
		// downloaded once by each of many clients: its typical response must learn it.
		jar := func(size int64) func(int, *traffic.Record) {
			return func(_ int, r *traffic.Record) {
				r.Path, r.Template, r.ResponseBytes = "/files/tool.jar", "/files/tool.jar", size
				if size == 0 {
					r.Status = 304
				}
			}
		}
		var out []traffic.Record
		for w := range 12 {
			size := int64(0)
			if w >= 4 {
				size = 39 << 20
			}
			out = append(out, burst(fmt.Sprintf("198.51.100.%d", w+1), 1, t0.Add(time.Duration(w)*5*time.Minute+time.Minute), 0, jar(size))...)
		}
		return cat(population(20, 50, 12, t0, nil), out)
	}, absent: []want{{det: vocab.DetectorExfiltration}}},
	{name: "exfiltration/integration_exports_at_their_usual_size", recs: func() []traffic.Record {
		// An integration that always pulls 3 exports of 800 KiB a window.
		var own []traffic.Record
		for w := range 22 {
			own = append(own, burst(attacker, 3, t0.Add(time.Duration(w)*5*time.Minute+30*time.Second), 20*time.Second, sized(800<<10))...)
		}
		return byTime(cat(population(20, 5, 22, t0, sized(20<<10)), own))
	}, absent: []want{{det: vocab.DetectorExfiltration}}},

	{name: "shared/few_identities_is_not_shared", recs: func() []traffic.Record {
		// One household, two users, one floods: she is flagged, not her partner's address.
		return byTime(cat(burst(nat, 20, t0, 10*time.Second, func(_ int, r *traffic.Record) { r.User = "alice" }),
			burst(nat, 250, t0, time.Second, mallory(nil))))
	}, want: []want{{vocab.DetectorFlood, vocab.KeyUser, "mallory"}}, absent: []want{{vocab.DetectorFlood, vocab.KeyIP, nat}}},
	{name: "shared/one_user_flooding_from_her_address", recs: func() []traffic.Record {
		return burst(nat, 250, t0, time.Second, mallory(nil))
	}, want: []want{{vocab.DetectorFlood, vocab.KeyUser, "mallory"}, {vocab.DetectorFlood, vocab.KeyIP, nat}}},
}

func (sc *scenario) config() *Config {
	c := DefaultConfig()
	if sc.cfg != nil {
		sc.cfg(&c)
	}
	return &c
}

// TestScenarios runs every scenario (DETECT_CASE=name runs one) in batches of 1000
// records, in event-time order.
func TestScenarios(t *testing.T) {
	only := os.Getenv("DETECT_CASE")
	for _, sc := range scenarios {
		if only != "" && sc.name != only {
			continue
		}
		t.Run(sc.name, func(t *testing.T) {
			e := testEngine(t, sc.config(), nil)
			got := run(t, e, chunks(byTime(sc.recs()), 1000)...)
			for _, w := range sc.want {
				if len(find(got, w)) == 0 {
					t.Errorf("no %s finding; got:\n%s", w, describe(got))
				}
			}
			for _, w := range sc.absent {
				if fs := find(got, w); len(fs) > 0 {
					t.Errorf("unexpected %s finding: %s", w, fs[0].Reason)
				}
			}
			for _, f := range got {
				checkFinding(t, f)
			}
		})
	}
}

// checkFinding checks what every finding must hold.
func checkFinding(t *testing.T, f Finding) {
	t.Helper()
	if f.ID == "" || f.Reason == "" || f.Evidence.Measure == "" || f.Evidence.Window == "" {
		t.Errorf("incomplete finding %+v", f)
	}
	if f.Confidence < 0.5 || f.Confidence > 1 {
		t.Errorf("%s: confidence %v outside 0.5..1", f.ID, f.Confidence)
	}
	if s := f.Severity; s != vocab.SeverityLow && s != vocab.SeverityMedium && s != vocab.SeverityHigh {
		t.Errorf("%s: severity %q", f.ID, f.Severity)
	}
	if !f.WindowEnd.After(f.WindowStart) || f.WindowStart.Location() != time.UTC {
		t.Errorf("%s: window %v..%v", f.ID, f.WindowStart, f.WindowEnd)
	}
	if len(f.Evidence.Samples) > maxSamples {
		t.Errorf("%s: %d samples", f.ID, len(f.Evidence.Samples))
	}
	if f.KeyType == vocab.KeyOp {
		t.Errorf("%s: a finding on an operation key", f.ID)
	}
}

// Keeping states encoded between batches (a MemoryStore's cold states, or any
// persistent store) changes no finding: every scenario gives the same findings with
// every state decoded from its encoding at each batch.
func TestScenariosThroughTheCodec(t *testing.T) {
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			batches := chunks(byTime(sc.recs()), 1000)
			hot := run(t, testEngine(t, sc.config(), nil), batches...)
			cold := run(t, testEngine(t, sc.config(), newMemoryStore(1_000_000, 0, 1)), batches...)
			if !reflect.DeepEqual(hot, cold) {
				t.Fatalf("decoded:\n%s\nencoded between batches:\n%s", describe(hot), describe(cold))
			}
		})
	}
}
