package record

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/apiguard/apiguard/shared/detect"
	"github.com/apiguard/apiguard/shared/fault"
	"github.com/apiguard/apiguard/shared/vocab"
)

// Detector state layout (see README.md, "Detector state").
const (
	// detectShards spreads each key type over this many partitions: a batch's writes
	// group into few transactions, and no partition takes the whole load (about 2,000
	// entities/s per partition on Azure).
	detectShards = 8
	// detectReadChunk is how many rows one read query asks for (RowKey eq ... or ...):
	// long filters fail with 431 on Azurite and cost more to parse on Azure.
	detectReadChunk = 16
	// detectTxBytes keeps a transaction under Table Storage's 4 MiB request limit.
	detectTxBytes = 3 * 1024 * 1024
	// detectParallel bounds concurrent requests of one Update.
	detectParallel = 16
	// stateProp holds the state (MarshalBinary, base64); chunked by putPayload when large.
	stateProp = "S"
)

// DetectStates keeps the detectors' per-key state in Table Storage, so counts add up
// across batches and function instances. It implements detect.Store. It caches what it
// last read or wrote per key with the row's ETag (DetectOptions.CacheBytes), so a batch
// reads only the keys it does not hold; keep one per process. Safe for concurrent use.
type DetectStates struct {
	t         *table
	conflicts backoff
	cache     *stateCache // nil: no cache
	// locks serialize this instance's updates of a partition (a channel per partition
	// key, at most 8 per key type): concurrent invocations take the partition in turn,
	// each on the ETags the previous one wrote, instead of failing each other's
	// transactions. The ETag conditions still arbitrate between instances.
	locks sync.Map
	stats detectCounters
}

var _ detect.Store = (*DetectStates)(nil)

// DetectOptions tune a DetectStates; the zero value is the default.
type DetectOptions struct {
	// CacheBytes bounds the states kept between batches (least recently used out
	// first). 0 is DefaultDetectCacheBytes; a negative value keeps none, so every
	// Update reads every key it touches.
	CacheBytes int
}

// DetectStates returns the detector state store with the default options.
func (s *Store) DetectStates() *DetectStates {
	return s.DetectStatesWith(DetectOptions{})
}

// DetectStatesWith returns the detector state store with opts.
func (s *Store) DetectStatesWith(opts DetectOptions) *DetectStates {
	d := &DetectStates{t: s.detect, conflicts: s.conflicts}
	switch {
	case opts.CacheBytes == 0:
		d.cache = newStateCache(DefaultDetectCacheBytes)
	case opts.CacheBytes > 0:
		d.cache = newStateCache(opts.CacheBytes)
	}
	return d
}

// detectKeys: the partition is the key type and a hash shard of the key; the row the
// escaped key, or its hash when the key is too long for a RowKey (operation keys built
// from long templates).
func detectKeys(k detect.Key) (string, string) {
	pk := fmt.Sprintf("%s-%02x", escapeKey(string(k.Type)), fnv32(k.Value)%detectShards)
	rk := escapeKey(k.Value)
	if rk == "" || len(rk) > 400 {
		sum := sha256.Sum256([]byte(k.Value))
		rk = "h-" + hex.EncodeToString(sum[:])
	}
	return pk, rk
}

// detectRow is one key of an Update.
type detectRow struct {
	key    detect.Key
	pk, rk string
	bin    []byte // the state as stored: read, or cached (never modified); nil when absent or unreadable
	etag   string // "" when the row does not exist, as far as we know
	fresh  bool   // bin and etag were read by this Update
	stale  bool   // read the row before the next attempt
	hot    uint8  // see hotSpan
	probe  bool   // cached and not hot: tell the cache whether it was current (cacheTrust)
	// known is the ETag we believed the row had before a read (cached, or the one a
	// lost transaction was conditioned on); a read that finds another means another
	// writer changed the row.
	known    string
	hasKnown bool
	state    *detect.State // fn's result, returned to the caller
	next     []byte        // state's encoding, to write
}

