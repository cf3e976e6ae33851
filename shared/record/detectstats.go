package record

import (
	"net/http"
	"sync"
)

// DetectStats counts what a DetectStates did since it was made: its Updates' round
// trips, cache hits and lost races, for a benchmark, a test or a metrics log. Take two
// readings and Sub them for an interval; divide by Updates for "per batch" (the engine
// makes one Update per batch).
type DetectStats struct {
	Updates      uint64 // Update calls, successful or not
	Keys         uint64 // distinct keys they asked for
	CacheHits    uint64 // keys written from the cache, with no read before their first attempt
	RowsRead     uint64 // row keys asked for by queries; a key read again after a lost race counts again
	Queries      uint64 // read queries: one per 16 rows of a partition
	Transactions uint64 // transactions submitted, won or lost
	Changed      uint64 // transactions lost to a row changed meanwhile: 412
	Inserted     uint64 // transactions lost to a row inserted meanwhile: 409
	Vanished     uint64 // transactions lost to a row deleted meanwhile: 404
	GaveUp       uint64 // Updates that gave up after the bound of lost races in a partition
	// MaxLost is the most transactions one Update lost (over all its partitions);
	// Sub keeps the later reading's.
	MaxLost uint64
	// CacheKeys and CacheBytes are what the cache holds now, and CacheCurrent its
	// estimate of how often an entry is still current when next needed (cacheTrust);
	// not counters.
	CacheKeys, CacheBytes int
	CacheCurrent          float64
}

// Lost is the number of transactions that lost a race: 412s, 409s and 404s.
func (s DetectStats) Lost() uint64 { return s.Changed + s.Inserted + s.Vanished }

// Sub is s less an earlier reading o: the counts of the interval between them.
func (s DetectStats) Sub(o DetectStats) DetectStats {
	return DetectStats{
		Updates: s.Updates - o.Updates, Keys: s.Keys - o.Keys, CacheHits: s.CacheHits - o.CacheHits,
		RowsRead: s.RowsRead - o.RowsRead, Queries: s.Queries - o.Queries, Transactions: s.Transactions - o.Transactions,
		Changed: s.Changed - o.Changed, Inserted: s.Inserted - o.Inserted, Vanished: s.Vanished - o.Vanished,
		GaveUp: s.GaveUp - o.GaveUp, MaxLost: s.MaxLost, CacheKeys: s.CacheKeys, CacheBytes: s.CacheBytes, CacheCurrent: s.CacheCurrent,
	}
}

// Add is s plus another instance's counts: the counts of both together (MaxLost the
// larger, the cache figures s's).
func (s DetectStats) Add(o DetectStats) DetectStats {
	return DetectStats{
		Updates: s.Updates + o.Updates, Keys: s.Keys + o.Keys, CacheHits: s.CacheHits + o.CacheHits,
		RowsRead: s.RowsRead + o.RowsRead, Queries: s.Queries + o.Queries, Transactions: s.Transactions + o.Transactions,
		Changed: s.Changed + o.Changed, Inserted: s.Inserted + o.Inserted, Vanished: s.Vanished + o.Vanished,
		GaveUp: s.GaveUp + o.GaveUp, MaxLost: max(s.MaxLost, o.MaxLost), CacheKeys: s.CacheKeys, CacheBytes: s.CacheBytes,
		CacheCurrent: s.CacheCurrent,
	}
}

// Stats returns the counts so far.
func (d *DetectStates) Stats() DetectStats {
	d.stats.mu.Lock()
	s := d.stats.s
	d.stats.mu.Unlock()
	s.CacheKeys, s.CacheBytes, s.CacheCurrent = d.cache.usage()
	return s
}

// detectCounters accumulate the tallies of Updates.
type detectCounters struct {
	mu sync.Mutex
	s  DetectStats
}

// updateTally counts one Update (or one partition of it).
type updateTally struct {
	keys, hits, rowsRead, queries, transactions int
	changed, inserted, vanished                 int
	gaveUp                                      bool
}

// lost counts a transaction lost with status.
func (t *updateTally) lost(status int) {
	switch status {
	case http.StatusConflict:
		t.inserted++
	case http.StatusNotFound:
		t.vanished++
	default:
		t.changed++
	}
}

func (t *updateTally) add(o *updateTally) {
	t.keys += o.keys
	t.hits += o.hits
	t.rowsRead += o.rowsRead
	t.queries += o.queries
	t.transactions += o.transactions
	t.changed += o.changed
	t.inserted += o.inserted
	t.vanished += o.vanished
	t.gaveUp = t.gaveUp || o.gaveUp
}

func (c *detectCounters) record(t *updateTally) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := &c.s
	s.Updates++
	s.Keys += uint64(t.keys)
	s.CacheHits += uint64(t.hits)
	s.RowsRead += uint64(t.rowsRead)
	s.Queries += uint64(t.queries)
	s.Transactions += uint64(t.transactions)
	s.Changed += uint64(t.changed)
	s.Inserted += uint64(t.inserted)
	s.Vanished += uint64(t.vanished)
	s.MaxLost = max(s.MaxLost, uint64(t.changed+t.inserted+t.vanished))
	if t.gaveUp {
		s.GaveUp++
	}
}
