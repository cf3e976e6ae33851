package include

import (
	"bytes"
	"errors"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/shared/fault"
)

var update = flag.Bool("update", false, "rewrite testdata/*/*.want.{xml,err} from the current output")

// A case is testdata/<op>/<name>.in.xml; what the operation gives is in <name>.want.xml,
// or the error it refuses with in <name>.want.err.
type goldenCase struct {
	name string
	path string // without ".in.xml"
	in   []byte
}

func loadCases(tb testing.TB, op string) []goldenCase {
	tb.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", op, "*.in.xml"))
	if err != nil || len(paths) == 0 {
		tb.Fatalf("no cases in testdata/%s: %v", op, err)
	}
	var cases []goldenCase
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		base := strings.TrimSuffix(p, ".in.xml")
		cases = append(cases, goldenCase{name: filepath.Base(base), path: base, in: b})
	}
	return cases
}

// golden compares got with the case's .want.xml (err false) or .want.err (err true).
func golden(t *testing.T, c goldenCase, got []byte, isErr bool) {
	t.Helper()
	want, other := c.path+".want.xml", c.path+".want.err"
	if isErr {
		want, other = other, want
	}
	if *update {
		if err := os.WriteFile(want, got, 0o644); err != nil {
			t.Fatal(err)
		}
		_ = os.Remove(other)
		return
	}
	exp, err := os.ReadFile(want)
	if err != nil {
		if _, oerr := os.Stat(other); oerr == nil {
			t.Fatalf("got %s, but the case expects %s:\n%s", filepath.Base(want), filepath.Base(other), got)
		}
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, exp) {
		t.Errorf("%s differs:\n got %q\nwant %q", filepath.Base(want), got, exp)
	}
}

func TestInsertCases(t *testing.T) {
	for _, c := range loadCases(t, "insert") {
		t.Run(c.name, func(t *testing.T) {
			out, refused, broken := checkInsert(c.in, testID)
			if broken != nil {
				t.Fatal(broken)
			}
			if refused != nil {
				if fault.Of(refused) != fault.Reject || fault.StatusOf(refused) != http.StatusUnprocessableEntity {
					t.Errorf("refusal %v: disposition %v, status %d; want reject, 422", refused, fault.Of(refused), fault.StatusOf(refused))
				}
				if !errors.Is(refused, ErrNoInbound) && !errors.Is(refused, ErrMalformed) {
					t.Errorf("refusal %v is neither ErrNoInbound nor ErrMalformed", refused)
				}
				golden(t, c, []byte(refused.Error()+"\n"), true)
				return
			}
			golden(t, c, out, false)
		})
	}
}

func TestRemoveCases(t *testing.T) {
	for _, c := range loadCases(t, "remove") {
		t.Run(c.name, func(t *testing.T) {
			before, err := Count(c.in, testID)
			if err != nil {
				t.Fatal(err)
			}
			out, changed, err := Remove(c.in, testID)
			if err != nil {
				golden(t, c, []byte(err.Error()+"\n"), true)
				return
			}
			if changed != (before > 0) || changed == bytes.Equal(out, c.in) {
				t.Errorf("changed=%v with %d includes before; output equal to input: %v", changed, before, bytes.Equal(out, c.in))
			}
			if n, err := Count(out, testID); err != nil || n != 0 {
				t.Errorf("Count after Remove = %d, %v; want 0", n, err)
			}
			golden(t, c, out, false)
		})
	}
}

func TestValidFragmentID(t *testing.T) {
	for id, ok := range map[string]bool{
		"apiguard":                true,
		"a":                       true,
		"ApiGuard-Enforce-2":      true,
		strings.Repeat("a", 80):   true,
		strings.Repeat("a", 81):   false,
		"":                        false,
		"1apiguard":               false,
		"-apiguard":               false,
		"api_guard":               false,
		"api guard":               false,
		`api"guard`:               false,
		"apigüard":                false,
		"apiguard/../../policies": false,
	} {
		err := ValidFragmentID(id)
		if (err == nil) != ok {
			t.Errorf("ValidFragmentID(%q) = %v, want ok=%v", id, err, ok)
		}
		if err != nil && (!errors.Is(err, ErrFragmentID) || fault.StatusOf(err) != http.StatusBadRequest) {
			t.Errorf("ValidFragmentID(%q) = %v: want ErrFragmentID with status 400", id, err)
		}
	}
	doc := []byte("<policies><inbound /></policies>")
	for name, op := range map[string]func() error{
		"Insert": func() error { _, _, err := Insert(doc, "1x"); return err },
		"Remove": func() error { _, _, err := Remove(doc, "1x"); return err },
		"Count":  func() error { _, err := Count(doc, "1x"); return err },
	} {
		if err := op(); !errors.Is(err, ErrFragmentID) {
			t.Errorf("%s with an invalid id: %v, want ErrFragmentID", name, err)
		}
	}
}

// TestRefusedReturnsInput: a refused document comes back as it was, so a caller that
// writes "out" anyway writes nothing new.
func TestRefusedReturnsInput(t *testing.T) {
	doc := []byte("<fragment><base /></fragment>")
	for _, op := range []func([]byte, string) ([]byte, bool, error){Insert, Remove} {
		out, changed, err := op(doc, testID)
		if err == nil || changed || !bytes.Equal(out, doc) {
			t.Errorf("got changed=%v err=%v out=%q", changed, err, out)
		}
	}
}
