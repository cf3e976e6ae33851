package include

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
)

// testID is the fragment id every test inserts; the cases in testdata are written for it.
const testID = "apiguard"

// checkInsert runs Insert on doc and checks every property the package promises. It
// returns Insert's error (a refusal) or the first broken promise.
func checkInsert(doc []byte, id string) (out []byte, refused error, broken error) {
	before, cerr := Count(doc, id)
	out, changed, err := Insert(doc, id)
	if err != nil {
		if cerr == nil && !errors.Is(err, ErrAmbiguous) {
			return nil, err, fmt.Errorf("Insert refused (%v) but Count read the document", err)
		}
		if !bytes.Equal(out, doc) {
			return nil, err, errors.New("refused Insert did not return the input")
		}
		return nil, err, nil
	}
	if cerr != nil {
		return nil, nil, fmt.Errorf("Insert succeeded but Count failed: %v", cerr)
	}
	n, err := Count(out, id)
	if err != nil {
		return nil, nil, fmt.Errorf("Count after Insert: %v", err)
	}
	if !changed {
		if !bytes.Equal(out, doc) {
			return nil, nil, errors.New("unchanged Insert returned different bytes")
		}
		if before < 1 || n != before {
			return nil, nil, fmt.Errorf("unchanged Insert with %d includes before, %d after", before, n)
		}
		return out, nil, nil
	}
	if before != 0 || n != 1 {
		return nil, nil, fmt.Errorf("Insert changed the document: Count %d before, %d after, want 0 and 1", before, n)
	}
	if err := onlyInserted(doc, out, id); err != nil {
		return nil, nil, err
	}
	again, changed2, err := Insert(out, id)
	if err != nil || changed2 || !bytes.Equal(again, out) {
		return nil, nil, fmt.Errorf("second Insert not a no-op: changed=%v err=%v", changed2, err)
	}
	back, removed, err := Remove(out, id)
	if err != nil || !removed {
		return nil, nil, fmt.Errorf("Remove after Insert: removed=%v err=%v", removed, err)
	}
	if !bytes.Equal(back, doc) {
		return nil, nil, fmt.Errorf("Remove(Insert(x)) != x:\n got %q\nwant %q", back, doc)
	}
	return out, nil, nil
}

var (
	expandedTag = regexp.MustCompile(`^(\r?\n[ \t]*| )$`)
)

// onlyInserted checks, without the package's scanner, that out is in plus one include
// element (alone or after a line break and indentation), or in with one "<inbound ... />"
// expanded around it: every other byte of in is unchanged.
func onlyInserted(in, out []byte, id string) error {
	el := element(id)
	for i := 0; ; {
		k := bytes.Index(out[i:], el)
		if k < 0 {
			break
		}
		at := i + k
		i = at + 1
		end := at + len(el)
		// Inserted: the element, maybe with a line break and indentation before it.
		a := at
		for a > 0 && (out[a-1] == ' ' || out[a-1] == '\t') {
			a--
		}
		if a > 0 && out[a-1] == '\n' {
			a--
			if a > 0 && out[a-1] == '\r' {
				a--
			}
		} else {
			a = at
		}
		if bytes.Equal(cat(out[:at], out[end:]), in) || bytes.Equal(cat(out[:a], out[end:]), in) {
			return nil
		}
		// Expanded: "<inbound ...>" ws el ws "</inbound>" from "<inbound .../>".
		a = at
		for a > 0 && isSpace(out[a-1]) {
			a--
		}
		z := end
		for z < len(out) && isSpace(out[z]) {
			z++
		}
		if a > 0 && out[a-1] == '>' && expandedTag.Match(out[a:at]) && expandedTag.Match(out[end:z]) &&
			bytes.HasPrefix(out[z:], []byte("</inbound>")) {
			if bytes.Equal(cat(out[:a-1], []byte("/>"), out[z+len("</inbound>"):]), in) {
				return nil
			}
		}
	}
	return fmt.Errorf("output is not the input plus one include:\n  in %q\n out %q", in, out)
}

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}
