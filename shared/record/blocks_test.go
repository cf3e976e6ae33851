package record

import (
	"errors"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/apiguard/apiguard/shared/fault"
)

// blockTargets are the kinds of target a block has, with the characters keys forbid.
var blockTargets = []struct{ kind, target string }{
	{"ip", "203.0.113.7"},
	{"cidr", "203.0.113.0/24"},
	{"ip", "2001:db8::1"},
	{"cidr", "2001:db8:abcd::/48"},
	{"subscription", "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.ApiManagement/service/apim/subscriptions/sub-1"},
	{"user", `user:CONTOSO\alice#1?x=%41'`},
}

func TestBlockRoundTrip(t *testing.T) {
	s := newStore(t)
	ctx := testContext(t)
	now := time.Date(2026, 11, 23, 12, 0, 0, 123456789, time.UTC)
	for i, bt := range blockTargets {
		want := Block{
			Action: "block_waf", TargetKind: bt.kind, Target: bt.target, Reason: "suspicious", Severity: "High",
			SourceIncident: "inc-1", SourceFinding: "f-1", Created: now, Updated: now, Expires: now.Add(time.Hour),
			Mode: "enforce", Offences: i + 1, Forwarded: i%2 == 1,
		}
		stored, wrote, err := s.MergeBlock(ctx, want.Action, want.Target, func(cur *Block) (*Block, error) {
			if cur != nil {
				t.Errorf("%s: block exists before the first write", bt.target)
			}
			b := want
			return &b, nil
		})
		if err != nil || !wrote || stored.ETag == "" {
			t.Fatalf("MergeBlock(%s) = %v, %v, etag %q", bt.target, wrote, err, stored.ETag)
		}
		got, found, err := s.GetBlock(ctx, want.Action, want.Target)
		if err != nil || !found {
			t.Fatalf("GetBlock(%s) = %v, %v", bt.target, found, err)
		}
		if got != stored {
			t.Errorf("read differs from what MergeBlock returned:\n read %+v\nmerge %+v", got, stored)
		}
		want.Created, want.Updated, want.Expires, want.ETag = edmTime(now), edmTime(now), edmTime(now.Add(time.Hour)), got.ETag
		if got != want {
			t.Errorf("block:\n got %+v\nwant %+v", got, want)
		}
	}
	list, err := s.ListBlocks(ctx, "block_waf")
	if err != nil || len(list) != len(blockTargets) {
		t.Fatalf("ListBlocks: %d, %v", len(list), err)
	}
	var targets []string
	for _, b := range list {
		targets = append(targets, b.Target)
	}
	sort.Strings(targets)
	for _, bt := range blockTargets {
		if i := sort.SearchStrings(targets, bt.target); i == len(targets) || targets[i] != bt.target {
			t.Errorf("ListBlocks lacks %q: %q", bt.target, targets)
		}
	}
	if other, _ := s.ListBlocks(ctx, "block_apim"); len(other) != 0 {
		t.Errorf("another action's partition holds %d blocks", len(other))
	}
	if _, found, err := s.GetBlock(ctx, "block_waf", "198.51.100.1"); found || err != nil {
		t.Errorf("missing block: %v, %v", found, err)
	}
}

