package probe

import (
	"bufio"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/apiguard/apiguard/shared/fault"
)

// The data format, one pattern per line (README.md has the full description):
//
//	# class     weight  where       bound  pattern
//	traversal   5       url         -      ../
//	sqli        5       url         w      union select
//	scanner     10      agent       w      sqlmap
//
// Blank lines and lines starting with '#' are ignored. The pattern is the rest of the
// line, trimmed; \xHH writes any byte and \\ a backslash. ASCII letters match in either
// case, other bytes exactly.

//go:embed data/*.txt
var embedded embed.FS

// MaxPatternLen bounds a pattern's length in bytes. It keeps every match inside the
// overlap of two windows when a very long field is scanned in windows.
const MaxPatternLen = 64

// Where bits: the field and the form (normalised or raw) a pattern is looked for in.
const (
	wherePath uint8 = 1 << iota
	whereQuery
	whereAgent
	wherePathRaw
	whereQueryRaw
)

// Boundary kinds, for each side of a pattern.
const (
	boundNone    uint8 = iota
	boundWord          // the neighbour is not a letter, digit or '_' (nor '=' on the right)
	boundSegment       // the neighbour is '/' (left) or '/', ';', '?', '#' (right)
)

// Pattern is one line of the data, as compiled.
type Pattern struct {
	ID     uint16 // index in the Matcher, dense from 0, in the order of the data
	Text   string // escapes resolved, ASCII letters in lower case
	Class  Class
	Weight uint8
	Where  string // as written: "url", "path,query.raw", "agent"...
	Bound  string // as written: "-", "w", "s-"...
	Source string // "file:line"
	// Key is a 64-bit hash of the class and text: the same pattern has the same key
	// in every version of the data, where ID moves when lines are added before it.
	// Use it for anything that outlives the Matcher (stored sketches).
	Key uint64
}

// DataError is a data line that cannot be compiled. Compile and CompileFS return it
// wrapped as a rejection (fault.Reject): the file is wrong, retrying cannot help.
type DataError struct {
	Source string // file name, or "" for Compile's reader
	Line   int
	Err    error
}

func (e *DataError) Error() string {
	if e.Source == "" {
		return fmt.Sprintf("probe patterns: line %d: %v", e.Line, e.Err)
	}
	return fmt.Sprintf("probe patterns: %s:%d: %v", e.Source, e.Line, e.Err)
}

func (e *DataError) Unwrap() error { return e.Err }

// Compile reads one data file.
func Compile(r io.Reader) (*Matcher, error) {
	var c compiler
	if err := c.read("", r); err != nil {
		return nil, fault.Rejected(0, err)
	}
	return c.finish()
}

// CompileFS reads every *.txt file at the root of fsys, in name order, as one set of
// patterns: a team's directory of files, or a copy of the defaults plus its own.
func CompileFS(fsys fs.FS) (*Matcher, error) {
	names, err := fs.Glob(fsys, "*.txt")
	if err != nil {
		return nil, fault.Rejected(0, fmt.Errorf("probe patterns: %w", err))
	}
	if len(names) == 0 {
		return nil, fault.Rejected(0, errors.New("probe patterns: no *.txt file"))
	}
	sort.Strings(names)
	var c compiler
	for _, name := range names {
		f, err := fsys.Open(name)
		if err != nil {
			return nil, fault.Rejected(0, fmt.Errorf("probe patterns: %w", err))
		}
		err = c.read(path.Base(name), f)
		_ = f.Close()
		if err != nil {
			return nil, fault.Rejected(0, err)
		}
	}
	return c.finish()
}

// DefaultData is the embedded data, for CompileFS or to copy and extend.
func DefaultData() fs.FS {
	sub, err := fs.Sub(embedded, "data")
	if err != nil {
		panic(err) // the embed directive guarantees the directory
	}
	return sub
}

type compiler struct {
	pats  []Pattern
	info  []patInfo
	texts []string
	seen  map[string]string // text -> source of its line
}

