package detect

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/apiguard/apiguard/shared/traffic"
)

// mixedTraffic is a gateway's traffic, 100 requests a second: 2000 clients (60%
// anonymous, 25% with a subscription, 15% with a subscription and a user, 20 of them
// behind one office NAT), 14 operations on two APIs with realistic statuses (3% 404,
// 1% 400, 0.5% 500, 0.3% 401), sizes and query strings, and a few attackers (a
// flooder, a prober, an enumerator, a password guesser) among them.
func mixedTraffic(seed uint64, batches, per int, start time.Time) [][]traffic.Record {
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	type op struct {
		api, method, tmpl string
		weight            int // per mille
	}
	ops := []op{
		{"shop", "GET", "/items", 200}, {"shop", "GET", "/items/{id}", 250}, {"shop", "GET", "/items/{id}/reviews", 80},
		{"shop", "POST", "/orders", 20}, {"shop", "GET", "/orders/{id}", 60}, {"shop", "GET", "/users/{uid}/orders", 40},
		{"shop", "GET", "/search", 150}, {"shop", "POST", "/cart/items", 40}, {"shop", "DELETE", "/cart/items/{id}", 10},
		{"identity", "POST", "/oauth2/token", 3}, {"identity", "GET", "/me", 60}, {"identity", "POST", "/login", 2},
		{"identity", "GET", "/users/{id}", 15}, {"shop", "GET", "/categories/{slug}", 70},
	}
	pick := func() op {
		n := rng.IntN(1000)
		for _, o := range ops {
			if n < o.weight {
				return o
			}
			n -= o.weight
		}
		return ops[0]
	}
	uas := []string{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36",
		"okhttp/4.12.0", "python-requests/2.32.3", "MyShopApp/5.2 (iPhone; iOS 18.1)", "curl/8.5.0"}
	type client struct {
		addr      netip.Addr
		sub, user string
		ua        string
	}
	clients := make([]client, 2000)
	for i := range clients {
		c := client{addr: netip.AddrFrom4([4]byte{byte(20 + i%200), byte(i / 7), byte(i * 13), byte(1 + i%250)}), ua: uas[i%len(uas)]}
		if i%7 == 0 { // a share of them on IPv6
			c.addr = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb9, 15: byte(i), 14: byte(i >> 8)})
		}
		switch r := rng.IntN(100); {
		case r < 60:
		case r < 85:
			c.sub = fmt.Sprintf("sub-%04d", i)
		default:
			c.sub, c.user = "sub-mobile", fmt.Sprintf("user-%05d", i)
		}
		if i < 20 {
			c.addr, c.sub, c.user = netip.MustParseAddr("203.0.113.50"), "sub-office", fmt.Sprintf("office-%02d", i)
		}
		clients[i] = c
	}
	out := make([][]traffic.Record, batches)
	walked := 0
	at := start
	step := time.Second / 100
	for b := range out {
		recs := make([]traffic.Record, per)
		for i := range recs {
			at = at.Add(step)
			c := clients[rng.IntN(len(clients))]
			o := pick()
			path := o.tmpl
			id := rng.IntN(5000)
			path = replaceParam(path, strconv.Itoa(id))
			r := traffic.Record{Time: at, Client: c.addr, Peer: c.addr, Method: o.method, Path: "/" + o.api + path,
				Template: o.tmpl, API: o.api, Status: 200, ResponseBytes: int64(200 + rng.IntN(20000)),
				Latency: time.Duration(5+rng.IntN(200)) * time.Millisecond, Subscription: c.sub, User: c.user,
				UserAgent: c.ua, Host: "api.contoso.example"}
			switch o.tmpl {
			case "/items", "/search":
				r.Query = fmt.Sprintf("page=%d&q=shoes&sort=price", 1+rng.IntN(5))
			case "/users/{uid}/orders":
				r.Query = "status=open&limit=20"
			}
			switch s := rng.IntN(1000); {
			case s < 30:
				r.Status = 404
			case s < 33: // a token expired: 401, then the client refreshes
				r.Status = 401
			case s < 38:
				r.Status = 500
			case s < 48:
				r.Status = 400
			}
			attack := func(ip string) { // an attacker's requests carry its tool's agent
				r.Client, r.Peer, r.Subscription, r.User = netip.MustParseAddr(ip), netip.MustParseAddr(ip), "", ""
				r.UserAgent = "python-requests/2.32.3"
			}
			switch a := rng.IntN(1000); {
			case a < 20: // flooder
				attack("198.51.100.66")
			case a < 25: // prober
				attack("198.51.100.77")
				r.Path, r.Template, r.Status = fmt.Sprintf("/.git/%d", rng.IntN(100000)), "", 404
			case a < 35: // enumerator, with a stolen subscription key: walks user ids, skipping a few
				attack("198.51.100.88")
				r.Subscription = "sub-stolen"
				walked += 1 + rng.IntN(2)
				r.Method, r.Path, r.Template, r.API = "GET", fmt.Sprintf("/identity/users/%d", 40000+walked), "/users/{id}", "identity"
			case a < 40: // password guesser
				attack("198.51.100.99")
				r.Method, r.Path, r.Template, r.API, r.Query, r.Status = "POST", "/wp-login.php", "", "", "", 200
			}
			recs[i] = r
		}
		out[b] = recs
	}
	return out
}