func TestMergeBlockNoChangeAndFnError(t *testing.T) {
	s := newStore(t)
	ctx := testContext(t)
	b, wrote, err := s.MergeBlock(ctx, "throttle", "203.0.113.9", func(*Block) (*Block, error) { return nil, nil })
	if err != nil || wrote || b != (Block{}) {
		t.Fatalf("no change on absent block = %+v, %v, %v", b, wrote, err)
	}
	first, _, err := s.MergeBlock(ctx, "throttle", "203.0.113.9", func(*Block) (*Block, error) {
		return &Block{Offences: 1, Target: "ignored", Action: "ignored"}, nil
	})
	if err != nil || first.Target != "203.0.113.9" || first.Action != "throttle" {
		t.Fatalf("first write = %+v, %v", first, err)
	}
	same, wrote, err := s.MergeBlock(ctx, "throttle", "203.0.113.9", func(*Block) (*Block, error) { return nil, nil })
	if err != nil || wrote || same != first {
		t.Fatalf("no change = %+v, %v, %v; want %+v", same, wrote, err, first)
	}
	boom := errors.New("boom")
	if _, _, err := s.MergeBlock(ctx, "throttle", "203.0.113.9", func(*Block) (*Block, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("fn error = %v", err)
	}
}

// TestMergeBlockConcurrent proves the ETag conditions: 20 writers each add one
// offence to the same block; without If-Match some increments would be lost.
func TestMergeBlockConcurrent(t *testing.T) {
	s := newStore(t)
	ctx := testContext(t)
	const writers = 20
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		calls int
		errs  = make(chan error, writers)
	)
	for range writers {
		wg.Go(func() {
			_, wrote, err := s.MergeBlock(ctx, "block_waf", "203.0.113.0/24", func(cur *Block) (*Block, error) {
				mu.Lock()
				calls++
				mu.Unlock()
				next := Block{TargetKind: "cidr", Offences: 1}
				if cur != nil {
					next = *cur
					next.Offences++
				}
				return &next, nil
			})
			if err == nil && !wrote {
				err = errors.New("no write")
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("MergeBlock: %v", err)
		}
	}
	b, _, err := s.GetBlock(ctx, "block_waf", "203.0.113.0/24")
	if err != nil {
		t.Fatal(err)
	}
	if b.Offences != writers {
		t.Fatalf("Offences = %d, want %d: an update was lost", b.Offences, writers)
	}
	t.Logf("%d writers, %d calls of fn (%d lost races retried)", writers, calls, calls-writers)
}

func TestMergeBlockGivesUpWithConflict(t *testing.T) {
	s := newStore(t)
	s.conflicts = backoff{attempts: 3, base: time.Millisecond, max: time.Millisecond}
	ctx := testContext(t)
	if _, _, err := s.MergeBlock(ctx, "block_waf", "203.0.113.1", func(*Block) (*Block, error) { return &Block{}, nil }); err != nil {
		t.Fatal(err)
	}
	// fn changes the block behind MergeBlock's back every time: every write loses.
	_, _, err := s.MergeBlock(ctx, "block_waf", "203.0.113.1", func(cur *Block) (*Block, error) {
		if _, _, err := s.MergeBlock(ctx, "block_waf", "203.0.113.1", func(c *Block) (*Block, error) {
			c.Offences++
			return c, nil
		}); err != nil {
			return nil, err
		}
		cur.Reason = "mine"
		return cur, nil
	})
	if !errors.Is(err, ErrConflict) || fault.Of(err) != fault.Retry {
		t.Fatalf("want a transient ErrConflict, got %v", err)
	}
	b, _, _ := s.GetBlock(ctx, "block_waf", "203.0.113.1")
	if b.Offences != 3 || b.Reason != "" {
		t.Fatalf("block = %+v, want 3 offences and no reason", b)
	}
}

func TestDeleteBlock(t *testing.T) {
	s := newStore(t)
	ctx := testContext(t)
	set := func(n int) Block {
		b, _, err := s.MergeBlock(ctx, "block_apim", "sub/1", func(*Block) (*Block, error) { return &Block{Offences: n}, nil })
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	stale := set(1)
	fresh := set(2)
	if stale.ETag == fresh.ETag {
		t.Fatal("ETag did not change on update")
	}
	if err := s.DeleteBlock(ctx, stale); !errors.Is(err, ErrConflict) {
		t.Fatalf("delete with a stale ETag = %v, want ErrConflict", err)
	}
	if _, found, _ := s.GetBlock(ctx, "block_apim", "sub/1"); !found {
		t.Fatal("stale delete removed the block")
	}
	if err := s.DeleteBlock(ctx, fresh); err != nil {
		t.Fatalf("delete = %v", err)
	}
	if _, found, _ := s.GetBlock(ctx, "block_apim", "sub/1"); found {
		t.Fatal("block still there")
	}
	if err := s.DeleteBlock(ctx, fresh); err != nil {
		t.Fatalf("delete of a deleted block = %v, want nil", err)
	}
	noETag := fresh
	noETag.ETag = ""
	if err := s.DeleteBlock(ctx, noETag); fault.Of(err) != fault.Reject {
		t.Fatalf("delete without ETag = %v, want a rejection", err)
	}
}

func TestListExpiredBlocks(t *testing.T) {
	s := newStore(t)
	ctx := testContext(t)
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	expiries := map[string]time.Time{
		"past":        now.Add(-time.Hour),
		"exactly-now": now,
		"tick-after":  now.Add(edmTick), // Azurite's own filter would include this one
		"ms-after":    now.Add(time.Millisecond),
		"future":      now.Add(time.Hour),
		"never":       {},
		"long-ago":    time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	for target, exp := range expiries {
		if _, _, err := s.MergeBlock(ctx, "block_waf", target, func(*Block) (*Block, error) { return &Block{Expires: exp}, nil }); err != nil {
			t.Fatal(err)
		}
	}
	// Same expiry in another action: not in this partition's answer.
	if _, _, err := s.MergeBlock(ctx, "throttle", "past", func(*Block) (*Block, error) { return &Block{Expires: now.Add(-time.Hour)}, nil }); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListExpiredBlocks(ctx, "block_waf", now)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range got {
		if b.ETag == "" {
			t.Errorf("%s has no ETag", b.Target)
		}
		names = append(names, b.Target)
	}
	sort.Strings(names)
	want := []string{"exactly-now", "long-ago", "past"}
	if len(names) != len(want) || names[0] != want[0] || names[1] != want[1] || names[2] != want[2] {
		t.Fatalf("expired = %q, want %q", names, want)
	}
	// The ETags from the listing delete.
	for _, b := range got {
		if err := s.DeleteBlock(ctx, b); err != nil {
			t.Fatalf("delete expired %s: %v", b.Target, err)
		}
	}
	// A zone-shifted now means the same instant.
	got, err = s.ListExpiredBlocks(ctx, "block_waf", now.Add(edmTick).In(time.FixedZone("X", 7*3600)))
	if err != nil || len(got) != 1 || got[0].Target != "tick-after" {
		t.Fatalf("expired one tick later = %+v, %v", got, err)
	}
}