func (c *compiler) read(source string, r io.Reader) error {
	if c.seen == nil {
		c.seen = map[string]string{}
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || text[0] == '#' {
			continue
		}
		if err := c.line(source, line, text); err != nil {
			return &DataError{Source: source, Line: line, Err: err}
		}
	}
	if err := sc.Err(); err != nil {
		return &DataError{Source: source, Line: line + 1, Err: err}
	}
	return nil
}

func (c *compiler) line(source string, line int, text string) error {
	cols, rest := columns(text, 4)
	if len(cols) < 4 || rest == "" {
		return errors.New("want five columns: class weight where bound pattern")
	}
	class, ok := ParseClass(cols[0])
	if !ok {
		names := make([]string, 0, numClasses)
		for _, c := range Classes() {
			names = append(names, c.Name())
		}
		return fmt.Errorf("unknown class %q (one of %s)", cols[0], strings.Join(names, ", "))
	}
	weight, err := strconv.Atoi(cols[1])
	if err != nil || weight < 1 || weight > 100 {
		return fmt.Errorf("weight %q: want a whole number from 1 to 100", cols[1])
	}
	where, err := parseWhere(cols[2])
	if err != nil {
		return err
	}
	left, right, err := parseBound(cols[3])
	if err != nil {
		return err
	}
	pat, err := unescape(rest)
	if err != nil {
		return err
	}
	if len(pat) < 2 || len(pat) > MaxPatternLen {
		return fmt.Errorf("pattern %q: want 2 to %d bytes", pat, MaxPatternLen)
	}
	if err := checkForm(pat, where); err != nil {
		return err
	}
	if err := checkBound(pat, left, right); err != nil {
		return err
	}
	if first, dup := c.seen[pat]; dup {
		return fmt.Errorf("pattern %q is already on %s", pat, first)
	}
	if len(c.pats) >= maxStates {
		return fmt.Errorf("more than %d patterns", maxStates)
	}
	src := fmt.Sprintf("%s:%d", source, line)
	if source == "" {
		src = fmt.Sprintf("line %d", line)
	}
	c.seen[pat] = src
	h := fnv.New64a()
	_, _ = io.WriteString(h, class.Name())
	_, _ = h.Write([]byte{0})
	_, _ = io.WriteString(h, pat)
	id := uint16(len(c.pats))
	c.pats = append(c.pats, Pattern{ID: id, Text: pat, Class: class, Weight: uint8(weight),
		Where: cols[2], Bound: cols[3], Source: src, Key: h.Sum64()})
	c.info = append(c.info, patInfo{where: where, left: left, right: right, n: uint8(len(pat)),
		class: class, weight: uint8(weight)})
	c.texts = append(c.texts, pat)
	return nil
}

func (c *compiler) finish() (*Matcher, error) {
	if len(c.pats) == 0 {
		return nil, fault.Rejected(0, errors.New("probe patterns: no pattern"))
	}
	a, err := build(c.texts)
	if err != nil {
		return nil, fault.Rejected(0, fmt.Errorf("probe patterns: %w", err))
	}
	m := &Matcher{automaton: a, pats: c.pats, info: c.info}
	m.rawPercent = true
	for i, p := range c.info {
		m.where |= p.where
		if p.where&(wherePathRaw|whereQueryRaw) != 0 && !strings.Contains(c.texts[i], "%") {
			m.rawPercent = false
		}
	}
	return m, nil
}

// columns splits off the first n white-space separated columns and returns the rest
// of the line, trimmed.
func columns(s string, n int) ([]string, string) {
	cols := make([]string, 0, n)
	for len(cols) < n {
		s = strings.TrimLeft(s, " \t")
		if s == "" {
			break
		}
		end := strings.IndexAny(s, " \t")
		if end < 0 {
			end = len(s)
		}
		cols = append(cols, s[:end])
		s = s[end:]
	}
	return cols, strings.TrimSpace(s)
}

