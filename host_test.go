package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apiguard/apiguard/shared/record/azuritetest"
)

// TestHelperProcess is the apiguard binary when re-run by the tests below.
func TestHelperProcess(t *testing.T) {
	if os.Getenv("APIGUARD_TEST_HELPER") != "1" {
		t.Skip("only runs as a child process")
	}
	os.Exit(run(nil, os.Stdin, os.Stdout, os.Stderr))
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
}

// Under the Functions host: listen on 127.0.0.1:$FUNCTIONS_CUSTOMHANDLER_PORT at once,
// answer GET /, log JSON, and serve an alert invocation end to end.
func TestFunctionsHostMode(t *testing.T) {
	port := freePort(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(),
		"APIGUARD_TEST_HELPER=1",
		"FUNCTIONS_CUSTOMHANDLER_PORT="+port,
		"APIGUARD_TABLES_CONNECTION="+azuritetest.ConnectionString(t),
		"APIGUARD_TABLE_PREFIX="+azuritetest.TablePrefix(t),
	)
	var logs lockedBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()

	base := "http://127.0.0.1:" + port
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(base + "/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET / = %d", resp.StatusCode)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not listening after 10 s: %v\n%s", err, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}

	body, _ := os.ReadFile("docs/examples/alert-arm.json")
	env, _ := json.Marshal(map[string]any{
		"Data": map[string]any{"req": map[string]any{
			"Url": base + "/api/alerts", "Method": "POST", "Query": map[string]string{},
			"Headers": map[string][]string{"Content-Type": {"application/json"}}, "Params": map[string]string{}, "Body": string(body),
		}},
		"Metadata": map[string]any{"sys": map[string]any{"MethodName": "alerts", "UtcNow": "2026-11-23T12:00:00Z", "RandGuid": "g"}},
	})
	req, _ := http.NewRequest(http.MethodPost, base+"/alerts", bytes.NewReader(env))
	req.Header.Set("X-Azure-Functions-InvocationId", "inv-42")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var out struct {
		Outputs struct {
			Res struct {
				StatusCode int    `json:"statusCode"`
				Body       string `json:"body"`
			} `json:"res"`
		}
		Logs []string
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &out) != nil {
		t.Fatalf("invocation: %d %s", resp.StatusCode, raw)
	}
	if out.Outputs.Res.StatusCode != http.StatusAccepted || !strings.Contains(out.Outputs.Res.Body, `"action":"block_waf"`) {
		t.Fatalf("res: %+v", out.Outputs.Res)
	}
	if len(out.Logs) == 0 {
		t.Error("no Logs in the host response")
	}
	// Logs are JSON lines carrying the invocation id and function name.
	time.Sleep(100 * time.Millisecond)
	found := false
	for _, line := range strings.Split(logs.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["invocation_id"] == "inv-42" && rec["function"] == "alerts" {
			found = true
		}
	}
	if !found {
		t.Errorf("no JSON log line with the invocation id and function:\n%s", logs.String())
	}
}

// lockedBuffer collects a child process's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