// Update reads the states of keys it does not hold, applies fn to each and writes them
// back, partition by partition (16 at a time):
//
//   - A key held in the cache is not read: fn runs on a copy of the cached state and
//     the row is written If-Match the cached ETag. A key not held, or one another
//     writer was recently found changing (hot), is read first: one query per 16 keys.
//     New rows are inserted insert-only.
//   - Rows go in transactions of at most 100 rows; hot rows in transactions of their
//     own, so that a row other instances keep changing does not fail the others.
//   - A transaction that loses a race (412 changed, 409 inserted, 404 deleted
//     meanwhile) fails whole: its rows are read again and fn runs again on the fresh
//     state, after a jittered backoff; after 16 lost transactions in one partition the
//     Update gives up with a transient error wrapping ErrConflict, so the batch is
//     redelivered later.
//   - A state fn leaves unchanged is not written. If it came from the cache it is read
//     and fn runs again, so that what is returned is the row as stored, not a cached
//     copy another instance has since moved on from.
//
// fn must depend only on its inputs (detect.State.Apply is idempotent per batch). The
// result is the same as reading every key: a write If-Match an ETag succeeds only on
// the very state that ETag was cached with. Stats counts the round trips and races.
func (d *DetectStates) Update(ctx context.Context, keys []detect.Key, fn func(k detect.Key, s *detect.State)) (map[detect.Key]*detect.State, error) {
	out := make(map[detect.Key]*detect.State, len(keys))
	parts := map[string][]*detectRow{}
	seen := make(map[detect.Key]bool, len(keys))
	for _, k := range keys {
		if seen[k] {
			continue
		}
		seen[k] = true
		pk, rk := detectKeys(k)
		if err := checkKey("detector key", rk); err != nil {
			return nil, err
		}
		parts[pk] = append(parts[pk], &detectRow{key: k, pk: pk, rk: rk})
	}
	if err := d.t.ensure(ctx); err != nil {
		return nil, err
	}
	var (
		mu    sync.Mutex
		tally updateTally
	)
	err := eachParallel(ctx, slices.Sorted(maps.Keys(parts)), func(pk string) error {
		var t updateTally
		err := d.updatePartition(ctx, pk, parts[pk], fn, &t)
		mu.Lock()
		defer mu.Unlock()
		tally.add(&t)
		if err == nil {
			for _, r := range parts[pk] {
				out[r.key] = r.state
			}
		}
		return err
	})
	tally.keys = len(seen)
	d.stats.record(&tally)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// updatePartition runs Update's loop for the rows of one partition, holding the
// partition's lock of this instance.
func (d *DetectStates) updatePartition(ctx context.Context, pk string, rows []*detectRow, fn func(detect.Key, *detect.State), t *updateTally) error {
	release, err := d.lockPartition(ctx, pk)
	if err != nil {
		return err
	}
	defer release()
	trusted := d.cache.trusted()
	for _, r := range rows {
		c, ok := d.cache.get(r.key)
		if !ok {
			r.stale = true
			continue
		}
		r.bin, r.etag, r.hot, r.known, r.hasKnown = c.bin, c.etag, c.hot, c.etag, true
		r.probe = c.hot == 0
		r.stale = c.hot > 0 || !trusted
		if !r.stale {
			t.hits++
		}
	}
	pending := rows
	for lost := 0; len(pending) > 0; {
		if err := d.read(ctx, pk, pending, t); err != nil {
			return err
		}
		var again, hot, rest []*detectRow
		cachedRows := false
		for _, r := range pending {
			r.state = decodeState(r.bin)
			fn(r.key, r.state)
			b, err := r.state.MarshalBinary()
			if err != nil {
				return fmt.Errorf("record: encode detector state %s: %w", r.key.Value, err)
			}
			switch {
			case r.fresh && r.etag != "" && bytes.Equal(b, r.bin):
				// Unchanged (a redelivered batch): no write, no conflict.
				d.cache.put(r.key, cached{bin: r.bin, etag: r.etag, hot: r.hot})
			case r.fresh && r.etag == "" && r.state.Empty():
				// Absent and still empty: nothing to keep.
			case !r.fresh && bytes.Equal(b, r.bin):
				// Unchanged from the cache, whose copy may be behind the row: read it.
				r.stale = true
				again = append(again, r)
			case r.hot > 0:
				r.next = b
				hot = append(hot, r)
			default:
				r.next = b
				rest = append(rest, r)
				cachedRows = cachedRows || !r.fresh
			}
		}
		if !cachedRows {
			// All read just now: one group, as few transactions as can be.
			rest, hot = append(rest, hot...), nil
		}
		var lostRows []*detectRow
		for _, group := range [][]*detectRow{hot, rest} {
			l, err := d.write(ctx, group, t)
			if err != nil {
				return err
			}
			lostRows = append(lostRows, l...)
		}
		if len(lostRows) > 0 {
			lost++
			if lost >= d.conflicts.attempts {
				t.gaveUp = true
				return exhausted("update detector state in partition "+pk, d.conflicts.attempts, ErrConflict)
			}
			if err := d.conflicts.wait(ctx, lost-1); err != nil {
				return err
			}
		}
		pending = append(again, lostRows...)
	}
	return nil
}

// lockPartition takes this instance's lock of partition pk, or fails transient when
// ctx ends first.
func (d *DetectStates) lockPartition(ctx context.Context, pk string) (func(), error) {
	v, _ := d.locks.LoadOrStore(pk, make(chan struct{}, 1))
	ch := v.(chan struct{})
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, fault.Transient(fmt.Errorf("record: detector state partition %s: %w", pk, ctx.Err()))
	}
}

