package handlers

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/shared/config"
)

// The edge tests run apiguard serve's handlers (over the test Azurite) behind its
// real http.Server on loopback, with short bounds, and measure what a client sees.
// Every wait is bounded by a deadline on the client's connection; nothing sleeps
// blindly.

// edgeSettings are short bounds for the tests: the defaults scaled down so the tests
// take a second, not minutes.
var edgeSettings = map[string]string{
	"APIGUARD_SERVE_HEADER_TIMEOUT":   "300ms",
	"APIGUARD_SERVE_BODY_TIMEOUT":     "300ms",
	"APIGUARD_SERVE_WRITE_TIMEOUT":    "5s",
	"APIGUARD_SERVE_IDLE_TIMEOUT":     "300ms",
	"APIGUARD_SERVE_MAX_HEADER_BYTES": "4096",
	"APIGUARD_SERVE_MAX_CONCURRENT":   "3",
}

// edgeSlack is how late past a configured bound a cut-off may come on a loaded 2-vCPU
// machine and still count as the bound.
const edgeSlack = 700 * time.Millisecond

// serveEdge starts apiguard serve's handler behind its edge on a loopback port.
func serveEdge(t *testing.T, settings map[string]string) (*env, *Edge, string) {
	t.Helper()
	merged := map[string]string{}
	for k, v := range edgeSettings {
		merged[k] = v
	}
	for k, v := range settings {
		merged[k] = v
	}
	a, _ := testApp(t, newClock(), merged)
	defs, err := LoadDefs(os.DirFS("../functions"))
	if err != nil {
		t.Fatal(err)
	}
	mux, err := a.ServeHandler(defs)
	if err != nil {
		t.Fatal(err)
	}
	e := a.ServeEdge()
	return a, e, listen(t, e.Server(mux))
}

func listen(t *testing.T, srv *http.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// untilClosed reads c until the server closes it (or wait runs out, which fails the
// test), returning what was read and when the close came.
func untilClosed(t *testing.T, c net.Conn, r io.Reader, wait time.Duration) ([]byte, time.Time) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(wait))
	got, err := io.ReadAll(r)
	at := time.Now()
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %s; read %q", wait, got)
	}
	return got, at
}

func within(t *testing.T, what string, got, bound time.Duration) {
	t.Helper()
	t.Logf("%s after %s (bound %s)", what, got.Round(time.Millisecond), bound)
	if got < bound*9/10 || got > bound+edgeSlack {
		t.Errorf("%s after %s, want the configured %s (up to %s late)", what, got, bound, edgeSlack)
	}
}

