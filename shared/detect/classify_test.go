package detect

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestPathIDs(t *testing.T) {
	cases := []struct {
		path, tmpl string
		ok         bool
		same       string // a path that must give the same id
	}{
		{"/api/v1/users/42", "/users/{id}", true, "/users/42"},
		{"/shop/users/42/orders/7", "/users/{uid}/orders/{oid}", true, "/users/42/orders/7/"},
		{"/users/42", "/users", false, ""},
		{"/users/42", "/accounts/{id}", false, ""},
		{"/v1/files/report.pdf", "/files/{name}.pdf", true, "/files/report.pdf"},
		{"/users/42", "/users/{id}?expand={e}", true, "/users/42"},
		{"/x", "/a/b/{id}", false, ""},
	}
	for _, c := range cases {
		h, _, ok := pathIDs(c.path, c.tmpl)
		if ok != c.ok {
			t.Errorf("%s under %s: ok %v", c.path, c.tmpl, ok)
			continue
		}
		if c.same != "" {
			if h2, _, _ := pathIDs(c.same, c.tmpl); h2 != h {
				t.Errorf("%s and %s give different ids", c.path, c.same)
			}
		}
	}
	a, _, _ := pathIDs("/users/1/orders/2", "/users/{u}/orders/{o}")
	b, _, _ := pathIDs("/users/2/orders/1", "/users/{u}/orders/{o}")
	if a == b {
		t.Error("id tuples are order-blind")
	}
}

func TestLooksLikeID(t *testing.T) {
	for v, want := range map[string]bool{
		"1": true, "12345678901234567890": true, "123456789012345678901": false,
		"550e8400-e29b-41d4-a716-446655440000": true, "5f2b9c1e8a7d4f3b": true, "deadbeef": false,
		"aZ3kP9qL2mX7vB4nQ8": true, "hello": false, "newest": false, "thisisaverylongword": false,
		"en-US": false, "": false, "desc": false, "2026-11-23": false,
	} {
		if got := looksLikeID(v); got != want {
			t.Errorf("looksLikeID(%q) = %v", v, got)
		}
	}
}

func TestLoginPathsAndStatic(t *testing.T) {
	cfg := DefaultConfig()
	c := compile(&cfg)
	buf := make([]byte, 0, maxParamLen)
	for p, want := range map[string]bool{
		// Configured paths.
		"/wp-login.php": true, "/WP-LOGIN.PHP": true, "/login/": true, "/api/v1/oauth/token": true,
		"/connect/token": true, "/api/v1/login": true, "/users/sign_in": true,
		// Login words at any depth, alone or joined by - _ .
		"/apps/login": true, "/ghost/api/admin/session": true, "/oauth2/v2.0/token": true, "/admin-login.php": true,
		"/blog/wp-login.php": true, "/login.html": true, "/api/Auth/Refresh": true, "/account/sign-in": true,
		"/portal/log_on": true, "/payments/token": true, "/api/v2/SignIn?next=/": true,
		// Not login words.
		"/logins": false, "/api/v1/tokens/42": false, "/authors": false, "/blog/logging-in-to-kibana": false,
		"/api/v1/sessionsummary": false, "/design/signing-in": false, "/": false, "/{login}": false,
	} {
		if got := c.isLogin(p, "", buf); got != want {
			t.Errorf("isLogin(%q) = %v", p, got)
		}
	}
	if !c.isLogin("/identity/v2/x", "/session", buf) {
		t.Error("an operation template /session is a login endpoint")
	}
	for p, want := range map[string]bool{"/wp-login.php": true, "/blog/wp-login.php": true, "/administrator/index.php": true,
		"/login": false, "/index.php": false} {
		if got := c.isRedirectLogin(p); got != want {
			t.Errorf("isRedirectLogin(%q) = %v", p, got)
		}
	}
	for p, want := range map[string]bool{"/a/b.CSS": true, "/favicon.ico": true, "/x.php": false, "/a.b/c": false, "/": false} {
		if got := c.isStatic(p, buf); got != want {
			t.Errorf("isStatic(%q) = %v", p, got)
		}
	}
}