// decodeState is a new state decoded from bin; an absent (nil) or unreadable row (a
// newer version, a hand edit) is an empty state, so that detection goes on and the
// row is overwritten.
func decodeState(bin []byte) *detect.State {
	s := new(detect.State)
	if bin != nil && s.UnmarshalBinary(bin) != nil {
		*s = detect.State{}
	}
	return s
}

// read reads the stale rows among rows, setting their state as stored and ETag; an
// absent row gets none. It finds the rows another writer changed since we knew them
// (hot for hotSpan more updates), and cools those found as we left them.
func (d *DetectStates) read(ctx context.Context, pk string, rows []*detectRow, t *updateTally) error {
	var stale []*detectRow
	byRK := map[string]*detectRow{}
	for _, r := range rows {
		if r.stale {
			r.bin, r.etag, r.fresh, r.stale = nil, "", true, false
			stale = append(stale, r)
			byRK[r.rk] = r
		}
	}
	for i := 0; i < len(stale); i += detectReadChunk {
		chunk := stale[i:min(i+detectReadChunk, len(stale))]
		var or []string
		for _, r := range chunk {
			or = append(or, "RowKey eq "+odataString(r.rk))
		}
		t.queries++
		t.rowsRead += len(chunk)
		filter := "PartitionKey eq " + odataString(pk) + " and (" + strings.Join(or, " or ") + ")"
		err := d.t.query(ctx, filter, "", func(e *entity) error {
			r := byRK[e.rk]
			if r == nil {
				return nil
			}
			raw, err := getPayload(e, stateProp)
			if err != nil {
				return fmt.Errorf("record: detector state %s/%s: %w", pk, e.rk, err)
			}
			if bin, err := base64.StdEncoding.DecodeString(string(raw)); err == nil {
				r.bin = bin
			}
			r.etag = e.etag
			return nil
		})
		if err != nil {
			return err
		}
	}
	for _, r := range stale {
		if r.probe {
			d.cache.observe(r.etag == r.known)
			r.probe = false
		}
		switch {
		case !r.hasKnown:
		case r.etag != r.known:
			r.hot = hotSpan
		case r.hot > 0:
			r.hot--
		}
		r.known, r.hasKnown = r.etag, true
	}
	return nil
}