// A body trickled slowly is cut off when APIGUARD_SERVE_BODY_TIMEOUT runs out, counted
// from the end of the headers: bytes arriving in time do not extend it.
func TestSlowBodyIsCutOff(t *testing.T) {
	_, _, addr := serveEdge(t, nil)
	for _, every := range []time.Duration{2 * time.Second, 50 * time.Millisecond} {
		t.Run(fmt.Sprint("one byte every ", every), func(t *testing.T) {
			c := dial(t, addr)
			if _, err := io.WriteString(c, "POST /api/alerts HTTP/1.1\r\nHost: apiguard\r\nContent-Type: application/json\r\nContent-Length: 10000\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			stop := make(chan struct{})
			defer close(stop)
			go func() {
				tick := time.NewTicker(every)
				defer tick.Stop()
				for {
					if _, err := c.Write([]byte("{")); err != nil {
						return
					}
					select {
					case <-stop:
						return
					case <-tick.C:
					}
				}
			}()
			got, closed := untilClosed(t, c, c, 5*time.Second)
			within(t, "connection closed", closed.Sub(start), 300*time.Millisecond)
			if !bytes.HasPrefix(got, []byte("HTTP/1.1 408 ")) {
				t.Errorf("answer %q, want 408", got)
			}
		})
	}
}

// An idle keep-alive connection is closed after APIGUARD_SERVE_IDLE_TIMEOUT.
func TestIdleConnectionIsClosed(t *testing.T) {
	_, _, addr := serveEdge(t, nil)
	c := dial(t, addr)
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: apiguard\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	idle := time.Now()
	if resp.StatusCode != http.StatusFound || resp.Close {
		t.Fatalf("GET / = %d close=%v, want a kept-alive 302", resp.StatusCode, resp.Close)
	}
	rest, closed := untilClosed(t, c, br, 5*time.Second)
	within(t, "idle connection closed", closed.Sub(idle), 300*time.Millisecond)
	if len(rest) > 0 {
		t.Errorf("server sent %q on an idle connection", rest)
	}
}

// Requests beyond APIGUARD_SERVE_MAX_CONCURRENT are answered 503 with Retry-After at
// once, while the slow ones hold their slots; the slots free when those are cut off.
func TestExcessRequestsAreAnswered503(t *testing.T) {
	const n, k = 3, 4
	_, e, addr := serveEdge(t, map[string]string{"APIGUARD_SERVE_BODY_TIMEOUT": "2s"})
	slow := make([]net.Conn, n)
	for i := range slow {
		slow[i] = dial(t, addr)
		if _, err := io.WriteString(slow[i], "POST /api/alerts HTTP/1.1\r\nHost: apiguard\r\nContent-Length: 100\r\n\r\n{"); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(5 * time.Second); e.InFlight() < n; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d slow requests in progress after 5 s", e.InFlight(), n)
		}
	}
	client := &http.Client{Timeout: 5 * time.Second}
	var wg sync.WaitGroup
	answers := make([]*http.Response, k)
	took := make([]time.Duration, k)
	for i := range k {
		wg.Go(func() {
			start := time.Now()
			resp, err := client.Post("http://"+addr+"/api/alerts", "application/json", strings.NewReader(`{}`))
			took[i] = time.Since(start)
			if err != nil {
				t.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			answers[i] = resp
		})
	}
	wg.Wait()
	for i, resp := range answers {
		if resp == nil {
			continue
		}
		t.Logf("excess request %d: %d in %s", i, resp.StatusCode, took[i].Round(time.Millisecond))
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" {
			t.Errorf("excess request %d: %d Retry-After %q, want 503 with Retry-After 1", i, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
		if took[i] > time.Second {
			t.Errorf("excess request %d answered after %s: it waited for a slot", i, took[i])
		}
	}
	for i, c := range slow {
		got, _ := untilClosed(t, c, c, 5*time.Second)
		if !bytes.HasPrefix(got, []byte("HTTP/1.1 408 ")) {
			t.Errorf("slow request %d: %q, want 408", i, got)
		}
	}
	for deadline := time.Now().Add(5 * time.Second); e.InFlight() > 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d slots still held after the slow requests ended", e.InFlight())
		}
	}
	resp, err := client.Get("http://" + addr + "/api/v1/blocks")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("after the slow requests: %d, want 200", resp.StatusCode)
	}
}

// Headers beyond APIGUARD_SERVE_MAX_HEADER_BYTES are answered 431; net/http allows
// 4 KiB of edgeSlack above the setting, so the oversize case is well past it.
func TestOversizeHeaderIs431(t *testing.T) {
	_, _, addr := serveEdge(t, nil)
	for _, tc := range []struct {
		size int
		want int
	}{
		{2000, http.StatusFound},
		{16 << 10, http.StatusRequestHeaderFieldsTooLarge},
		{1 << 20, http.StatusRequestHeaderFieldsTooLarge},
	} {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/", nil)
		req.Header.Set("X-Filler", strings.Repeat("a", tc.size))
		resp, err := (&http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}}).Do(req)
		if err != nil {
			t.Fatalf("%d-byte header: %v", tc.size, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%d-byte header: %d, want %d", tc.size, resp.StatusCode, tc.want)
		}
	}
}

