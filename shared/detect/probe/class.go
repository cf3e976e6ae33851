package probe

import "strings"

// Class is the kind of probing a pattern is evidence of. The data files name classes
// by Name; the numbers are not stored anywhere and may change between versions.
type Class uint8

// The classes. README.md explains what each covers and why it weighs what it does.
const (
	ClassNone      Class = iota
	ClassSensitive       // sensitive files, backups, dumps, credentials
	ClassTraversal       // path traversal sequences and the OS files they aim at
	ClassInclusion       // file inclusion and SSRF: stream wrappers, metadata endpoints
	ClassSQLi            // SQL injection markers
	ClassXSS             // cross-site scripting markers
	ClassTemplate        // template and expression injection (SSTI, EL, OGNL, JNDI lookups)
	ClassCommand         // OS command injection
	ClassAdmin           // admin and management interfaces
	ClassWebShell        // web shells and remote-code-execution endpoints
	ClassScanner         // scanner user agents and out-of-band callback domains
	ClassEvasion         // encodings that only evasion uses (overlong UTF-8, %u, NUL)
	numClasses
)

var classNames = [numClasses]string{
	ClassNone:      "none",
	ClassSensitive: "sensitive",
	ClassTraversal: "traversal",
	ClassInclusion: "inclusion",
	ClassSQLi:      "sqli",
	ClassXSS:       "xss",
	ClassTemplate:  "template",
	ClassCommand:   "command",
	ClassAdmin:     "admin",
	ClassWebShell:  "webshell",
	ClassScanner:   "scanner",
	ClassEvasion:   "evasion",
}

// Name is the class as the data files and findings spell it.
func (c Class) Name() string {
	if c < numClasses {
		return classNames[c]
	}
	return "unknown"
}

func (c Class) String() string { return c.Name() }

// Classes lists every class a pattern can have, in order.
func Classes() []Class {
	out := make([]Class, 0, numClasses-1)
	for c := ClassNone + 1; c < numClasses; c++ {
		out = append(out, c)
	}
	return out
}

// ParseClass reads a class name; ok is false for an unknown name.
func ParseClass(s string) (Class, bool) {
	for c := ClassNone + 1; c < numClasses; c++ {
		if classNames[c] == s {
			return c, true
		}
	}
	return ClassNone, false
}

// ClassSet is a set of classes, one bit per class.
type ClassSet uint16

// Has reports whether c is in the set.
func (s ClassSet) Has(c Class) bool { return c < numClasses && s&(1<<c) != 0 }

// Len is the number of classes in the set.
func (s ClassSet) Len() int {
	n := 0
	for ; s != 0; s &= s - 1 {
		n++
	}
	return n
}

func (s ClassSet) String() string {
	var b strings.Builder
	for c := ClassNone + 1; c < numClasses; c++ {
		if s.Has(c) {
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			b.WriteString(c.Name())
		}
	}
	return b.String()
}

// Field is the part of a request a hit was found in.
type Field uint8

const (
	FieldPath Field = iota
	FieldQuery
	FieldAgent
)

func (f Field) String() string {
	switch f {
	case FieldPath:
		return "path"
	case FieldQuery:
		return "query"
	case FieldAgent:
		return "agent"
	}
	return "unknown"
}