// write commits rows in transactions of at most 100 rows and detectTxBytes: existing
// rows If-Match their ETag, new ones insert-only. Rows written are cached with their
// new ETag; it returns the rows of transactions that lost a race.
func (d *DetectStates) write(ctx context.Context, rows []*detectRow, t *updateTally) ([]*detectRow, error) {
	var (
		lost    []*detectRow
		actions []aztables.TransactionAction
		members []*detectRow
		size    int
	)
	flush := func() error {
		if len(actions) == 0 {
			return nil
		}
		t.transactions++
		var resp *http.Response
		_, err := d.t.client.SubmitTransaction(policy.WithCaptureResponse(ctx, &resp), actions, nil)
		if err != nil {
			status, _ := statusOf(err)
			if isEntityNotFound(err) {
				err = fmt.Errorf("%w: row deleted under us", ErrConflict)
			} else {
				err = d.t.check("write detector state to", err)
			}
			if !errors.Is(err, ErrConflict) {
				return err
			}
			t.lost(status)
			for _, r := range members {
				r.stale, r.known, r.hasKnown = true, r.etag, true
			}
			lost = append(lost, members...)
		} else {
			etags := transactionETags(resp, len(members))
			for i, r := range members {
				if etags == nil {
					d.cache.drop(r.key) // cannot happen with Azure or Azurite; read next time
					continue
				}
				if r.probe {
					d.cache.observe(true)
					r.probe = false
				}
				r.bin, r.etag, r.known = r.next, etags[i], etags[i]
				d.cache.put(r.key, cached{bin: r.bin, etag: r.etag, hot: r.hot})
			}
		}
		actions, members, size = nil, nil, 0
		return nil
	}
	for _, r := range rows {
		e := newEntity(r.pk, r.rk)
		e.setString("Type", string(r.key.Type))
		if strings.HasPrefix(r.rk, "h-") {
			e.setString("Key", r.key.Value)
		}
		if err := putPayload(e, stateProp, []byte(base64.StdEncoding.EncodeToString(r.next))); err != nil {
			return nil, err
		}
		body, err := e.marshal()
		if err != nil {
			return nil, err
		}
		a := aztables.TransactionAction{ActionType: aztables.TransactionTypeAdd, Entity: body}
		if r.etag != "" {
			etag := azcore.ETag(r.etag)
			a = aztables.TransactionAction{ActionType: aztables.TransactionTypeUpdateReplace, Entity: body, IfMatch: &etag}
		}
		if len(actions) == 100 || size+len(body) > detectTxBytes {
			if err := flush(); err != nil {
				return nil, err
			}
		}
		actions, members, size = append(actions, a), append(members, r), size+len(body)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return lost, nil
}

// eachParallel runs fn for each item with at most detectParallel at once and returns
// the first error.
func eachParallel(ctx context.Context, items []string, fn func(string) error) error {
	sem := make(chan struct{}, detectParallel)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for _, it := range items {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return ctx.Err()
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := fn(it); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}

// OperationLastSeen lists apiguard's own last-seen time (event time) of every API
// operation its traffic detectors have state for, keyed "api method template": what the
// triage reads to find operations no one calls any more. One partition-range query.
func (d *DetectStates) OperationLastSeen(ctx context.Context) (map[string]time.Time, error) {
	prefix := escapeKey(string(vocab.KeyOp)) + "-"
	filter := "PartitionKey ge " + odataString(prefix) + " and PartitionKey lt " + odataString(escapeKey(string(vocab.KeyOp))+".")
	out := map[string]time.Time{}
	err := d.t.query(ctx, filter, "", func(e *entity) error {
		key := unescapeKey(e.rk)
		if strings.HasPrefix(e.rk, "h-") {
			key = e.str("Key")
		}
		raw, err := getPayload(e, stateProp)
		if err != nil {
			return nil // unreadable: skipped, as Update restarts it
		}
		bin, err := base64.StdEncoding.DecodeString(string(raw))
		if err != nil {
			return nil
		}
		var s detect.State
		if s.UnmarshalBinary(bin) != nil || s.Empty() {
			return nil
		}
		out[key] = s.Last()
		return nil
	})
	return out, err
}
