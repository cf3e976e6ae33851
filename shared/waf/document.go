package waf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/apiguard/apiguard/shared/fault"
)

// Document is a WAF policy's wire JSON (ARM shape: {id?, name?, location, etag?,
// properties: {...}}). It only knows where the custom rules array is: WithOwned splices
// a new array into the original bytes, so every other field (unknown ones included)
// keeps its bytes, key order and formatting, and customer rules keep theirs.
type Document struct {
	kind  Kind
	data  []byte
	elems []element
	slot  slot
}

// element is one entry of the custom rules array, verbatim.
type element struct {
	raw         json.RawMessage
	name        string
	named       bool // name is a JSON string
	priority    int
	hasPriority bool // priority is an integer
}

// slot is where the rules array is, or where it goes when the document has none.
type slot struct {
	start, end int    // data[start:end] is replaced
	pre, suf   string // wrap the new array when containers are missing
	exists     bool   // an array is there now
	// The existing array's whitespace: after '[', after each ',', before ']'. Reused so
	// an indented policy stays indented.
	open, sep, close []byte
}

// ParseDocument reads a policy of the given kind. It rejects what is not JSON, not an
// object, or has properties, customRules (or Front Door's customRules.rules) of the
// wrong type; absent or null containers are created on write. The document keeps data:
// do not modify it afterwards.
func ParseDocument(kind Kind, data []byte) (*Document, error) {
	if kind != AppGW && kind != FrontDoor {
		return nil, reject("kind %q is not %q or %q", kind, AppGW, FrontDoor)
	}
	if !json.Valid(data) {
		var v any
		err := json.Unmarshal(data, &v)
		return nil, reject("policy is not JSON: %v", err)
	}
	top := skipSpace(data, 0)
	if data[top] != '{' {
		return nil, reject("policy is not a JSON object")
	}
	d := &Document{kind: kind, data: data}
	// Walk properties -> customRules (-> rules), remembering how to build what is missing.
	chain := []string{"properties", "customRules"}
	if kind == FrontDoor {
		chain = append(chain, "rules")
	}
	path := strings.Join(chain, ".")
	wrap := func(keys []string) (pre, suf string) {
		for _, k := range keys {
			pre += `{"` + k + `":`
			suf += "}"
		}
		return pre, suf
	}
	at := top
	for depth, key := range chain {
		ms, _, err := object(data, at)
		if err != nil {
			return nil, reject("policy: %v", err)
		}
		m, found := lastMember(ms, key)
		pre, suf := wrap(chain[depth+1:])
		switch {
		case !found:
			// Insert the member after the object's last one (or right after '{').
			pos, comma := at+1, ""
			if len(ms) > 0 {
				pos, comma = ms[len(ms)-1].end, ","
			}
			d.slot = slot{start: pos, end: pos, pre: comma + `"` + key + `":` + pre, suf: suf}
			return d, nil
		case string(data[m.start:m.end]) == "null":
			d.slot = slot{start: m.start, end: m.end, pre: pre, suf: suf}
			return d, nil
		}
		last := depth == len(chain)-1
		want := byte('{')
		if last {
			want = '['
		}
		if data[m.start] != want {
			what := "an object"
			if last {
				what = "an array"
			}
			name := strings.Join(chain[:depth+1], ".")
			return nil, reject("%s is not %s: not %s policy, whose rules are at %s", name, what, kindName(kind), path)
		}
		if last {
			if err := d.readArray(m.start); err != nil {
				return nil, reject("policy %s: %v", path, err)
			}
			return d, nil
		}
		at = m.start
	}
	return d, nil
}

func kindName(k Kind) string {
	if k == FrontDoor {
		return "a Front Door"
	}
	return "an Application Gateway"
}

func reject(format string, args ...any) error {
	return fault.Rejected(400, fmt.Errorf(format, args...))
}

// readArray records the rules array at data[at] and its elements.
func (d *Document) readArray(at int) error {
	spans, closing, err := array(d.data, at)
	if err != nil {
		return err
	}
	s := slot{start: at, end: closing + 1, exists: true}
	if len(spans) > 0 {
		s.open = d.data[at+1 : spans[0][0]]
		s.close = d.data[spans[len(spans)-1][1]:closing]
		s.sep = s.open
		if len(spans) > 1 {
			between := d.data[spans[0][1]:spans[1][0]]
			s.sep = between[bytes.IndexByte(between, ',')+1:]
		}
	}
	d.slot = s
	d.elems = make([]element, len(spans))
	for i, sp := range spans {
		d.elems[i] = readElement(d.data[sp[0]:sp[1]])
	}
	return nil
}

// readElement picks out a rule's name and priority, matching keys exactly as ARM
// writes them. Anything that is not an object is kept as a customer rule.
func readElement(raw []byte) element {
	e := element{raw: raw}
	if len(raw) == 0 || raw[0] != '{' {
		return e
	}
	ms, _, err := object(raw, 0)
	if err != nil {
		return e
	}
	if m, ok := lastMember(ms, "name"); ok {
		var s string
		if json.Unmarshal(raw[m.start:m.end], &s) == nil && raw[m.start] == '"' {
			e.name, e.named = s, true
		}
	}
	if m, ok := lastMember(ms, "priority"); ok {
		e.priority, e.hasPriority = parseInt(raw[m.start:m.end])
	}
	return e
}

