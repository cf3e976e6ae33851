package azureapim

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode"

	"github.com/apiguard/apiguard/shared/fault"
)

// Scope is where a policy document sits inside one service. The zero value is the
// global (service-wide) scope; Product alone is a product's policy; API alone an API's;
// API and Operation together an operation's. Workspaces are not supported.
type Scope struct {
	Product, API, Operation string
}

// Global is the service-wide scope, spelled out.
var Global = Scope{}

// IsGlobal reports whether s is the service-wide scope.
func (s Scope) IsGlobal() bool { return s == Scope{} }

// String is the scope as ParseScope reads it: "global", "products/{p}", "apis/{api}"
// or "apis/{api}/operations/{op}". Ids keep their case.
func (s Scope) String() string {
	switch {
	case s.IsGlobal():
		return "global"
	case s.Product != "":
		return "products/" + s.Product
	case s.Operation != "":
		return "apis/" + s.API + "/operations/" + s.Operation
	default:
		return "apis/" + s.API
	}
}

// ParseScope reads a scope: "global", "products/{p}", "apis/{api}" or
// "apis/{api}/operations/{op}". The keywords are case-insensitive; ids keep their case
// (APIM compares them case-insensitively). Surrounding space and one leading or
// trailing slash are tolerated. Errors are 400 rejections naming what is wrong.
func ParseScope(in string) (Scope, error) {
	fail := func(format string, a ...any) (Scope, error) {
		return Scope{}, fault.Rejected(http.StatusBadRequest,
			fmt.Errorf("APIM policy scope %q: %s", in, fmt.Sprintf(format, a...)))
	}
	const want = "want global, products/{id}, apis/{id} or apis/{id}/operations/{id}"
	s := strings.TrimSpace(in)
	s = strings.TrimPrefix(s, "/")
	s = strings.TrimSuffix(s, "/")
	if s == "" {
		return fail("empty: %s (global is the service-wide policy)", want)
	}
	segs := strings.Split(s, "/")
	for i, seg := range segs {
		if seg == "" {
			return fail("segment %d is empty (double slash?)", i+1)
		}
	}
	var out Scope
	switch kw := segs[0]; {
	case strings.EqualFold(kw, "global") && len(segs) == 1:
		return Scope{}, nil
	case strings.EqualFold(kw, "global"):
		return fail("global takes nothing after it")
	case strings.EqualFold(kw, "products"):
		if len(segs) != 2 {
			return fail("a product scope is products/{id}: the product's own policy (APIM has no per-API policy inside a product)")
		}
		out.Product = segs[1]
	case strings.EqualFold(kw, "apis"):
		switch {
		case len(segs) == 2:
			out.API = segs[1]
		case len(segs) == 4 && strings.EqualFold(segs[2], "operations"):
			out.API, out.Operation = segs[1], segs[3]
		case len(segs) == 4:
			return fail("segment 3 is %q, want \"operations\"", segs[2])
		default:
			return fail("an API scope is apis/{id} or apis/{id}/operations/{id}")
		}
	default:
		return fail("unknown scope kind %q: %s", kw, want)
	}
	if err := out.check(); err != nil {
		return fail("%v", err)
	}
	return out, nil
}

// validate checks a Scope built by hand rather than parsed.
func (s Scope) validate() error {
	if err := s.check(); err != nil {
		return fault.Rejected(http.StatusBadRequest, fmt.Errorf("APIM policy scope %s: %w", s, err))
	}
	return nil
}

func (s Scope) check() error {
	switch {
	case s.Product != "" && (s.API != "" || s.Operation != ""):
		return errors.New("a scope is a product or an API, not both")
	case s.Operation != "" && s.API == "":
		return errors.New("an operation scope needs its API")
	}
	var problems []error
	for _, f := range []struct {
		what, id string
		max      int
	}{{"product id", s.Product, 256}, {"API id", s.API, 256}, {"operation id", s.Operation, 80}} {
		if err := checkEntityID(f.what, f.id, f.max); err != nil {
			problems = append(problems, err)
		}
	}
	return errors.Join(problems...)
}

// checkEntityID applies APIM's rule for entity ids (no * # & + : < > ?, bounded
// length) plus what would break or blur the request path: a slash, a backslash, a
// percent sign, "." or "..", control characters, surrounding space. An empty id means
// "not this kind of scope".
func checkEntityID(what, id string, max int) error {
	switch {
	case id == "":
		return nil
	case len(id) > max:
		return fmt.Errorf("%s is longer than %d characters", what, max)
	case id == "." || id == "..":
		return fmt.Errorf("%s %q is not an id", what, id)
	case strings.TrimSpace(id) != id:
		return fmt.Errorf("%s %q has surrounding space", what, id)
	case strings.ContainsAny(id, "/*#&+:<>?%\\"):
		return fmt.Errorf("%s %q holds one of / * # & + : < > ? %% \\", what, id)
	case strings.ContainsFunc(id, unicode.IsControl):
		return fmt.Errorf("%s %q holds a control character", what, id)
	}
	return nil
}

// checkFragmentID applies APIM's rule for policy fragment ids: 1-80 word characters
// and hyphens, not starting or ending with a hyphen.
func checkFragmentID(id string) error {
	if id == "" || len(id) > 80 || id[0] == '-' || id[len(id)-1] == '-' {
		return fmt.Errorf("policy fragment id %q: want 1-80 letters, digits, '_' or '-', not starting or ending with '-'", id)
	}
	for _, r := range id {
		if !isASCIILetter(r) && !(r >= '0' && r <= '9') && r != '_' && r != '-' {
			return fmt.Errorf("policy fragment id %q: want 1-80 letters, digits, '_' or '-', not starting or ending with '-'", id)
		}
	}
	return nil
}
