package include

import (
	"errors"
	"strings"
	"testing"
)

// TestLookahead: whether "@(" starts an expression is decided by balancing brackets and
// quotes ahead of it, so bytes added after <base /> can change how text before it reads.
// Here the verbatim string @" never closes, so "@(" is text and <base /> a tag; with the
// include added, its quotes close that string and \" escapes the next, the expression
// balances and swallows <base /> and the include. Insert must notice and refuse rather
// than return a document in which its include cannot be found (or removed) again.
func TestLookahead(t *testing.T) {
	doc := []byte(`<policies><inbound>@(@"<base /> \"")</inbound></policies>`)
	out, changed, err := Insert(doc, testID)
	if err == nil {
		n, cerr := Count(out, testID)
		back, _, rerr := Remove(out, testID)
		t.Fatalf("Insert accepted: changed=%v out=%q; Count=%d (%v); Remove=%q (%v)", changed, out, n, cerr, back, rerr)
	}
	if !errors.Is(err, ErrAmbiguous) || !errors.Is(err, ErrMalformed) || changed {
		t.Fatalf("got changed=%v err=%v, want an ErrAmbiguous refusal", changed, err)
	}
	t.Log(err)
}

// TestUnbalancedBounded: every "@(" that does not balance is read to the end of the
// document before it is taken as text, so thousands of them would make the scan
// quadratic. The scanner's budget for code turns that into a quick refusal.
func TestUnbalancedBounded(t *testing.T) {
	for _, body := range []string{
		strings.Repeat("@(", 100000),
		strings.Repeat(`<a v="@(" />`, 20000),
		strings.Repeat(`@{'`, 60000),
	} {
		doc := []byte("<policies><inbound>" + body + "</inbound></policies>")
		if _, _, err := Insert(doc, testID); !errors.Is(err, ErrMalformed) {
			t.Errorf("%.20q...: got %v, want ErrMalformed", body, err)
		}
	}
}