func parseInt(b []byte) (int, bool) {
	if n, err := strconv.Atoi(string(b)); err == nil {
		return n, true
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || f != math.Trunc(f) || f < math.MinInt32 || f > math.MaxInt32 {
		return 0, false
	}
	return int(f), true
}

// owns says whether a rule name carries the reserved prefix (case-insensitively, as
// a person renaming a rule in the portal would still mean ours).
func owns(prefix string, e *element) bool {
	return e.named && len(e.name) >= len(prefix) && strings.EqualFold(e.name[:len(prefix)], prefix)
}

// Kind is the policy kind the document was read as.
func (d *Document) Kind() Kind { return d.kind }

// Owned returns apiguard's rules in canonical form, by priority then name. A rule
// with the prefix that apiguard would not have written still counts as owned, with
// Malformed saying why, so the next write replaces it.
func (d *Document) Owned(opts Options) []Rule {
	opts = opts.WithDefaults()
	var out []Rule
	for i := range d.elems {
		if owns(opts.NamePrefix, &d.elems[i]) {
			out = append(out, d.readRule(&d.elems[i]))
		}
	}
	sortRules(out)
	return out
}

// Customer returns the rules apiguard does not own under opts, byte for byte as
// parsed, in document order.
func (d *Document) Customer(opts Options) []json.RawMessage {
	opts = opts.WithDefaults()
	var out []json.RawMessage
	for i := range d.elems {
		if !owns(opts.NamePrefix, &d.elems[i]) {
			out = append(out, d.elems[i].raw)
		}
	}
	return out
}

// CustomerRules is Customer under the default name prefix ("apiguard"); use Customer
// when the target reserves another one.
func (d *Document) CustomerRules() []json.RawMessage { return d.Customer(Options{}) }

// Budget is what the customer leaves: MaxRules minus their rules, and no more than the
// free priorities of the band (a customer rule inside the band keeps its priority).
// Owned rules take nothing: they are about to be replaced. Priorities lists the free
// ones in ascending order, at most MaxRules of them.
func (d *Document) Budget(opts Options) Budget {
	opts = opts.WithDefaults()
	customers := 0
	taken := map[int]bool{}
	for i := range d.elems {
		e := &d.elems[i]
		if owns(opts.NamePrefix, e) {
			continue
		}
		customers++
		if e.hasPriority && e.priority >= opts.PriorityStart && e.priority <= opts.PriorityEnd {
			taken[e.priority] = true
		}
	}
	band := opts.PriorityEnd - opts.PriorityStart + 1
	free := max(band-len(taken), 0)
	var b Budget
	b.Rules = max(min(opts.MaxRules-customers, free), 0)
	for p := opts.PriorityStart; p <= opts.PriorityEnd && len(b.Priorities) < opts.MaxRules; p++ {
		if !taken[p] {
			b.Priorities = append(b.Priorities, p)
		}
	}
	return b
}

// WithOwned returns the document with the owned rules replaced by rules, after the
// customer's (which keep their bytes and relative order). Everything outside the rules
// array keeps its bytes. The same document and rules always give the same bytes.
// Removing every owned rule from a document that had no rules array gives back the
// original bytes: nothing is created for nothing.
func (d *Document) WithOwned(opts Options, rules []Rule) ([]byte, error) {
	opts = opts.WithDefaults()
	var errs []error
	encoded := make([][]byte, 0, len(rules))
	for _, r := range rules {
		if !owns(opts.NamePrefix, &element{name: r.Name, named: true}) {
			errs = append(errs, fmt.Errorf("rule %q does not carry the owned prefix %q: it would read back as the customer's", r.Name, opts.NamePrefix))
			continue
		}
		b, err := d.encodeRule(r)
		if err != nil {
			errs = append(errs, fmt.Errorf("rule %q: %w", r.Name, err))
			continue
		}
		encoded = append(encoded, b)
	}
	if len(errs) > 0 {
		return nil, fault.Rejected(400, errors.Join(errs...))
	}
	keep := d.Customer(opts)
	if len(rules) == 0 && (!d.slot.exists || len(keep) == len(d.elems)) {
		return bytes.Clone(d.data), nil
	}
	all := make([][]byte, 0, len(keep)+len(encoded))
	for _, r := range keep {
		all = append(all, r)
	}
	all = append(all, encoded...)

	s := d.slot
	var out bytes.Buffer
	out.Grow(len(d.data) + 64*len(encoded))
	out.Write(d.data[:s.start])
	out.WriteString(s.pre)
	out.WriteByte('[')
	if len(all) > 0 {
		out.Write(s.open)
		for i, r := range all {
			if i > 0 {
				out.WriteByte(',')
				out.Write(s.sep)
			}
			out.Write(r)
		}
		out.Write(s.close)
	}
	out.WriteByte(']')
	out.WriteString(s.suf)
	out.Write(d.data[s.end:])
	return out.Bytes(), nil
}

// sortRules orders rules by priority, then name: the canonical order of a rule set.
func sortRules(rs []Rule) {
	slices.SortStableFunc(rs, func(a, b Rule) int {
		if a.Priority != b.Priority {
			return a.Priority - b.Priority
		}
		return strings.Compare(a.Name, b.Name)
	})
}