func TestDistinctSketch(t *testing.T) {
	var d distinct
	for i := range 64 {
		d.add(hashString(seedID, fmt.Sprint(i)))
		d.add(hashString(seedID, fmt.Sprint(i))) // duplicates change nothing
	}
	if d.count() != 64 || d.estimated() {
		t.Fatalf("64 values: count %d, estimated %v", d.count(), d.estimated())
	}
	for _, n := range []int{100, 1000, 100000} {
		var s distinct
		for i := range n {
			s.add(hashString(seedID, fmt.Sprint("v", i)))
		}
		if err := math.Abs(float64(s.count())-float64(n)) / float64(n); err > 0.4 || !s.valid() {
			t.Errorf("%d values estimated as %d", n, s.count())
		}
	}
	// Union is exact and order-free: the union of halves equals the sketch of all.
	var all, a, b distinct
	for i := range 5000 {
		h := hashString(seedID, fmt.Sprint("u", i))
		all.add(h)
		if i%3 == 0 {
			a.add(h)
		} else {
			b.add(h)
		}
		if i%7 == 0 {
			b.add(h) // overlap
		}
	}
	ab, ba := a.clone(), b.clone()
	ab.merge(&b)
	ba.merge(&a)
	if !slices.Equal(ab.h, all.h) || !slices.Equal(ba.h, all.h) || ab.sat != all.sat {
		t.Fatal("union differs from the sketch of the whole")
	}
	// Small sets union exactly too.
	var x, y distinct
	x.add(1)
	x.add(2)
	y.add(2)
	y.add(3)
	x.merge(&y)
	if x.count() != 3 || x.estimated() {
		t.Fatalf("small union %v", x)
	}
}

func TestCompareSketches(t *testing.T) {
	fill := func(from, to int) *distinct {
		var d distinct
		for i := from; i < to; i++ {
			d.add(hashString(seedIdent, fmt.Sprint(i)))
		}
		return &d
	}
	// Exact: 40 and 50 values, 30 shared.
	u, only, est := compareSketches(fill(0, 40), fill(10, 60))
	if u != 60 || only != 10 || est {
		t.Fatalf("exact: union %d, a only %d, estimated %v", u, only, est)
	}
	// Estimated: 5000 failing, 4000 of them also succeeded.
	u, only, est = compareSketches(fill(0, 5000), fill(1000, 20000))
	// |a \ b| above 64 identities is a fraction estimated from 64 hashes: standard error
	// sqrt(p(1-p)/64) of the union, about 550 here.
	if !est || math.Abs(float64(u)-20000)/20000 > 0.4 || math.Abs(float64(only)-1000) > 1700 {
		t.Fatalf("estimated: union %d (20000), a only %d (1000)", u, only)
	}
	if lb := fill(0, 5000).lowerBound(); lb > 5000 || lb < 2000 {
		t.Fatalf("lower bound %d of 5000", lb)
	}
}

// Merging sketches of any split of a set, in any order, gives the sketch of the set.
func TestDistinctMergeProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for round := range 300 {
		n := rng.IntN(300)
		parts := make([]distinct, 1+rng.IntN(6))
		var whole distinct
		for range n {
			h := rng.Uint64N(1 << uint(8+rng.IntN(56)))
			whole.add(h)
			for range 1 + rng.IntN(2) { // some values land in two parts
				parts[rng.IntN(len(parts))].add(h)
			}
		}
		rng.Shuffle(len(parts), func(i, j int) { parts[i], parts[j] = parts[j], parts[i] })
		var got distinct
		for i := range parts {
			got.merge(&parts[i])
		}
		if !slices.Equal(got.h, whole.h) || got.sat != whole.sat || !got.valid() {
			t.Fatalf("round %d: merged %d/%v, whole %d/%v", round, len(got.h), got.sat, len(whole.h), whole.sat)
		}
	}
}