// Headers sent too slowly are cut off after APIGUARD_SERVE_HEADER_TIMEOUT.
func TestSlowHeadersAreCutOff(t *testing.T) {
	_, _, addr := serveEdge(t, nil)
	c := dial(t, addr)
	start := time.Now()
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: apiguard\r\nX-Slow: "); err != nil {
		t.Fatal(err)
	}
	_, closed := untilClosed(t, c, c, 5*time.Second)
	within(t, "slow headers cut off", closed.Sub(start), 300*time.Millisecond)
}

// The body deadline ends with the body: work that takes longer than the body timeout
// keeps its context (the server's read of the idle connection must not inherit the
// deadline), and the work itself runs under nine tenths of the write timeout.
func TestWorkIsBoundedByWriteTimeoutNotBodyTimeout(t *testing.T) {
	limits := config.Edge{HeaderTimeout: time.Second, BodyTimeout: 200 * time.Millisecond, WriteTimeout: 1500 * time.Millisecond,
		IdleTimeout: time.Second, MaxHeaderBytes: 4096, MaxConcurrent: 2}
	type outcome struct {
		err      error
		after    time.Duration
		deadline time.Duration
	}
	got := make(chan outcome, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		_, _ = io.Copy(io.Discard, r.Body)
		dl, _ := r.Context().Deadline()
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
		got <- outcome{r.Context().Err(), time.Since(start), dl.Sub(start)}
		w.WriteHeader(http.StatusNoContent)
	})
	addr := listen(t, NewEdge(limits, zerolog.Nop(), nil).Server(h))
	for _, body := range []string{"", "{}"} {
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/", strings.NewReader(body))
		if body == "" {
			req.Body = http.NoBody
		}
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		o := <-got
		if !errors.Is(o.err, context.DeadlineExceeded) {
			t.Errorf("body %q: work ended with %v, want its deadline", body, o.err)
		}
		within(t, fmt.Sprintf("body %q: work cut off", body), o.after, limits.WriteTimeout*9/10)
		if resp.StatusCode != http.StatusNoContent {
			t.Errorf("body %q: %d, want the handler's 204 written after its work was cut short", body, resp.StatusCode)
		}
	}
}

// Under the Functions host an HTTP function's work gets the write timeout and a timer
// or queue run the host's functionTimeout; there is no concurrency bound (the host
// decides how many invocations run).
func TestHostEdgeBudgets(t *testing.T) {
	a, _ := testApp(t, newClock(), nil)
	e := a.HostEdge()
	if e.slots != nil {
		t.Error("the host's edge bounds concurrency: a 503 would fail queue invocations")
	}
	for path, want := range map[string]time.Duration{
		"/alerts": a.Config.Edge.WriteTimeout, "/api": a.Config.Edge.WriteTimeout, "/": a.Config.Edge.WriteTimeout,
		"/expire": functionTimeout, "/remediate": functionTimeout, "/traffic-eventhub": functionTimeout,
	} {
		r, _ := http.NewRequest(http.MethodPost, path, nil)
		if got := e.budget(r); got != want {
			t.Errorf("%s: budget %s, want %s", path, got, want)
		}
	}
	s := a.ServeEdge()
	for path, want := range map[string]time.Duration{"/api/alerts": a.Config.Edge.WriteTimeout, "/admin/functions/triage": functionTimeout} {
		r, _ := http.NewRequest(http.MethodPost, path, nil)
		if got := s.budget(r); got != want {
			t.Errorf("serve %s: budget %s, want %s", path, got, want)
		}
	}
	var host struct{ FunctionTimeout string }
	if err := json.Unmarshal(readFile(t, "../host.json"), &host); err != nil {
		t.Fatal(err)
	}
	var h, m, s2 int
	if _, err := fmt.Sscanf(host.FunctionTimeout, "%d:%d:%d", &h, &m, &s2); err != nil {
		t.Fatalf("host.json functionTimeout %q: %v", host.FunctionTimeout, err)
	}
	if d := time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(s2)*time.Second; d != functionTimeout {
		t.Errorf("host.json functionTimeout %s, functionTimeout here %s", d, functionTimeout)
	}
}
