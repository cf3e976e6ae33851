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

// Document is a WAF policy's wire JSON (ARM shape: {id?, name?, type?, location, etag?,
// sku?, properties: {...}}), or an ARM template holding exactly one such policy
// resource. It only knows where the custom rules array is: WithOwned splices owned
// rules into the original bytes, so every other field (unknown ones included) keeps
// its bytes, key order and formatting, and customer rules keep theirs.
type Document struct {
	kind     Kind
	data     []byte
	top      int // the top-level object
	policyAt int // the policy object: top, or the template's resource
	template bool
	style    style
	elems    []element
	slot     slot
}

// element is one entry of the custom rules array, verbatim.
type element struct {
	raw         json.RawMessage
	start, end  int // span in the document
	name        string
	named       bool // name is a JSON string
	priority    int
	hasPriority bool // priority is an integer
	expression  bool // the rule or its priority is an ARM template expression
}

// slot is where the rules array is, or where it goes when the document has none.
type slot struct {
	exists       bool
	start, close int // '[' and ']' of the existing array
	// When there is no array: chain[depth] is missing from the object at objAt, or
	// null at valStart:valEnd.
	depth            int
	null             bool
	objAt            int
	valStart, valEnd int
}

// ParseDocument reads a policy of the given kind: a policy document, or an ARM
// template with exactly one policy resource of that kind (which is then the one
// edited). It refuses what is not JSON, not an object, not a WAF policy of that kind
// (naming what it found), properties, customRules (or Front Door's
// customRules.rules) of the wrong type, a chain key given twice, and rules a template
// generates (copy loops, expressions). Absent or null containers are created on
// write. The document keeps data: do not modify it afterwards.
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
	at, template, err := locate(kind, data, top)
	if err != nil {
		return nil, err
	}
	d := &Document{kind: kind, data: data, top: top, policyAt: at, template: template, style: detectStyle(data, top)}
	chain := rulesChain(kind)
	path := strings.Join(chain, ".")
	for depth, key := range chain {
		ms, _, err := object(data, at)
		if err != nil {
			return nil, reject("policy: %v", err)
		}
		where := "the policy"
		if depth > 0 {
			where = strings.Join(chain[:depth], ".")
		}
		if err := checkMembers(data, ms, key, where); err != nil {
			return nil, err
		}
		m, found := lastMember(ms, key)
		switch {
		case !found:
			d.slot = slot{depth: depth, objAt: at}
			return d, nil
		case string(data[m.start:m.end]) == "null":
			d.slot = slot{depth: depth, null: true, valStart: m.start, valEnd: m.end}
			return d, nil
		}
		last := depth == len(chain)-1
		want := byte('{')
		if last {
			want = '['
		}
		if data[m.start] != want {
			name := strings.Join(chain[:depth+1], ".")
			if data[m.start] == '"' && len(data) > m.start+1 && data[m.start+1] == '[' {
				return nil, reject("%s is the ARM expression %s: apiguard edits literal rules only", name, clip(data[m.start:m.end]))
			}
			what := "an object"
			if last {
				what = "an array"
			}
			return nil, reject("%s is not %s: not %s policy, whose rules are at %s", name, what, kindName(kind), path)
		}
		if last {
			if err := d.readArray(m.start); err != nil {
				return nil, reject("policy %s: %v", path, err)
			}
			break
		}
		at = m.start
	}
	if d.template {
		for i := range d.elems {
			if e := &d.elems[i]; e.expression {
				return nil, reject("rule %d (%q) of the template's policy has an ARM expression for itself or its priority: apiguard cannot tell which priority it takes",
					i+1, e.name)
			}
		}
	}
	return d, nil
}

func rulesChain(kind Kind) []string {
	if kind == FrontDoor {
		return []string{"properties", "customRules", "rules"}
	}
	return []string{"properties", "customRules"}
}

// checkMembers refuses an object on the way to the rules that names key twice (ARM
// reads the last, other readers the first: a reviewer could be shown one set of rules
// and the service deploy another) or that generates key with a template copy loop.
func checkMembers(data []byte, ms []member, key, where string) error {
	n := 0
	for _, m := range ms {
		if m.key == key {
			n++
		}
	}
	if n > 1 {
		return reject("%s holds %q %d times: readers disagree on which one counts", where, key, n)
	}
	cp, ok := lastMember(ms, "copy")
	if !ok || data[cp.start] != '[' {
		return nil
	}
	loops, _, _ := array(data, cp.start)
	for _, sp := range loops {
		if data[sp[0]] != '{' {
			continue
		}
		lm, _, _ := object(data, sp[0])
		if nm, ok := lastMember(lm, "name"); ok {
			var s string
			if json.Unmarshal(data[nm.start:nm.end], &s) == nil && strings.EqualFold(s, key) {
				return reject("%s generates %q with a template copy loop: apiguard edits literal rules only", where, key)
			}
		}
	}
	return nil
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
	d.slot = slot{exists: true, start: at, close: closing}
	d.elems = make([]element, len(spans))
	for i, sp := range spans {
		d.elems[i] = readElement(d.data[sp[0]:sp[1]])
		d.elems[i].start, d.elems[i].end = sp[0], sp[1]
	}
	return nil
}

