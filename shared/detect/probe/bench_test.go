package probe

import (
	"fmt"
	"strings"
	"testing"
)

// Benchmarks: Match over a corpus of requests, ordinary API traffic, the hostile
// positives table, and a mix of nine ordinary to one hostile. Bytes are those of
// path + query + user agent. Run with
//
//	go test -run=NONE -bench=. -benchmem -cpu 1 ./shared/detect/probe/
//
// BenchmarkNaiveContains is a reference only: lower-casing each field and calling
// strings.Contains once per pattern, without normalisation or boundaries, which is
// what the automaton replaces.

type benchReq struct{ path, query, agent string }

var benchAgents = []string{
	chrome,
	"python-requests/2.31.0",
	"okhttp/4.12.0",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
	"azsdk-go-azcore/v1.9.0 (go1.21.5; linux)",
}

func ordinaryRequest(i int) benchReq {
	a := benchAgents[i%len(benchAgents)]
	switch i % 6 {
	case 0:
		return benchReq{fmt.Sprintf("/orders/v1/customers/%d/orders", 40000+i*7), fmt.Sprintf("status=open&page=%d&sort=-updated_at", i%13), a}
	case 1:
		return benchReq{fmt.Sprintf("/accounts/v2/users/%08x-9a4d-4e1b-8f3c-5d6e7a8b%04x/profile", i*7919, i%65536), "", a}
	case 2:
		return benchReq{"/search/v1/products", fmt.Sprintf("q=running+shoes+size+%d&size=20&from=%d&filter=%%7B%%22brand%%22%%3A%%22acme%%22%%7D", i%15, i*20), a}
	case 3:
		return benchReq{"/auth/oauth2/v2.0/authorize", fmt.Sprintf("client_id=%x&response_type=code&redirect_uri=https%%3A%%2F%%2Fapp.example.com%%2Fcallback&scope=openid+profile&state=%x", i*31, i*97), a}
	case 4:
		return benchReq{"/graphql", "query=query%20Q(%24id%3AID!)%20%7B%20order(id%3A%24id)%20%7B%20id%20total%20items%20%7B%20sku%20%7D%20%7D%20%7D", a}
	default:
		return benchReq{fmt.Sprintf("/static/js/app.%08x.min.js", i*2654435761), "", a}
	}
}

func benchCorpus(kind string) []benchReq {
	var out []benchReq
	switch kind {
	case "ordinary":
		for i := range 1000 {
			out = append(out, ordinaryRequest(i))
		}
	case "hostile":
		for _, c := range positives {
			out = append(out, benchReq{c.path, c.query, c.agent})
		}
	case "mix":
		for i := range 1000 {
			if i%10 == 9 {
				c := positives[(i/10)%len(positives)]
				out = append(out, benchReq{c.path, c.query, c.agent})
			} else {
				out = append(out, ordinaryRequest(i))
			}
		}
	}
	return out
}

func corpusBytes(reqs []benchReq) int64 {
	n := 0
	for _, r := range reqs {
		n += len(r.path) + len(r.query) + len(r.agent)
	}
	return int64(n)
}

func BenchmarkMatch(b *testing.B) {
	m := Default()
	for _, kind := range []string{"ordinary", "hostile", "mix"} {
		reqs := benchCorpus(kind)
		b.Run(kind, func(b *testing.B) {
			b.SetBytes(corpusBytes(reqs))
			var h Hits
			hits := 0
			for b.Loop() {
				for _, r := range reqs {
					m.Match(r.path, r.query, r.agent, &h)
					hits += h.Len()
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(reqs)), "ns/request")
			if hits == 0 && kind != "ordinary" {
				b.Fatal("no hits")
			}
		})
	}
}

// BenchmarkMatchLong: one 16 KiB query full of escapes, scanned in windows.
func BenchmarkMatchLong(b *testing.B) {
	m := Default()
	q := strings.Repeat("name=caf%C3%A9+cr%C3%A8me&tag=a%2Fb&", 512)[:16<<10]
	b.SetBytes(int64(len(q)))
	var h Hits
	for b.Loop() {
		m.Match("/search", q, "", &h)
	}
}

func BenchmarkNaiveContains(b *testing.B) {
	m := Default()
	pats := m.Patterns()
	reqs := benchCorpus("mix")
	b.SetBytes(corpusBytes(reqs))
	hits := 0
	for b.Loop() {
		for _, r := range reqs {
			fields := [3]string{strings.ToLower(r.path), strings.ToLower(r.query), strings.ToLower(r.agent)}
			for _, p := range pats {
				for _, f := range fields {
					if strings.Contains(f, p.Text) {
						hits++
						break
					}
				}
			}
		}
	}
	if hits == 0 {
		b.Fatal("no hits")
	}
}