func parseWhere(s string) (uint8, error) {
	var w uint8
	for _, part := range strings.Split(s, ",") {
		switch part {
		case "path":
			w |= wherePath
		case "query":
			w |= whereQuery
		case "url":
			w |= wherePath | whereQuery
		case "agent":
			w |= whereAgent
		case "path.raw":
			w |= wherePathRaw
		case "query.raw":
			w |= whereQueryRaw
		case "url.raw":
			w |= wherePathRaw | whereQueryRaw
		default:
			return 0, fmt.Errorf("where %q: want a comma-separated list of path, query, url, agent, path.raw, query.raw, url.raw", part)
		}
	}
	return w, nil
}

func parseBound(s string) (left, right uint8, err error) {
	kind := func(c byte) (uint8, bool) {
		switch c {
		case '-':
			return boundNone, true
		case 'w':
			return boundWord, true
		case 's':
			return boundSegment, true
		}
		return 0, false
	}
	bad := fmt.Errorf("bound %q: want one or two of - (none), w (word), s (path segment): one for both sides or left then right", s)
	switch len(s) {
	case 1:
		k, ok := kind(s[0])
		if !ok {
			return 0, 0, bad
		}
		return k, k, nil
	case 2:
		l, ok1 := kind(s[0])
		r, ok2 := kind(s[1])
		if !ok1 || !ok2 {
			return 0, 0, bad
		}
		return l, r, nil
	}
	return 0, 0, bad
}

// unescape resolves the escapes of a pattern and lowers its ASCII letters. Only ASCII:
// the automaton folds A-Z alone, and strings.ToLower would turn a \xHH byte above
// 0x7f, which is not valid UTF-8 alone, into U+FFFD, so that the pattern could never
// match.
func unescape(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return lowerASCII(s), nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		switch {
		case i+1 < len(s) && s[i+1] == '\\':
			b.WriteByte('\\')
			i++
		case i+3 < len(s) && s[i+1] == 'x':
			v, ok := hexPair(s[i+2], s[i+3])
			if !ok {
				return "", fmt.Errorf(`pattern %q: \x wants two hex digits`, s)
			}
			b.WriteByte(v)
			i += 3
		default:
			return "", fmt.Errorf(`pattern %q: a backslash starts \xHH or \\`, s)
		}
	}
	return lowerASCII(b.String()), nil
}

func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// checkForm rejects a pattern that can never be found: one that normalisation would
// rewrite, in a field where the normalised form is scanned.
func checkForm(p string, where uint8) error {
	if where&(wherePath|whereQuery) == 0 {
		return nil
	}
	buf := make([]byte, len(p))
	for _, f := range []struct {
		bit   uint8
		query bool
		name  string
	}{{wherePath, false, "path"}, {whereQuery, true, "query"}} {
		if where&f.bit == 0 {
			continue
		}
		if n := normalise(buf, p, f.query); string(buf[:n]) != p {
			return fmt.Errorf("pattern %q never occurs in a normalised %s: normalisation makes it %q; write that, or match the raw form (%s.raw)",
				p, f.name, buf[:n], f.name)
		}
	}
	return nil
}

// checkBound rejects a boundary that could not change anything, so that the data
// says exactly what is checked.
func checkBound(p string, left, right uint8) error {
	first, last := p[0], p[len(p)-1]
	switch {
	case left == boundWord && !isWord(first):
		return fmt.Errorf("pattern %q: a word boundary on the left has no effect, it starts with %q; write - for the left side", p, first)
	case right == boundWord && !isWord(last):
		return fmt.Errorf("pattern %q: a word boundary on the right has no effect, it ends with %q; write - for the right side", p, last)
	case left == boundSegment && first == '/':
		return fmt.Errorf("pattern %q: a segment boundary on the left has no effect, it starts with '/'; write - for the left side", p)
	case right == boundSegment && last == '/':
		return fmt.Errorf("pattern %q: a segment boundary on the right has no effect, it ends with '/'; write - for the right side", p)
	}
	return nil
}
