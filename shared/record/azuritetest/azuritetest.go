// Package azuritetest runs the record tests against a real Table Storage emulator.
//
// Tests share one Azurite per test binary (or one per `make test` run, handed in
// through APIGUARD_TEST_TABLES_CONNECTION) and isolate themselves by table prefix,
// because starting Node takes about a second and tables are cheap.
package azuritetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

// EnvConnection names the variable through which a caller (the Makefile) hands in
// an already running emulator, so that one Azurite serves every test binary.
const EnvConnection = "APIGUARD_TEST_TABLES_CONNECTION"

// devKey is the public key of Azurite's development account; it guards nothing.
const devKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

const startTimeout = 20 * time.Second

// emulator is the Azurite this test binary started. It is package state because the
// test binary is the unit of sharing: TestMain and every test reach the same one.
var emulator struct {
	once    sync.Once
	conn    string
	err     error
	cmd     *exec.Cmd
	dir     string
	stopped chan struct{}
}

// Main runs the tests and then stops the Azurite they started, keeping m.Run's
// exit code. Use it as the whole body of TestMain.
func Main(m *testing.M) {
	code := m.Run()
	stop()
	os.Exit(code)
}

// ConnectionString returns a connection string for a running emulator: the one
// named by APIGUARD_TEST_TABLES_CONNECTION, or one started for this test binary.
// A missing Azurite fails the test: skipping would let `go test` pass without
// having tested the store at all.
func ConnectionString(tb testing.TB) string {
	tb.Helper()
	if conn := os.Getenv(EnvConnection); conn != "" {
		return conn
	}
	emulator.once.Do(func() { emulator.conn, emulator.err = start() })
	if emulator.err != nil {
		tb.Fatalf("azuritetest: %v", emulator.err)
	}
	return emulator.conn
}

// TablePrefix returns a letters-and-digits table prefix unique to this test (and
// to this process, since several test binaries may share one emulator), and
// deletes the test's tables when it ends.
func TablePrefix(tb testing.TB) string {
	tb.Helper()
	var name strings.Builder
	for _, r := range tb.Name() {
		if (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			name.WriteRune(r)
		}
		if name.Len() == 24 {
			break
		}
	}
	var random [5]byte
	if _, err := rand.Read(random[:]); err != nil {
		tb.Fatalf("azuritetest: random prefix: %v", err)
	}
	prefix := "t" + name.String() + hex.EncodeToString(random[:])
	conn := ConnectionString(tb)
	tb.Cleanup(func() { dropTables(tb, conn, prefix) })
	return prefix
}

// dropTables deletes the tables a test created, so that a long-lived shared
// emulator does not accumulate them. Failures are only logged: the data is
// in memory and dies with the emulator anyway.
func dropTables(tb testing.TB, conn, prefix string) {
	// Best effort, so no retries: a dead emulator must not hold up the run.
	opts := &aztables.ClientOptions{ClientOptions: azcore.ClientOptions{Retry: policy.RetryOptions{MaxRetries: -1}}}
	svc, err := aztables.NewServiceClientFromConnectionString(conn, opts)
	if err != nil {
		tb.Logf("azuritetest: cleanup: %v", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	filter := fmt.Sprintf("TableName ge '%s' and TableName lt '%s~'", prefix, prefix)
	pager := svc.NewListTablesPager(&aztables.ListTablesOptions{Filter: &filter})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			tb.Logf("azuritetest: cleanup: %v", err)
			return
		}
		for _, t := range page.Tables {
			if t.Name == nil {
				continue
			}
			if _, err := svc.DeleteTable(ctx, *t.Name, nil); err != nil {
				tb.Logf("azuritetest: cleanup %s: %v", *t.Name, err)
			}
		}
	}
}

// start launches azurite-table from the repository's node_modules on a free port.
// It tries a few ports because another process may take the one we picked
// between closing our probe listener and Azurite binding it.
func start() (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(root, "node_modules", ".bin", "azurite-table")
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("%s not found: run `make test` or `npm ci` in %s to install Azurite (%v)", bin, root, err)
	}
	var errs []error
	for range 3 {
		conn, err := launch(bin)
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
	}
	return "", errors.Join(errs...)
}

func launch(bin string) (string, error) {
	port, err := freePort()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "apiguard-azurite-")
	if err != nil {
		return "", err
	}
	var out lockedBuffer
	// Azurite 3.35 refuses --location together with --inMemoryPersistence; the
	// temporary working directory catches whatever it still writes.
	cmd := exec.Command(bin,
		"--tableHost", "127.0.0.1",
		"--tablePort", strconv.Itoa(port),
		"--inMemoryPersistence",
		"--disableTelemetry",
		"--silent",
	)
	cmd.Dir = dir
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("start %s: %w", bin, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()

	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(startTimeout)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-exited:
			os.RemoveAll(dir)
			return "", fmt.Errorf("azurite-table exited before listening on %s: %s", addr, out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			kill(cmd)
			<-exited
			os.RemoveAll(dir)
			return "", fmt.Errorf("azurite-table not listening on %s after %s: %s", addr, startTimeout, out.String())
		}
	}
	emulator.cmd, emulator.dir, emulator.stopped = cmd, dir, exited
	return fmt.Sprintf("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=%s;TableEndpoint=http://%s/devstoreaccount1;", devKey, addr), nil
}

// stop ends the emulator this binary started, if any.
func stop() {
	if emulator.cmd == nil {
		return
	}
	kill(emulator.cmd)
	select {
	case <-emulator.stopped:
	case <-time.After(5 * time.Second):
	}
	os.RemoveAll(emulator.dir)
}

// repoRoot walks up from the working directory (the package under test) to the
// folder holding package.json, where npm installs Azurite.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "package.json")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no package.json above the working directory: cannot find node_modules/.bin/azurite-table; run `make test` or `npm ci` at the repository root")
		}
		dir = parent
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// lockedBuffer collects the emulator's output; exec writes it from its own goroutine.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.TrimSpace(b.buf.String())
}
