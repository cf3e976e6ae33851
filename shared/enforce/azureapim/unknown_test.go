package azureapim_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/apiguard/apiguard/shared/enforce/azureapim"
	"github.com/apiguard/apiguard/shared/enforce/azureapim/apimfake"
)

// A policy carrying what apiguard has never heard of (policies newer than its SDK, an
// XML declaration, comments, CDATA, a processing instruction, entities, single-quoted
// attributes with odd spacing, CRLF lines among LF ones, non-ASCII) is read and
// written byte for byte at every scope: the SDK models the policy's content as one
// string, so nothing of it goes through a typed model. The same holds for the
// fragment.
func TestUnknownPolicyContentKept(t *testing.T) {
	future := testdata(t, "future-policy.xml")
	eachScope(t, func(t *testing.T, sc azureapim.Scope) {
		svc := apimServed(t, sc, future)
		b := policyBackend(t, svc, sc)
		ctx := context.Background()

		cur, err := b.Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(cur.Doc, future) {
			t.Fatalf("read:\n%q\nwant\n%q", cur.Doc, future)
		}
		edited := withInclude(t, cur.Doc)
		etag, err := b.Put(ctx, edited, cur.ETag)
		if err != nil {
			t.Fatal(err)
		}
		if stored, _, _ := svc.Policy(sc); !bytes.Equal(stored, edited) {
			t.Fatalf("stored after the edit:\n%q\nwant\n%q", stored, edited)
		}
		back, err := b.Get(ctx)
		if err != nil || !bytes.Equal(back.Doc, edited) {
			t.Fatalf("read back (%v):\n%q", err, back.Doc)
		}
		if _, err := b.Put(ctx, future, etag); err != nil {
			t.Fatal(err)
		}
		if stored, _, _ := svc.Policy(sc); !bytes.Equal(stored, future) {
			t.Fatalf("stored after the undo:\n%q\nwant the original", stored)
		}
	})

	t.Run("fragment", func(t *testing.T) {
		t.Parallel()
		svc := apimServed(t, scopes[0].scope, future)
		b := fragmentBackend(t, svc)
		frag := bytes.ReplaceAll(future, []byte("<policies>"), []byte("<fragment>"))
		frag = bytes.ReplaceAll(frag, []byte("</policies>"), []byte("</fragment>"))
		if _, err := b.Put(context.Background(), frag, ""); err != nil {
			t.Fatal(err)
		}
		if stored, _, _ := svc.Fragment(fragmentID); !bytes.Equal(stored, frag) {
			t.Fatalf("stored fragment:\n%q\nwant\n%q", stored, frag)
		}
		got, err := b.Get(context.Background())
		if err != nil || !bytes.Equal(got.Doc, frag) {
			t.Fatalf("read fragment (%v):\n%q", err, got.Doc)
		}
	})
}

// apimServed is a fake service with doc as the policy at sc.
func apimServed(t *testing.T, sc azureapim.Scope, doc []byte) *apimfake.Service {
	t.Helper()
	svc := apimfake.New(service)
	svc.SetPolicy(sc, doc)
	return svc
}