func replaceParam(tmpl, v string) string {
	out := []byte{}
	for i := 0; i < len(tmpl); i++ {
		if tmpl[i] == '{' {
			for i < len(tmpl) && tmpl[i] != '}' {
				i++
			}
			out = append(out, v...)
			continue
		}
		out = append(out, tmpl[i])
	}
	return string(out)
}

// BenchmarkProcess: records per second through the engine with the in-memory store,
// 1000-record batches of mixed traffic, windows rolling as event time advances. One op
// is one batch; SetBytes counts 1000 nominal bytes per record.
func BenchmarkProcess(b *testing.B) {
	const per, pool = 1000, 64
	batches := mixedTraffic(1, pool, per, t0)
	span := batches[pool-1][per-1].Time.Sub(batches[0][0].Time) + time.Second/100
	e := testEngine(b, nil, NewMemoryStore(1_000_000, time.Hour))
	ctx := context.Background()
	findings := 0
	b.SetBytes(per * 1000)
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		batch := batches[i%pool]
		fs, err := e.Process(ctx, strconv.Itoa(i), batch)
		if err != nil {
			b.Fatal(err)
		}
		findings += len(fs)
		if i%pool == pool-1 { // next lap: the same traffic, later
			for _, bt := range batches {
				for j := range bt {
					bt[j].Time = bt[j].Time.Add(span)
				}
			}
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	recs := float64(b.N * per)
	b.ReportMetric(recs/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/recs, "allocs/record")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/recs, "B/record")
	b.ReportMetric(float64(findings)/float64(b.N), "findings/batch")
	if findings == 0 {
		b.Fatal("the attackers in the mix were not found")
	}
}

// BenchmarkAggregate is the pure part of Process.
func BenchmarkAggregate(b *testing.B) {
	batch := mixedTraffic(2, 1, 1000, t0)[0]
	cfg := DefaultConfig()
	b.SetBytes(1000 * 1000)
	b.ReportAllocs()
	for b.Loop() {
		Aggregate(&cfg, batch)
	}
}

// BenchmarkMemoryPerKey: 1,000,000 distinct clients (two requests each, one
// operation, anonymous: the idle-ish majority of a public API) through the engine
// into a MemoryStore; reports the live heap per key after a GC and the peak heap.
func BenchmarkMemoryPerKey(b *testing.B) {
	const clients, perClient, batch = 1_000_000, 2, 1000
	for b.Loop() {
		b.StopTimer()
		runtime.GC()
		var base runtime.MemStats
		runtime.ReadMemStats(&base)
		store := NewMemoryStore(2_000_000, 24*time.Hour)
		e := testEngine(b, nil, store)
		recs := make([]traffic.Record, batch)
		peak := uint64(0)
		b.StartTimer()
		at := t0
		n := 0
		for c := 0; c < clients; c += batch / perClient {
			for i := range recs {
				id := c + i/perClient
				addr := netip.AddrFrom4([4]byte{byte(1 + id>>24), byte(id >> 16), byte(id >> 8), byte(id)})
				at = at.Add(time.Millisecond)
				recs[i] = traffic.Record{Time: at, Client: addr, Peer: addr, Method: "GET",
					Path: "/shop/items/" + strconv.Itoa(id%977), Template: "/items/{id}", API: "shop",
					Status: 200, ResponseBytes: 1500, UserAgent: "Mozilla/5.0"}
			}
			if _, err := e.Process(context.Background(), strconv.Itoa(n), recs); err != nil {
				b.Fatal(err)
			}
			n++
			if n%100 == 0 {
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapAlloc)
			}
		}
		b.StopTimer()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapAlloc)
		runtime.GC()
		runtime.ReadMemStats(&ms)
		keys := store.Len()
		if keys < clients {
			b.Fatalf("%d keys kept, want %d", keys, clients)
		}
		b.ReportMetric(float64(ms.HeapAlloc-base.HeapAlloc)/float64(keys), "bytes/key")
		b.ReportMetric(float64(peak-base.HeapAlloc)/(1<<20), "peak-heap-MiB")
		b.ReportMetric(float64(ms.HeapAlloc-base.HeapAlloc)/(1<<20), "live-heap-MiB")
		b.ReportMetric(float64(keys), "keys")
		runtime.KeepAlive(store)
		b.StartTimer()
	}
}
