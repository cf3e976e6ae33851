package triage

import (
	"bytes"
	"strings"

	"github.com/apiguard/apiguard/shared/apim/include"
)

// scope is what the triage reads of one scope's policy. Only <inbound> decides whether a
// call is authenticated or throttled before it reaches the backend, and in it only the
// direct children apply to every request: an element nested in <choose>/<when> (or any
// other wrapper) runs only under a condition.
type scope struct {
	// label names the scope in a sentence: "the global policy", "the policy of product
	// starter", "the API policy", "the policy of operation get-order".
	label string
	state scopeState
	// base: <inbound> has a direct-child <base />, so the parent scope's inbound runs
	// there; without it the parent's (and everything broader) is dropped.
	base bool
	// validation is the first direct-child validation element ("validate-jwt", ...).
	validation string
	// rateLimit: a direct-child rate-limit-by-key or rate-limit.
	rateLimit bool
	// conditional names the first validation that is not a direct child, with its
	// wrapper: "validate-jwt inside <choose>".
	conditional string
	// fragments are the ids of direct-child include-fragment elements for fragments
	// apiguard does not own: what they hold is not in the inventory.
	fragments []string
	// why says what made the state unknown.
	why string
}

type scopeState uint8

const (
	// absent: the scope has no policy of its own and inherits its parent's whole, as if
	// its inbound were <base /> alone.
	absent scopeState = iota
	// readable: the fields above are what the policy says.
	readable
	// unknown: the policy could not be read (Unread, not readable by the scanner, or no
	// <inbound> section to read): it may hold anything, <base /> or not.
	unknown
)

// validations are the policies that authenticate a call.
var validations = []string{"validate-jwt", "validate-azure-ad-token", "validate-client-certificate"}

func isValidation(name []byte) bool {
	for _, v := range validations {
		if string(name) == v {
			return true
		}
	}
	return false
}

// policyReader reads policies with one reusable buffer and element stack: a run reads
// about a hundred thousand of them.
type policyReader struct {
	buf   []byte
	stack [][]byte
	own   map[string]bool // fragment ids apiguard owns, lower-cased
}

// read returns what p says. A scanner error comes back for the inventory's gaps; the
// scope is then unknown.
func (r *policyReader) read(p Policy, label string) (scope, error) {
	s := scope{label: label}
	switch {
	case p.Unread:
		s.state, s.why = unknown, "could not be read"
		return s, nil
	case !p.Found:
		return s, nil
	}
	r.buf = append(r.buf[:0], p.XML...)
	doc := r.buf
	var (
		stack     = r.stack[:0]
		inbound   = -1 // depth of the first <policies><inbound>, -1 before it
		done      bool
		rootFound bool
		mismatch  bool
	)
	err := include.Tags(doc, func(t include.Tag) bool {
		if t.End {
			if len(stack) == 0 || !bytes.Equal(stack[len(stack)-1], t.Name) {
				mismatch = true
				return false
			}
			stack = stack[:len(stack)-1]
			if len(stack) == inbound {
				done = true // </inbound>: the rest does not matter
				return false
			}
			return true
		}
		depth := len(stack)
		switch {
		case depth == 0:
			if rootFound || string(t.Name) != "policies" {
				return false // not a policy document (a fragment, another root)
			}
			rootFound = true
		case depth == 1 && inbound < 0 && string(t.Name) == "inbound":
			inbound = depth
			if t.SelfClosing {
				done = true // <inbound />: an empty section, no <base />
				return false
			}
		case inbound >= 0 && depth == inbound+1:
			r.direct(&s, t)
		case inbound >= 0 && depth > inbound+1 && s.conditional == "" && isValidation(t.Name):
			s.conditional = string(t.Name) + " inside <" + string(stack[inbound+1]) + ">"
		}
		if !t.SelfClosing {
			stack = append(stack, t.Name)
		}
		return true
	})
	r.stack = stack[:0]
	// What was read before a failure says nothing: the policy may hold anything.
	switch {
	case err != nil:
		return scope{label: label, state: unknown, why: "is not readable"}, err
	case mismatch:
		return scope{label: label, state: unknown, why: "is not readable (an end tag does not match its start tag)"}, nil
	case !done:
		return scope{label: label, state: unknown, why: "has no <inbound> section"}, nil
	}
	s.state = readable
	return s, nil
}

// direct records a direct child of <inbound>.
func (r *policyReader) direct(s *scope, t include.Tag) {
	switch name := t.Name; {
	case string(name) == "base":
		s.base = true
	case isValidation(name):
		if s.validation == "" {
			s.validation = string(name)
		}
	case string(name) == "rate-limit-by-key" || string(name) == "rate-limit":
		s.rateLimit = true
	case string(name) == "include-fragment":
		id, _ := t.Attr("fragment-id")
		if !r.own[strings.ToLower(string(id))] {
			s.fragments = append(s.fragments, string(id))
		}
	}
}
