// Package backendtest is the contract suite every enforce.Backend runs: the file
// backend (WAF JSON and APIM XML files), the ARM WAF backends (Application Gateway,
// Front Door) and the APIM policy and fragment backends, each from its own package's
// tests against its own store. It checks what the converge loop relies on (see
// enforce.Backend and converge.go): read with an ETag, write with If-Match, a 412 on a
// stale ETag that keeps the other writer's change, the declared rule for an absent
// document, a 429 with the service's Retry-After, a read-back that shows a lost write,
// and prompt cancellation.
//
// A harness that cannot produce a fault says why (Harness.NoThrottle, NoDiscard) and
// that case is skipped with the reason; a missing hook without a reason fails.
package backendtest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/apiguard/apiguard/shared/enforce"
	"github.com/apiguard/apiguard/shared/fault"
)

// Absence is a backend's rule for a document that does not exist.
type Absence int

const (
	// Creates: Get reads an absent document with an empty ETag and no error, and Put
	// with etag "" creates it, only while it is still absent (else ErrPrecondition).
	Creates Absence = iota + 1
	// Refuses: the document must exist. Get of an absent one is rejected, and Put with
	// etag "" is rejected without creating anything (apiguard never creates WAF
	// policies).
	Refuses
)

// Harness is what one implementation supplies.
type Harness struct {
	// Present returns a subject whose document exists.
	Present func(t *testing.T) Subject
	// Absent returns a subject whose document does not exist.
	Absent func(t *testing.T) Subject
	// Absence is the backend's rule for an absent document.
	Absence Absence
	// Fresh is a valid document to create an absent one with.
	Fresh []byte
	// Format edits and compares the backend's documents.
	Format Format
	// NoThrottle and NoDiscard say why the backend has no such fault; the case is then
	// skipped with that reason. Empty: every present subject supplies the hook.
	NoThrottle, NoDiscard string
}

// Subject is one backend over one document, and the store behind it.
type Subject struct {
	Backend enforce.Backend
	// Stored reads the document behind the backend's back; nil when absent.
	Stored func() []byte
	// Change stores doc behind the backend's back, with a new ETag, as a concurrent
	// writer does (the portal, an IaC redeploy).
	Change func(doc []byte)
	// Throttle makes the next write answer 429 with Retry-After retryAfter.
	Throttle func(retryAfter time.Duration)
	// Discard makes the next write be acknowledged and not stored.
	Discard func()
}

// Run runs the contract against h. Cases run in parallel, each on its own subject.
func Run(t *testing.T, h Harness) {
	if h.Present == nil || h.Absent == nil || h.Fresh == nil || h.Format.Edit == nil || h.Format.Same == nil ||
		(h.Absence != Creates && h.Absence != Refuses) {
		t.Fatal("backendtest: the harness lacks Present, Absent, Absence, Fresh or Format")
	}
	for _, c := range []struct {
		name string
		run  func(t *testing.T, h Harness)
	}{
		{"get returns the document and a stable ETag", getStable},
		{"put with the current ETag stores the document", putCurrent},
		{"put with a stale ETag keeps the concurrent change", putStale},
		{"put without an ETag never overwrites a present document", putBlindOverPresent},
		{"absent document", absent},
		{"throttled write", throttled},
		{"lost write shows on read-back", lostWrite},
		{"cancelled context", cancelled},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, h)
		})
	}
}

func getStable(t *testing.T, h Harness) {
	s := h.Present(t)
	first := get(t, s)
	if first.ETag == "" {
		t.Fatal("Get of a present document returned no ETag")
	}
	same(t, h, "Get", first.Doc, s.Stored())
	again := get(t, s)
	if again.ETag != first.ETag {
		t.Fatalf("two Gets without a write: ETag %q then %q", first.ETag, again.ETag)
	}
	same(t, h, "second Get", again.Doc, first.Doc)
}

func putCurrent(t *testing.T, h Harness) {
	s := h.Present(t)
	cur := get(t, s)
	next := edit(t, h, cur.Doc, "ours")
	etag, err := s.Backend.Put(t.Context(), next, cur.ETag)
	if err != nil {
		t.Fatalf("Put with the current ETag: %v", err)
	}
	if etag == "" || etag == cur.ETag {
		t.Fatalf("Put returned ETag %q (before: %q): want a new one", etag, cur.ETag)
	}
	live := get(t, s)
	if live.ETag != etag {
		t.Fatalf("Get after Put: ETag %q, Put returned %q", live.ETag, etag)
	}
	same(t, h, "Get after Put", live.Doc, next)
	same(t, h, "stored after Put", s.Stored(), next)
}

