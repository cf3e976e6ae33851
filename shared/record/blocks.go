package record

import (
	"context"
	"fmt"
	"time"
)

// blockKeys: the action (block_waf, block_apim, throttle) is the partition, so a
// reconciler reads exactly its own blocks with one partition query; the escaped
// target is the row, so a target has one block per action.
func blockKeys(action, target string) (string, string, error) {
	pk, rk := escapeKey(action), escapeKey(target)
	if err := checkKey("block action", pk); err != nil {
		return "", "", err
	}
	if err := checkKey("block target", rk); err != nil {
		return "", "", err
	}
	return pk, rk, nil
}

// GetBlock reads one block with its ETag; found is false when there is none.
func (s *Store) GetBlock(ctx context.Context, action, target string) (Block, bool, error) {
	return getBlock(ctx, s.blocks, action, target)
}

func getBlock(ctx context.Context, t rowTable, action, target string) (Block, bool, error) {
	pk, rk, err := blockKeys(action, target)
	if err != nil {
		return Block{}, false, err
	}
	e, found, err := t.get(ctx, pk, rk)
	if err != nil || !found {
		return Block{}, false, err
	}
	return blockFrom(e), true, nil
}

// MergeBlock is a read-modify-write of one block under optimistic concurrency.
// It reads the block (cur is nil when absent), calls fn, and writes fn's result
// conditionally: If-Match the ETag read, or insert-only when there was none. On
// 412 or 409 another writer got there first, so it re-reads and calls fn again,
// with jittered backoff, up to a bounded number of attempts; then it returns an
// error wrapping ErrConflict (marked transient).
//
// fn may therefore run several times and must only compute from cur. It
// returns nil, nil for "no change" (MergeBlock then returns the current block
// and false); an error from fn is returned as is. Action and Target of the
// result are forced to the arguments: a merge cannot move a block.
// The returned block is the one stored, as a later read returns it, with its new ETag.
func (s *Store) MergeBlock(ctx context.Context, action, target string, fn func(cur *Block) (*Block, error)) (Block, bool, error) {
	return mergeBlock(ctx, s.blocks, s.conflicts, action, target, fn)
}

func mergeBlock(ctx context.Context, t rowTable, conflicts backoff, action, target string, fn func(cur *Block) (*Block, error)) (Block, bool, error) {
	pk, rk, err := blockKeys(action, target)
	if err != nil {
		return Block{}, false, err
	}
	row := func(pk, rk string, b Block) *entity {
		b.Action, b.Target = action, target
		return blockEntity(pk, rk, b)
	}
	return mergeRow(ctx, t, conflicts, fmt.Sprintf("merge block %s %s", action, target), pk, rk, blockFrom, row, fn)
}

// ListBlocks returns every block of one action, in RowKey order: the
// reconciler's desired state.
func (s *Store) ListBlocks(ctx context.Context, action string) ([]Block, error) {
	return listBlocks(ctx, s.blocks, action)
}

func listBlocks(ctx context.Context, t rowTable, action string) ([]Block, error) {
	pk, err := actionPartition(action)
	if err != nil {
		return nil, err
	}
	var l blockList
	err = t.scan(ctx, partition(pk), "", l.add)
	return l, err
}

// ListExpiredBlocks returns the blocks of one action with Expires <= now, with
// the ETags DeleteBlock needs. Blocks without an expiry never match. The service
// filters on the typed Edm.DateTime property within the one partition; the
// bound is checked again here because Azurite compares datetimes at millisecond
// precision (it would return a block expiring 100 ns after now) while Azure
// compares 100 ns ticks.
func (s *Store) ListExpiredBlocks(ctx context.Context, action string, now time.Time) ([]Block, error) {
	pk, err := actionPartition(action)
	if err != nil {
		return nil, err
	}
	bound := edmTime(now)
	var l blockList
	if err := s.blocks.query(ctx, partition(pk).filter()+" and Expires le "+odataTime(bound), "", l.add); err != nil {
		return nil, err
	}
	return expiredBy(l, bound), nil
}

// actionPartition is the partition of an action's blocks.
func actionPartition(action string) (string, error) {
	pk := escapeKey(action)
	return pk, checkKey("block action", pk)
}

// expiredBy keeps the blocks with an expiry at or before bound, in place.
func expiredBy(blocks []Block, bound time.Time) []Block {
	expired := blocks[:0]
	for _, b := range blocks {
		if !b.Expires.IsZero() && !b.Expires.After(bound) {
			expired = append(expired, b)
		}
	}
	return expired
}

// blockList collects blocks in the order their rows are read.
type blockList []Block

func (l *blockList) add(e *entity) error {
	*l = append(*l, blockFrom(e))
	return nil
}

// DeleteBlock deletes b If-Match b.ETag, so a block extended since it was read
// is not removed: that returns ErrConflict. A block already gone is success.
func (s *Store) DeleteBlock(ctx context.Context, b Block) error {
	return deleteBlock(ctx, s.blocks, b)
}

func deleteBlock(ctx context.Context, t rowTable, b Block) error {
	pk, rk, err := deleteKeys(b)
	if err != nil {
		return err
	}
	_, err = t.deleteIf(ctx, pk, rk, b.ETag)
	return err
}

// deleteKeys are the keys of a block to delete, which must carry the ETag it was read with.
func deleteKeys(b Block) (string, string, error) {
	pk, rk, err := blockKeys(b.Action, b.Target)
	if err != nil {
		return "", "", err
	}
	if b.ETag == "" {
		return "", "", rejectf("delete block %s %s: no ETag; read the block first", b.Action, b.Target)
	}
	return pk, rk, nil
}

func blockEntity(pk, rk string, b Block) *entity {
	e := newEntity(pk, rk)
	e.setString("Action", b.Action)
	e.setString("Target", b.Target)
	e.setString("TargetKind", b.TargetKind)
	e.setString("Reason", b.Reason)
	e.setString("Severity", b.Severity)
	e.setString("SourceIncident", b.SourceIncident)
	e.setString("SourceFinding", b.SourceFinding)
	e.setTime("Created", b.Created)
	e.setTime("Updated", b.Updated)
	e.setTime("Expires", b.Expires)
	e.setString("Mode", b.Mode)
	e.setInt("Offences", int64(b.Offences))
	e.setBool("Forwarded", b.Forwarded)
	return e
}

func blockFrom(e *entity) Block {
	return Block{
		Action:         unescapeKey(e.pk),
		Target:         unescapeKey(e.rk),
		TargetKind:     e.str("TargetKind"),
		Reason:         e.str("Reason"),
		Severity:       e.str("Severity"),
		SourceIncident: e.str("SourceIncident"),
		SourceFinding:  e.str("SourceFinding"),
		Created:        e.time("Created"),
		Updated:        e.time("Updated"),
		Expires:        e.time("Expires"),
		Mode:           e.str("Mode"),
		Offences:       int(e.int("Offences")),
		Forwarded:      e.boolean("Forwarded"),
		ETag:           e.etag,
	}
}
