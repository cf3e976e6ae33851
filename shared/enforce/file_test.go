package enforce_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/apiguard/apiguard/shared/enforce"
	"github.com/apiguard/apiguard/shared/enforce/backendtest"
	"github.com/apiguard/apiguard/shared/waf"
)

// fileSubject is a FileBackend at path; a hand edit is a plain write of the file.
func fileSubject(t *testing.T, path string, empty []byte) backendtest.Subject {
	return backendtest.Subject{
		Backend: enforce.NewFileBackend(path, empty),
		Stored: func() []byte {
			b, err := os.ReadFile(path)
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			if err != nil {
				t.Fatal(err)
			}
			return b
		},
		Change: func(doc []byte) {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, doc, 0o644); err != nil {
				t.Fatal(err)
			}
		},
	}
}

// fileHarness keeps seed in a file named name; the absent document is nested, as APIM
// scopes are laid out (apis/A/operations/O.xml), so creating makes its folders.
func fileHarness(t *testing.T, name string, seed, empty []byte, format backendtest.Format) backendtest.Harness {
	return backendtest.Harness{
		Present: func(t *testing.T) backendtest.Subject {
			path := filepath.Join(t.TempDir(), name)
			if err := os.WriteFile(path, seed, 0o644); err != nil {
				t.Fatal(err)
			}
			return fileSubject(t, path, empty)
		},
		Absent: func(t *testing.T) backendtest.Subject {
			return fileSubject(t, filepath.Join(t.TempDir(), "apis", "a", "operations", name), empty)
		},
		Absence:    backendtest.Creates,
		Fresh:      seed,
		Format:     format,
		NoThrottle: "a local file has no 429",
		NoDiscard:  "a local write is renamed into place or fails: nothing acknowledges a write and loses it",
	}
}

func TestFileBackendContract(t *testing.T) {
	t.Run("waf-json", func(t *testing.T) {
		seed, err := os.ReadFile("testdata/frontdoor-customer.json")
		if err != nil {
			t.Fatal(err)
		}
		backendtest.Run(t, fileHarness(t, "policy.json", seed, enforce.EmptyWAFPolicy(waf.FrontDoor), backendtest.JSON()))
	})
	t.Run("apim-xml", func(t *testing.T) {
		seed, err := os.ReadFile("testdata/apim-policy.xml")
		if err != nil {
			t.Fatal(err)
		}
		backendtest.Run(t, fileHarness(t, "policy.xml", seed, nil, backendtest.XML))
	})
}