func putStale(t *testing.T, h Harness) {
	s := h.Present(t)
	ctx := t.Context()
	cur := get(t, s)
	theirs := edit(t, h, s.Stored(), "theirs")
	s.Change(theirs)
	_, err := s.Backend.Put(ctx, edit(t, h, cur.Doc, "ours"), cur.ETag)
	if !errors.Is(err, enforce.ErrPrecondition) {
		t.Fatalf("Put with a stale ETag: want an error wrapping ErrPrecondition, got %v", err)
	}
	same(t, h, "stored after the refused Put", s.Stored(), theirs)

	// What the converge loop does next: read again and write on top of theirs.
	again := get(t, s)
	same(t, h, "Get after the refused Put", again.Doc, theirs)
	if again.ETag == cur.ETag {
		t.Fatalf("the concurrent change kept the ETag %q", cur.ETag)
	}
	both := edit(t, h, again.Doc, "ours")
	if _, err := s.Backend.Put(ctx, both, again.ETag); err != nil {
		t.Fatalf("Put after a fresh read: %v", err)
	}
	same(t, h, "stored after the fresh read-modify-write", s.Stored(), edit(t, h, theirs, "ours"))
}

func putBlindOverPresent(t *testing.T, h Harness) {
	s := h.Present(t)
	before := s.Stored()
	_, err := s.Backend.Put(t.Context(), edit(t, h, before, "blind"), "")
	switch h.Absence {
	case Creates:
		if !errors.Is(err, enforce.ErrPrecondition) {
			t.Fatalf("Put with etag \"\" over a present document: want ErrPrecondition, got %v", err)
		}
	case Refuses:
		refused(t, "Put with etag \"\"", err)
	}
	same(t, h, "stored after Put with etag \"\"", s.Stored(), before)
}

func absent(t *testing.T, h Harness) {
	s := h.Absent(t)
	ctx := t.Context()
	// An ETag for a document that is gone (deleted since it was read) never recreates it.
	if _, err := s.Backend.Put(ctx, h.Fresh, `"gone"`); err == nil ||
		(h.Absence == Creates && !errors.Is(err, enforce.ErrPrecondition)) {
		t.Fatalf("Put with an ETag of an absent document: want ErrPrecondition or a rejection, got %v", err)
	}
	if doc := s.Stored(); doc != nil {
		t.Fatalf("Put with an ETag of an absent document stored %q", doc)
	}
	if h.Absence == Refuses {
		_, err := s.Backend.Get(ctx)
		refused(t, "Get of an absent document", err)
		_, err = s.Backend.Put(ctx, h.Fresh, "")
		refused(t, "Put with etag \"\" of an absent document", err)
		if doc := s.Stored(); doc != nil {
			t.Fatalf("a refused create stored %q", doc)
		}
		_, err = s.Backend.Get(ctx)
		refused(t, "Get after the refused create", err)
		return
	}

	p := get(t, s)
	if p.ETag != "" {
		t.Fatalf("Get of an absent document: ETag %q, want none", p.ETag)
	}
	if doc := s.Stored(); doc != nil {
		t.Fatalf("Get created the document: %q", doc)
	}
	etag, err := s.Backend.Put(ctx, h.Fresh, "")
	if err != nil {
		t.Fatalf("Put with etag \"\" of an absent document: %v", err)
	}
	live := get(t, s)
	if etag == "" || live.ETag != etag {
		t.Fatalf("create returned ETag %q, Get then reports %q", etag, live.ETag)
	}
	same(t, h, "Get after the create", live.Doc, h.Fresh)
	if _, err := s.Backend.Put(ctx, edit(t, h, h.Fresh, "again"), ""); !errors.Is(err, enforce.ErrPrecondition) {
		t.Fatalf("a second create: want ErrPrecondition, got %v", err)
	}
	same(t, h, "stored after the second create", s.Stored(), h.Fresh)

	// Someone else creates it between our read (absent) and our create.
	r := h.Absent(t)
	if p := get(t, r); p.ETag != "" {
		t.Fatalf("Get of an absent document: ETag %q", p.ETag)
	}
	theirs := edit(t, h, h.Fresh, "theirs")
	r.Change(theirs)
	if _, err := r.Backend.Put(ctx, h.Fresh, ""); !errors.Is(err, enforce.ErrPrecondition) {
		t.Fatalf("create over a concurrent create: want ErrPrecondition, got %v", err)
	}
	same(t, h, "stored after the refused create", r.Stored(), theirs)
}

