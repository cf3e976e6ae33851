package handlers

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/apiguard/apiguard/shared/cidr"
	"github.com/apiguard/apiguard/shared/decide"
	"github.com/apiguard/apiguard/shared/record"
	"github.com/apiguard/apiguard/shared/vocab"
)

// fuzzHang is how long one input may run: its work is cut off at nine tenths of the
// fuzz app's 5 s write timeout, so a run past this is work that ignores its context.
const fuzzHang = 10 * time.Second

// fuzzAllowed is the fuzz app's APIGUARD_ALLOW_CIDRS: a public range the seeds name,
// so that the allow-list is exercised as well as the built-in protected ranges.
const fuzzAllowed = "20.50.0.0/16"

// edgeSeeds are raw requests as a client sends them to apiguard serve: every route,
// the addresses the guard must refuse (private, loopback, platform, allow-listed, a
// short CIDR) and the framings net/http reads (chunked, Expect: 100-continue).
func edgeSeeds(t testing.TB) [][]byte {
	arm := string(readFile(t, "../docs/examples/alert-arm.json"))
	post := func(path, ctype, body string, headers ...string) []byte {
		h := strings.Join(headers, "")
		return fmt.Appendf(nil, "POST %s HTTP/1.1\r\nHost: 127.0.0.1:7071\r\nContent-Type: %s\r\n%sContent-Length: %d\r\n\r\n%s", path, ctype, h, len(body), body)
	}
	get := func(path string) []byte {
		return fmt.Appendf(nil, "GET %s HTTP/1.1\r\nHost: 127.0.0.1:7071\r\n\r\n", path)
	}
	// armWith is the example alert naming addr, as a distinct alert (its own id), so
	// that it is decided rather than taken for a duplicate.
	armWith := func(addr string, n int) string {
		return strings.ReplaceAll(strings.ReplaceAll(arm, "45.153.160.140", addr), "8000-000000000001", fmt.Sprintf("8000-%012d", 100+n))
	}
	seeds := [][]byte{
		post("/api/alerts", "application/json", arm),
		post("/api/alerts", "application/json", string(readFile(t, "../docs/examples/alert-private-ip.json"))),
		post("/api/alerts", "application/json", armWith("20.50.1.1", 0)),
		post("/api/alerts", "application/json", armWith("168.63.129.16", 1)),
		post("/api/alerts", "application/json", armWith("::ffff:127.0.0.1", 2)),
		post("/api/alerts", "application/json", armWith("1.2.3.4/1", 3)),
		post("/api/alerts", "application/json", `[{"id":"1","topic":"t","subject":"","eventType":"Microsoft.EventGrid.SubscriptionValidationEvent","eventTime":"2026-11-23T12:00:00Z","dataVersion":"1","data":{"validationCode":"512d38b6"}}]`),
		post("/api/alerts", "application/cloudevents+json", `{"specversion":"1.0","id":"e1","source":"/defender","type":"Microsoft.Security.Alert","data":`+armWith("45.153.160.142", 4)+`}`),
		post("/api/v1/blocks", "application/json", `{"target":"45.153.160.141","action":"block_waf","duration":"1h","reason":"fuzz seed"}`),
		post("/api/v1/blocks", "application/json", `{"target":"10.0.0.0/8","action":"block_waf","duration":"1h","reason":"fuzz seed"}`),
		post("/api/v1/blocks", "application/json", `{"target":"0.0.0.0/0","action":"throttle","duration":"1h","reason":"fuzz seed"}`, "X-Apiguard-Actor: alice\r\n"),
		post("/api/v1/allowlist", "application/json", `{"target":"45.153.160.0/24","reason":"fuzz seed","duration":"1h"}`),
		post("/api/v1/decisions/x/revert", "application/json", `{"reason":"fuzz seed"}`, "Idempotency-Key: k1\r\n"),
		fmt.Appendf(nil, "DELETE /api/v1/allowlist/45.153.160.0%%2F24 HTTP/1.1\r\nHost: a\r\n\r\n"),
		post("/api/ingest", "text/plain", "45.153.160.90 - - [23/Nov/2026:10:00:00 +0000] \"GET /.env HTTP/1.1\" 404 162 \"-\" \"zgrab\"\n"+
			"10.0.0.9 - - [23/Nov/2026:10:00:01 +0000] \"GET /.git/config HTTP/1.1\" 404 162 \"-\" \"zgrab\"\n"),
		post("/admin/functions/expire", "text/plain", ""),
		get("/api/v1/blocks?limit=5"),
		get("/api/v1/health"),
		get("/"),
		[]byte("POST /api/alerts HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n"),
		[]byte("POST /api/v1/blocks HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"),
		[]byte("OPTIONS /api/alerts HTTP/1.1\r\nHost: a\r\nWebHook-Request-Origin: eventgrid.azure.net\r\n\r\n"),
	}
	return seeds
}

