package record

import (
	"sync"

	"github.com/apiguard/apiguard/shared/detect"
)

// DefaultDetectCacheBytes bounds the detector states a DetectStates keeps between
// batches. An idle client's row is about 90 bytes of state, a busy one a few hundred
// to a few KiB (at most detect.MaxStateBytes); with the entry's own overhead, 32 MiB
// holds some 50,000 to 100,000 keys: every key of a few hundred 1,000-record batches,
// which is the working set a gateway's flow of batches keeps coming back to, at a small
// part of a Functions instance's memory (1.5 GB or more).
const DefaultDetectCacheBytes = 32 << 20

// cacheEntryOverhead is what an entry costs beyond its key, state and ETag: the
// entry itself, its map slot and the strings' headers, rounded up.
const cacheEntryOverhead = 160

// hotSpan is how many of a key's updates read it before writing once another writer
// was seen to change it (its cached ETag was stale): a key other instances write too
// (a flooding client, an operation) would otherwise fail its transaction, and those
// of the keys that share it, nearly every batch.
const hotSpan = 8

// A cached state is used without reading the row only while the cache is trusted:
// while an estimate of how often an entry that is not hot is still current when next
// needed (an exponentially weighted mean over those entries, every time the truth is
// learnt: a write on the cached ETag that succeeds, or a read that finds the row at
// the cached ETag or moved on) is at least cacheTrust. A partition's cached rows go
// in one transaction, which one stale row fails, and then the rows are read anyway:
// ten rows current with probability q all are with q^10, and a failure costs about
// what a success saves (a transaction and a read against a read), so trust starts
// paying at about 0.93. One instance alone finds its entries current (q near 1);
// with N instances taking batches at random, a key's next batch is another
// instance's N-1 times in N, so q is about 1/N and the cache stands aside: every key
// is read, as without a cache, while the estimate goes on from those reads.
const (
	cacheTrust = 0.95
	// cacheTrustWeight is the weight of one observation: the estimate follows a change
	// (an instance joining) within a batch or two (a batch has hundreds of cached keys).
	cacheTrustWeight = 1.0 / 128
)

// stateCache keeps, per key, the state as last read or written by this DetectStates
// and the ETag it had then, least recently used first out when over its bound in
// bytes. It holds encodings, never a State: each Update decodes its own copy, so
// nothing the caller does to a returned state reaches the cache. Safe for concurrent
// use. A stale entry costs a lost race (If-Match fails), never a wrong count.
type stateCache struct {
	mu   sync.Mutex
	max  int
	size int
	m    map[detect.Key]*cacheEntry
	lru  cacheEntry // sentinel: lru.next is the most recently used
	// current estimates how often an entry that is not hot is current; the cache is
	// trusted from trustAt (cacheTrust; tests lower it to drive the cached path under
	// contention).
	current, trustAt float64
}

type cacheEntry struct {
	key  detect.Key
	bin  []byte // MarshalBinary's encoding as stored; never modified once cached
	etag string
	// hot > 0: read the row before writing it, for this many more updates (hotSpan
	// again each time another writer is found to have changed it).
	hot        uint8
	prev, next *cacheEntry
}

// cached is what an Update takes from the cache for one key.
type cached struct {
	bin  []byte
	etag string
	hot  uint8
}

func newStateCache(maxBytes int) *stateCache {
	c := &stateCache{max: maxBytes, m: map[detect.Key]*cacheEntry{}, current: 1, trustAt: cacheTrust}
	c.lru.prev, c.lru.next = &c.lru, &c.lru
	return c
}

func (e *cacheEntry) bytes() int {
	return len(e.bin) + len(e.etag) + len(e.key.Value) + len(e.key.Type) + cacheEntryOverhead
}

// get returns the entry of k and marks it used.
func (c *stateCache) get(k detect.Key) (cached, bool) {
	if c == nil {
		return cached{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.m[k]
	if e == nil {
		return cached{}, false
	}
	c.unlink(e)
	c.pushFront(e)
	return cached{bin: e.bin, etag: e.etag, hot: e.hot}, true
}

// put keeps bin (which the caller must not modify afterwards) and etag for k, then
// evicts from the least recently used end while over the bound. An entry larger
// than the whole bound is not kept.
func (c *stateCache) put(k detect.Key, v cached) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.m[k]; e != nil {
		c.remove(e)
	}
	e := &cacheEntry{key: k, bin: v.bin, etag: v.etag, hot: v.hot}
	if e.bytes() > c.max {
		return
	}
	c.m[k] = e
	c.size += e.bytes()
	c.pushFront(e)
	for c.size > c.max {
		c.remove(c.lru.prev)
	}
}

// drop forgets k.
func (c *stateCache) drop(k detect.Key) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.m[k]; e != nil {
		c.remove(e)
	}
}

// observe counts an entry that was not hot found current (or not) when next needed.
func (c *stateCache) observe(current bool) {
	if c == nil {
		return
	}
	x := 0.0
	if current {
		x = 1
	}
	c.mu.Lock()
	c.current += cacheTrustWeight * (x - c.current)
	c.mu.Unlock()
}

// trusted reports whether entries that are not hot may be written without a read.
func (c *stateCache) trusted() bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.current >= c.trustAt
}

// usage is the number of entries and their bytes.
func (c *stateCache) usage() (n, bytes int, current float64) {
	if c == nil {
		return 0, 0, 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m), c.size, c.current
}

func (c *stateCache) remove(e *cacheEntry) {
	c.unlink(e)
	delete(c.m, e.key)
	c.size -= e.bytes()
}

func (c *stateCache) unlink(e *cacheEntry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

func (c *stateCache) pushFront(e *cacheEntry) {
	e.prev, e.next = &c.lru, c.lru.next
	c.lru.next.prev = e
	c.lru.next = e
}
