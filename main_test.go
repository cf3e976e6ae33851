package main

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/handlers"
	"github.com/apiguard/apiguard/shared/config"
	"github.com/apiguard/apiguard/shared/record/azuritetest"
)

func TestMain(m *testing.M) { azuritetest.Main(m) }

type planned struct {
	Incident struct {
		ID string `json:"id"`
	} `json:"incident"`
	Decisions []struct {
		Action   string `json:"action"`
		Address  string `json:"address"`
		Duration string `json:"duration"`
		Mode     string `json:"mode"`
		Reason   string `json:"reason"`
	} `json:"decisions"`
}

// plan prints, offline, the decisions the server takes for the same file.
func TestPlanMatchesServer(t *testing.T) {
	t.Setenv("APIGUARD_MODE", "enforce")
	for _, file := range []string{"docs/examples/alert-arm.json", "docs/examples/alert-private-ip.json", "docs/examples/alert-population-spike.json"} {
		var out, errOut bytes.Buffer
		if code := run([]string{"plan", file}, nil, &out, &errOut); code != 0 {
			t.Fatalf("plan %s: exit %d: %s", file, code, errOut.String())
		}
		var p struct{ Incidents []planned }
		if err := json.Unmarshal(out.Bytes(), &p); err != nil || len(p.Incidents) != 1 {
			t.Fatalf("plan output is not the alerts answer: %v\n%s", err, out.String())
		}

		cfg, err := config.Load(func(k string) (string, bool) {
			switch k {
			case "APIGUARD_TABLES_CONNECTION":
				return azuritetest.ConnectionString(t), true
			case "APIGUARD_TABLE_PREFIX":
				return azuritetest.TablePrefix(t), true
			}
			return os.LookupEnv(k)
		})
		if err != nil {
			t.Fatal(err)
		}
		on, err := openOnline(cfg, os.LookupEnv, zerolog.New(io.Discard), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		a := handlers.New(on.App, cfg, zerolog.New(io.Discard), time.Now)
		defs, err := handlers.LoadDefs(functionsFS())
		if err != nil {
			t.Fatal(err)
		}
		h, err := a.ServeHandler(defs)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := os.ReadFile(file)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/api/alerts", bytes.NewReader(body)))
		var served struct{ Incidents []planned }
		if w.Code != http.StatusAccepted || json.Unmarshal(w.Body.Bytes(), &served) != nil || len(served.Incidents) != 1 {
			t.Fatalf("server: %d %s", w.Code, w.Body.String())
		}
		got, _ := json.Marshal(p)
		want, _ := json.Marshal(served)
		if !bytes.Equal(got, want) {
			t.Errorf("%s: plan and server differ:\nplan:   %s\nserver: %s", file, got, want)
		}
		if d := p.Incidents[0].Decisions; len(d) == 0 || d[0].Reason == "" {
			t.Errorf("%s: no explained decision: %s", file, got)
		}
	}
}

func TestPlanRejectsBadInput(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"plan", "-"}, strings.NewReader(`{"alertType": `), &out, &errOut); code == 0 || !strings.Contains(errOut.String(), "line 1") {
		t.Errorf("exit %d, stderr %q", code, errOut.String())
	}
	errOut.Reset()
	if code := run([]string{"frobnicate"}, nil, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "unknown command") {
		t.Errorf("unknown command: exit %d, %q", code, errOut.String())
	}
}

func TestInvalidSettingsAreAllNamed(t *testing.T) {
	t.Setenv("APIGUARD_MODE", "sometimes")
	t.Setenv("APIGUARD_JITTER", "lots")
	var out, errOut bytes.Buffer
	if code := run([]string{"plan", "docs/examples/alert-arm.json"}, nil, &out, &errOut); code != 2 ||
		!strings.Contains(errOut.String(), "APIGUARD_MODE") || !strings.Contains(errOut.String(), "APIGUARD_JITTER") {
		t.Errorf("exit %d: %s", code, errOut.String())
	}
}

// The deployment zip has the app-root layout the host needs, the binary keeps its exec
// bit, nothing else ships, and the same inputs give the same bytes.
func TestPackageLayout(t *testing.T) {
	binary := []byte("\x7fELF not really a binary")
	var a, b bytes.Buffer
	if err := writeZip(&a, app, binary); err != nil {
		t.Fatal(err)
	}
	if err := writeZip(&b, app, binary); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("two packages of the same inputs differ")
	}
	zr, err := zip.NewReader(bytes.NewReader(a.Bytes()), int64(a.Len()))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]os.FileMode{}
	for _, f := range zr.File {
		got[f.Name] = f.Mode()
	}
	dirs, _ := os.ReadDir("functions")
	want := map[string]os.FileMode{"host.json": 0o644, "apiguard": 0o755}
	for _, d := range dirs {
		want[d.Name()+"/function.json"] = 0o644
	}
	if len(got) != len(want) {
		t.Errorf("zip holds %v, want %v", got, want)
	}
	for name, mode := range want {
		if m, ok := got[name]; !ok || m.Perm() != mode {
			t.Errorf("%s: mode %v present=%v, want %v", name, m.Perm(), ok, mode)
		}
	}
	var host struct {
		CustomHandler struct {
			Description struct {
				DefaultExecutablePath string `json:"defaultExecutablePath"`
			} `json:"description"`
		} `json:"customHandler"`
	}
	raw, _ := os.ReadFile("host.json")
	if err := json.Unmarshal(raw, &host); err != nil || host.CustomHandler.Description.DefaultExecutablePath != "apiguard" {
		t.Errorf("host.json does not start the packaged binary: %v %+v", err, host)
	}
	// The embedded functions are the ones on disk.
	defs, err := handlers.LoadDefs(functionsFS())
	if err != nil || len(defs) != len(dirs) {
		t.Errorf("embedded functions %d, on disk %d (%v)", len(defs), len(dirs), err)
	}
}

// serve refuses to expose the control API beyond loopback without a key.
func TestServeRefusesExposureWithoutKey(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"serve", "--addr", "0.0.0.0:0"}, nil, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "APIGUARD_API_KEY") {
		t.Errorf("exit %d: %s", code, errOut.String())
	}
	for _, c := range []struct {
		addr, key string
		ok        bool
	}{{"127.0.0.1:7071", "", true}, {"[::1]:7071", "", true}, {"localhost:7071", "", true}, {"0.0.0.0:7071", "", false},
		{"10.0.0.4:7071", "", false}, {"0.0.0.0:7071", "0123456789abcdef", true}, {"nonsense", "", false}} {
		if err := checkExposure(c.addr, c.key); (err == nil) != c.ok {
			t.Errorf("%s key=%q: %v", c.addr, c.key, err)
		}
	}
}