func throttled(t *testing.T, h Harness) {
	s := withFault(t, h, "throttling", h.NoThrottle, func(s Subject) bool { return s.Throttle != nil })
	ctx := t.Context()
	cur := get(t, s)
	next := edit(t, h, cur.Doc, "ours")
	// Whole seconds (Retry-After) and not (Retry-After-Ms), each above what a test
	// could sleep unnoticed.
	for _, wait := range []time.Duration{7 * time.Second, 1500 * time.Millisecond} {
		s.Throttle(wait)
		start := time.Now()
		_, err := s.Backend.Put(ctx, next, cur.ETag)
		var th *enforce.ThrottledError
		if !errors.As(err, &th) {
			t.Fatalf("throttled Put: want *enforce.ThrottledError, got %v", err)
		}
		if th.RetryAfter != wait {
			t.Fatalf("RetryAfter %s, the service said %s", th.RetryAfter, wait)
		}
		if d := fault.Of(err); d != fault.Retry {
			t.Fatalf("throttling disposition %s, want retry", d)
		}
		if took := time.Since(start); took > wait/2 {
			t.Fatalf("Put took %s: the wait is the caller's, not the backend's", took)
		}
		same(t, h, "stored after the throttled Put", s.Stored(), cur.Doc)
	}
	if _, err := s.Backend.Put(ctx, next, cur.ETag); err != nil { // the caller, after waiting
		t.Fatalf("Put after the throttling: %v", err)
	}
	same(t, h, "stored after the throttling", s.Stored(), next)
}

func lostWrite(t *testing.T, h Harness) {
	s := withFault(t, h, "lost writes", h.NoDiscard, func(s Subject) bool { return s.Discard != nil })
	cur := get(t, s)
	next := edit(t, h, cur.Doc, "lost")
	s.Discard()
	if _, err := s.Backend.Put(t.Context(), next, cur.ETag); err != nil {
		t.Fatalf("a write the service acknowledges: %v", err)
	}
	live := get(t, s)
	if h.Format.Same(live.Doc, next) {
		t.Fatalf("the read-back shows the lost write: a Get must read the store, not what was put\n%s", live.Doc)
	}
	same(t, h, "Get after the lost write", live.Doc, cur.Doc)
}

func cancelled(t *testing.T, h Harness) {
	s := h.Present(t)
	cur := get(t, s)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	start := time.Now()
	if _, err := s.Backend.Get(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Get with a cancelled context: want an error wrapping context.Canceled, got %v", err)
	}
	if _, err := s.Backend.Put(ctx, edit(t, h, cur.Doc, "late"), cur.ETag); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put with a cancelled context: want an error wrapping context.Canceled, got %v", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("cancelled calls took %s", took)
	}
	same(t, h, "stored after a cancelled Put", s.Stored(), cur.Doc)
}

// withFault returns a present subject that can produce the fault named what, or
// skips with the harness's reason for having none. A subject without the hook from a
// harness that gives no reason fails: a case never passes without checking.
func withFault(t *testing.T, h Harness, what, reason string, hooked func(Subject) bool) Subject {
	t.Helper()
	if reason != "" {
		t.Skipf("no %s: %s", what, reason)
	}
	s := h.Present(t)
	if !hooked(s) {
		t.Fatalf("the subject has no hook for %s and the harness gives no reason for it", what)
	}
	return s
}

func get(t *testing.T, s Subject) enforce.Policy {
	t.Helper()
	p, err := s.Backend.Get(t.Context())
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	return p
}

func edit(t *testing.T, h Harness, doc []byte, mark string) []byte {
	t.Helper()
	out, err := h.Format.Edit(doc, mark)
	if err != nil {
		t.Fatalf("edit %q: %v\n%s", mark, err, doc)
	}
	if h.Format.Same(out, doc) {
		t.Fatalf("edit %q changed nothing\n%s", mark, doc)
	}
	return out
}

func same(t *testing.T, h Harness, what string, got, want []byte) {
	t.Helper()
	if !h.Format.Same(got, want) {
		t.Fatalf("%s: the document differs\n got: %s\nwant: %s", what, got, want)
	}
}

// refused checks err is a rejection: not retried, and not a precondition failure that
// would send the converge loop round again.
func refused(t *testing.T, what string, err error) {
	t.Helper()
	var fe *fault.Error
	if !errors.As(err, &fe) || fe.Disposition != fault.Reject || errors.Is(err, enforce.ErrPrecondition) {
		t.Fatalf("%s: want a rejection, got %v", what, err)
	}
}