// FuzzServeEdge sends raw request bytes to apiguard serve's handler (its routes behind
// its edge, over the test Azurite) and checks what no input may cause: a 5xx other
// than 503 (busy or a dependency down: the only server errors that are not a defect),
// an input whose handling outlives its budget (reported with every goroutine's stack),
// or a protected address (built-in ranges, APIGUARD_ALLOW_CIDRS, the live allow-list)
// in the desired state of any enforcing action. Bytes that net/http cannot read as a
// request never reach a handler (the server answers 400 itself) and are skipped.
func FuzzServeEdge(f *testing.F) {
	a, store := testApp(f, newClock(), map[string]string{"APIGUARD_ALLOW_CIDRS": fuzzAllowed, "APIGUARD_SERVE_WRITE_TIMEOUT": "5s"})
	defs, err := LoadDefs(os.DirFS("../functions"))
	if err != nil {
		f.Fatal(err)
	}
	mux, err := a.ServeHandler(defs)
	if err != nil {
		f.Fatal(err)
	}
	h := a.ServeEdge().Handler(mux)
	for _, s := range edgeSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
		if err != nil {
			return
		}
		req.RemoteAddr = "127.0.0.1:50000"
		w := httptest.NewRecorder()
		done := make(chan struct{})
		go func() { defer close(done); h.ServeHTTP(w, req) }()
		select {
		case <-done:
		case <-time.After(fuzzHang):
			var stacks bytes.Buffer
			_ = pprof.Lookup("goroutine").WriteTo(&stacks, 2)
			t.Fatalf("%s %s still running after %s, past its %s budget:\n%s", req.Method, req.URL, fuzzHang, a.Config.Edge.WriteTimeout, stacks.String())
		}
		if w.Code >= 500 && w.Code != http.StatusServiceUnavailable {
			t.Fatalf("%s %s answered %d: %s", req.Method, req.URL, w.Code, clipBody(w.Body.String()))
		}
		if why := protectedInDesiredState(context.Background(), a, store); why != "" {
			t.Fatalf("after %s %s (answered %d): %s", req.Method, req.URL, w.Code, why)
		}
	})
}

// protectedInDesiredState names a desired block of a protected address, or "".
func protectedInDesiredState(ctx context.Context, a *env, store *record.Store) string {
	live, err := store.ListAllow(ctx)
	if err != nil {
		return "listing the allow-list: " + err.Error()
	}
	var extra []decide.Allowed
	for _, e := range live {
		if p, err := netip.ParsePrefix(e.Prefix); err == nil && (e.Expires.IsZero() || e.Expires.After(a.Now())) {
			extra = append(extra, decide.Allowed{Prefix: p, Why: "allow-list entry"})
		}
	}
	guard := decide.NewGuard(a.Config.AllowList).With(extra)
	for _, action := range vocab.EnforcingActions() {
		blocks, err := store.ListBlocks(ctx, string(action))
		if err != nil {
			return "listing blocks: " + err.Error()
		}
		for _, b := range blocks {
			p, err := cidr.Parse(b.Target)
			if err != nil {
				continue // an identity (subscription, user)
			}
			if why := guard.WhyPrefix(p); why != "" {
				return fmt.Sprintf("%s %s (%s) is in the desired state: %s", action, b.Target, b.TargetKind, why)
			}
		}
	}
	return ""
}

// The fuzz target's invariant can fail: a protected address planted in the desired
// state behind the guard's back is named, and so is a block that a live allow-list
// entry covers.
func TestProtectedInDesiredStateCatches(t *testing.T) {
	a, store := testApp(t, newClock(), map[string]string{"APIGUARD_ALLOW_CIDRS": fuzzAllowed})
	ctx := context.Background()
	status, _ := postAlert(t, a, readFile(t, "../docs/examples/alert-arm.json"), nil)
	blocks, err := store.ListBlocks(ctx, string(vocab.BlockWAF))
	if status != http.StatusAccepted || err != nil || len(blocks) != 1 {
		t.Fatalf("alert: %d, blocks %v %v: want the example's one block", status, blocks, err)
	}
	if why := protectedInDesiredState(ctx, a, store); why != "" {
		t.Fatalf("a public address reported: %s", why)
	}
	if err := store.PutAllow(ctx, record.AllowEntry{Prefix: "45.153.160.0/24", Reason: "planted", Actor: "test", Created: a.Now()}); err != nil {
		t.Fatal(err)
	}
	if why := protectedInDesiredState(ctx, a, store); !strings.Contains(why, "45.153.160.140") {
		t.Errorf("a block under a live allow-list entry: %q", why)
	}
	if _, err := store.DeleteAllow(ctx, "45.153.160.0/24"); err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"10.0.0.1", "20.50.0.0/24"} {
		if _, _, err := store.MergeBlock(ctx, string(vocab.Throttle), target, func(*record.Block) (*record.Block, error) {
			return &record.Block{TargetKind: "ip", Reason: "planted", Created: a.Now(), Expires: a.Now().Add(time.Hour), Mode: "enforce"}, nil
		}); err != nil {
			t.Fatal(err)
		}
		if why := protectedInDesiredState(ctx, a, store); !strings.Contains(why, target) {
			t.Errorf("planted %s: %q", target, why)
		}
		b, _, _ := store.GetBlock(ctx, string(vocab.Throttle), target)
		if err := store.DeleteBlock(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
}
