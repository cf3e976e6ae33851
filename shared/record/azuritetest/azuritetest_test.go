package azuritetest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConnectionStringFromEnvironment(t *testing.T) {
	t.Setenv(EnvConnection, "UseThis=1;")
	if got := ConnectionString(t); got != "UseThis=1;" {
		t.Fatalf("ConnectionString = %q", got)
	}
}

func TestMissingAzuriteSaysHowToInstall(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "package.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	pkg := filepath.Join(root, "shared", "record")
	if err := os.MkdirAll(pkg, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(pkg)
	_, err := start()
	if err == nil || !strings.Contains(err.Error(), "npm ci") || !strings.Contains(err.Error(), "make test") {
		t.Fatalf("start without azurite = %v", err)
	}
}

func TestTablePrefixIsUniqueLettersAndDigits(t *testing.T) {
	t.Setenv(EnvConnection, "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey="+devKey+";TableEndpoint=http://127.0.0.1:1/devstoreaccount1;")
	a, b := TablePrefix(t), TablePrefix(t)
	if a == b {
		t.Fatalf("prefixes collide: %q", a)
	}
	for _, p := range []string{a, b} {
		if len(p)+len("Decisions") > 63 || p[0] < 'a' || p[0] > 'z' {
			t.Errorf("bad prefix %q", p)
		}
		for _, r := range p {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
				t.Errorf("prefix %q holds %q", p, r)
			}
		}
	}
}