// readElement picks out a rule's name and priority, matching keys exactly as ARM
// writes them. Anything that is not an object is kept as a customer rule.
func readElement(raw []byte) element {
	e := element{raw: raw}
	if len(raw) == 0 || raw[0] != '{' {
		e.expression = len(raw) > 1 && raw[0] == '"' && raw[1] == '['
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
		e.expression = m.end-m.start > 1 && raw[m.start] == '"' && raw[m.start+1] == '['
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

// Template says whether the document is an ARM template holding the policy rather
// than the policy itself: a file can be either, a resource provider takes only the
// policy.
func (d *Document) Template() bool { return d.template }

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
// array keeps its bytes; new rules are laid out in the document's own style
// (indentation, line breaks, spacing). The same document and rules always give the
// same bytes. Owned rules leave with the separator before them, so adding rules and
// then removing every owned rule gives back the original bytes, and a container that
// held only owned rules goes again (see dropEmpty).
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
	var keep []int
	for i := range d.elems {
		if !owns(opts.NamePrefix, &d.elems[i]) {
			keep = append(keep, i)
		}
	}
	if len(rules) == 0 && (!d.slot.exists || len(keep) == len(d.elems)) {
		return bytes.Clone(d.data), nil
	}
	if !d.slot.exists {
		return d.create(encoded), nil
	}
	out := d.splice(keep, encoded)
	if len(keep) == 0 && len(encoded) == 0 {
		out = d.dropEmpty(out)
	}
	return out, nil
}

// splice rewrites the existing array: kept elements with the separators that stood
// before them, then the new rules after the last kept one.
func (d *Document) splice(keep []int, encoded [][]byte) []byte {
	data, s, st := d.data, d.slot, d.style
	var out bytes.Buffer
	out.Grow(len(data) + 256*len(encoded))
	out.Write(data[:s.start+1])
	if len(d.elems) == 0 {
		if len(encoded) > 0 {
			outer := lineIndent(data, s.start)
			elem := outer + st.unit
			open, sep, close := "", st.comma, ""
			if st.nl != "" {
				open, sep, close = st.nl+elem, ","+st.nl+elem, st.nl+outer
			}
			out.WriteString(open)
			d.writeRules(&out, encoded, sep, elem, true)
			out.WriteString(close)
		}
		out.Write(data[s.close:])
		return out.Bytes()
	}
	if len(keep) == 0 && len(encoded) == 0 {
		out.Write(data[s.close:]) // nothing left: []
		return out.Bytes()
	}
	first, last := d.elems[0], d.elems[len(d.elems)-1]
	open := data[s.start+1 : first.start]
	close := data[last.end:s.close]
	elem := lineIndent(data, first.start)
	if i := bytes.LastIndexByte(open, '\n'); i >= 0 {
		elem = string(open[i+1:])
	}
	sep := st.comma
	if st.nl != "" {
		sep = "," + st.nl + elem
	}
	if n := len(keep); n > 0 && keep[n-1] > 0 {
		k := keep[n-1]
		sep = string(data[d.elems[k-1].end:d.elems[k].start])
	}
	out.Write(open)
	for j, i := range keep {
		if j > 0 {
			out.Write(data[d.elems[i-1].end:d.elems[i].start])
		}
		out.Write(d.elems[i].raw)
	}
	d.writeRules(&out, encoded, sep, elem, len(keep) == 0)
	out.Write(close)
	out.Write(data[s.close:])
	return out.Bytes()
}

// writeRules writes encoded rules, each laid out at indentation elem and preceded by
// sep (but the first when first).
func (d *Document) writeRules(out *bytes.Buffer, encoded [][]byte, sep, elem string, first bool) {
	for i, r := range encoded {
		if i > 0 || !first {
			out.WriteString(sep)
		}
		out.Write(d.style.format(r, elem))
	}
}

// create writes the missing (or null) containers down to the rules array, holding
// the encoded rules, in the document's style.
func (d *Document) create(encoded [][]byte) []byte {
	data, s, st := d.data, d.slot, d.style
	chain := rulesChain(d.kind)
	var out bytes.Buffer
	if s.null {
		out.Write(data[:s.valStart])
		d.container(&out, chain[s.depth+1:], lineIndent(data, s.valStart), encoded)
		out.Write(data[s.valEnd:])
		return out.Bytes()
	}
	ms, closing, _ := object(data, s.objAt)
	member := func(ind string) {
		out.WriteString(strconv.Quote(chain[s.depth]))
		out.WriteString(st.colon)
		d.container(&out, chain[s.depth+1:], ind, encoded)
	}
	if len(ms) > 0 {
		lastM := ms[len(ms)-1]
		ind := lineIndent(data, lastM.keyStart)
		out.Write(data[:lastM.end])
		if st.nl != "" {
			out.WriteString("," + st.nl + ind)
		} else {
			out.WriteString(st.comma)
		}
		member(ind)
		out.Write(data[lastM.end:])
		return out.Bytes()
	}
	outer := lineIndent(data, s.objAt)
	out.Write(data[:s.objAt+1])
	out.WriteString(st.nl)
	if st.nl != "" {
		out.WriteString(outer + st.unit)
	}
	member(outer + st.unit)
	if st.nl != "" {
		out.WriteString(st.nl + outer)
	}
	out.Write(data[closing:])
	return out.Bytes()
}

// container writes the nested objects keys down to the rules array, starting on a
// line indented by ind.
func (d *Document) container(out *bytes.Buffer, keys []string, ind string, encoded [][]byte) {
	st := d.style
	inner := ind + st.unit
	open, sep, close := "", st.comma, ""
	if st.nl != "" {
		open, sep, close = st.nl+inner, ","+st.nl+inner, st.nl+ind
	}
	if len(keys) == 0 {
		out.WriteByte('[')
		out.WriteString(open)
		d.writeRules(out, encoded, sep, inner, true)
		out.WriteString(close)
		out.WriteByte(']')
		return
	}
	out.WriteByte('{')
	out.WriteString(open)
	out.WriteString(strconv.Quote(keys[0]))
	out.WriteString(st.colon)
	d.container(out, keys[1:], inner, encoded)
	out.WriteString(close)
	out.WriteByte('}')
}

// dropEmpty takes away, from a document whose rules array has just lost its last
// (owned) rule, the containers apiguard would have created for it: customRules (and
// properties, when it holds nothing else) when it is the last member of its object,
// where create puts it, and holds nothing but the empty rules array. A container that
// the document needs to be told apart as a policy of its kind stays, as does one that
// is not last: a customer's explicit "customRules": [] elsewhere is kept as [].
func (d *Document) dropEmpty(out []byte) []byte {
	ms, _, err := object(out, d.policyAt)
	if err != nil {
		return out
	}
	pi := lastIndex(ms, "properties")
	if pi < 0 || out[ms[pi].start] != '{' {
		return out
	}
	props, _, err := object(out, ms[pi].start)
	if err != nil {
		return out
	}
	ci := lastIndex(props, "customRules")
	if ci < 0 || ci != len(props)-1 || !d.emptyRules(out, props[ci]) {
		return out
	}
	var candidates [][]byte
	if pi == len(ms)-1 && len(props) == 1 {
		candidates = append(candidates, cutLast(out, d.policyAt, ms))
	}
	candidates = append(candidates, cutLast(out, ms[pi].start, props))
	for _, c := range candidates {
		if _, _, err := locate(d.kind, c, d.top); err == nil {
			return c
		}
	}
	return out
}

// emptyRules says whether the customRules member m holds nothing but an empty rules array.
func (d *Document) emptyRules(data []byte, m member) bool {
	v := data[m.start:m.end]
	if d.kind == AppGW {
		return string(v) == "[]"
	}
	inner, _, err := object(data, m.start)
	return err == nil && len(inner) == 1 && inner[0].key == "rules" && string(data[inner[0].start:inner[0].end]) == "[]"
}

// cutLast removes the last member of the object at data[at] (members ms), with the
// separator before it.
func cutLast(data []byte, at int, ms []member) []byte {
	last := ms[len(ms)-1]
	from := at + 1
	if len(ms) > 1 {
		from = ms[len(ms)-2].end
	}
	to := last.end
	if len(ms) == 1 {
		to = skipSpace(data, last.end) // up to the closing brace: {}
	}
	out := make([]byte, 0, len(data)-(to-from))
	out = append(out, data[:from]...)
	return append(out, data[to:]...)
}

func lastIndex(ms []member, key string) int {
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].key == key {
			return i
		}
	}
	return -1
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
