package detect

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/apiguard/apiguard/shared/vocab"
)

// Store holds states.
//
// Update loads the states of keys (an absent key is an empty State), calls fn on each,
// saves them atomically per key, and returns the states after, as copies the caller
// owns. fn may be called again for a key (an optimistic-concurrency retry, on a fresh
// load), and for different keys concurrently, so it must depend only on its inputs:
// State.Apply is idempotent per batch, which makes a re-run harmless. A key listed
// twice is updated once. Two Updates of one key never lose each other's changes.
//
// detecttest.TestStore is the conformance suite every implementation must pass.
type Store interface {
	Update(ctx context.Context, keys []Key, fn func(k Key, s *State)) (map[Key]*State, error)
}

var (
	_ Store        = (*MemoryStore)(nil)
	_ inPlaceStore = (*MemoryStore)(nil)
)

// inPlaceStore is implemented by stores that can let the engine read the states after
// an update while still holding them, instead of copying them out: read runs once,
// before Update would return, and must not keep the states. keys are distinct; fn is
// called exactly once per key, with its index, and read gets the states in the order
// of keys.
type inPlaceStore interface {
	updateInPlace(ctx context.Context, keys []Key, fn func(i int, s *State), read func(states []*State)) error
}

// hotStates is how many of the most recently updated states a MemoryStore keeps
// decoded; older ones are kept encoded (MarshalBinary's encoding with operation keys,
// API names and templates as references to a dictionary: about 60 bytes for an idle
// client instead of about 300) and decoded again when next updated.
const hotStates = 1 << 15

// MemoryStore keeps states in process, for serve and replay. It is bounded: at most
// maxKeys states; a key not updated for idleAfter of event time (measured against the
// newest event time any key has seen, never the wall clock) is evicted, and when full
// the least recently updated key goes. Safe for concurrent use.
//
// Entries live in fixed-size slabs (no allocation per key, freed slots reused) and are
// linked into the LRU list by index. An entry keeps its key as the index of its type
// and the first vlen bytes of packed; a cold entry's packed is the key's value then
// the encoded state, in one allocation that the map's key shares.
type MemoryStore struct {
	mu        sync.Mutex
	maxKeys   int
	hotMax    int
	idleAfter int64 // seconds
	m         map[Key]*memEntry
	slabs     [][]memEntry    // of slabSize entries; index i is slabs[i/slabSize][i%slabSize]
	free      []int32         // indices of unused entries
	buf       []byte          // scratch for encoding and decoding
	dict      strDict         // the strings cold states share
	types     []vocab.KeyType // key types seen, indexed by memEntry.typ
	// LRU order is hot (most recent first) then cold: every cold entry was updated
	// before every hot one. hot and cold are the sentinels' indices.
	hot, cold int32
	nHot      int
	watermark int64 // newest event time seen, Unix seconds
	evicted   uint64
}

// slabSize is the number of entries allocated at once.
const slabSize = 1024

type memEntry struct {
	packed     string // the key's value, then (while cold) the encoded state
	state      *State // decoded (hot), nil while cold
	prev, next int32  // LRU neighbours; -1 while unlinked
	typ        uint32 // the key's type: MemoryStore.types[typ]
	vlen       uint32 // the length of the key's value
}

// value is the entry's key value.
func (e *memEntry) value() string { return e.packed[:e.vlen] }

// last is the state's newest event time, Unix seconds: read from the encoding while
// cold (it is not kept apart, to keep entries small).
func (e *memEntry) last() int64 {
	if e.state != nil {
		return e.state.cur.last()
	}
	return encodedLast(e.packed[e.vlen:])
}

// encodedLast is the newest event time of a non-empty state encoded by MarshalBinary
// (version 1), read from the header and the current window's start and age.
func encodedLast(p string) int64 {
	i := 2 // version, flags
	uv := func() uint64 {
		var x uint64
		for sh := uint(0); i < len(p); sh += 7 {
			c := p[i]
			i++
			if c < 0x80 {
				return x | uint64(c)<<sh
			}
			x |= uint64(c&0x7f) << sh
		}
		return x
	}
	iv := func() int64 { // zigzag, as binary.AppendVarint
		u := uv()
		v := int64(u >> 1)
		if u&1 != 0 {
			v = ^v
		}
		return v
	}
	uv() // size
	uv() // lateness
	uv() // late
	if uv() > 0 {
		i += 16 // the baseline's four float32
	}
	ring := uv()
	uv() // ring head
	i += 8 * int(ring)
	start := iv()
	return start + iv()
}

// NewMemoryStore returns a store of at most maxKeys states (at least 1) that evicts
// keys idle for idleAfter of event time (0: only when full).
func NewMemoryStore(maxKeys int, idleAfter time.Duration) *MemoryStore {
	return newMemoryStore(maxKeys, idleAfter, hotStates)
}

func newMemoryStore(maxKeys int, idleAfter time.Duration, hot int) *MemoryStore {
	s := &MemoryStore{maxKeys: max(maxKeys, 1), hotMax: max(hot, 1), idleAfter: int64(idleAfter / time.Second), m: map[Key]*memEntry{}}
	s.hot, s.cold = s.alloc(), s.alloc()
	for _, x := range []int32{s.hot, s.cold} {
		e := s.at(x)
		e.prev, e.next = x, x
	}
	return s
}

// at is the entry of index i.
func (s *MemoryStore) at(i int32) *memEntry { return &s.slabs[i/slabSize][i%slabSize] }

// alloc returns the index of an unused, unlinked entry.
func (s *MemoryStore) alloc() int32 {
	if len(s.free) == 0 {
		base := int32(len(s.slabs) * slabSize)
		s.slabs = append(s.slabs, make([]memEntry, slabSize))
		for i := int32(slabSize) - 1; i >= 0; i-- {
			s.free = append(s.free, base+i)
		}
	}
	i := s.free[len(s.free)-1]
	s.free = s.free[:len(s.free)-1]
	e := s.at(i)
	e.prev, e.next = -1, -1
	return i
}

// release returns the unlinked entry i to the free list.
func (s *MemoryStore) release(i int32) {
	*s.at(i) = memEntry{prev: -1, next: -1}
	s.free = append(s.free, i)
}

// typeIndex is the index of t in s.types, added when new.
func (s *MemoryStore) typeIndex(t vocab.KeyType) uint32 {
	for i, x := range s.types {
		if x == t {
			return uint32(i)
		}
	}
	s.types = append(s.types, t)
	return uint32(len(s.types) - 1)
}

// Update implements Store: fn runs under the store's lock, and the states returned
// are copies.
func (s *MemoryStore) Update(ctx context.Context, keys []Key, fn func(k Key, s *State)) (map[Key]*State, error) {
	var out map[Key]*State
	err := s.update(ctx, keys, false, func(i int, st *State) { fn(keys[i], st) }, func(live []*State) {
		out = make(map[Key]*State, len(live))
		for i, st := range live {
			if st != nil {
				out[keys[i]] = st.Clone()
			}
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// updateInPlace implements inPlaceStore: fn and read run under the store's lock.
func (s *MemoryStore) updateInPlace(ctx context.Context, keys []Key, fn func(i int, s *State), read func([]*State)) error {
	return s.update(ctx, keys, true, fn, read)
}

// update runs fn on the state of each key and read on them all, under the lock. Unless
// distinct, a key listed again is skipped (its state is nil in read's slice).
func (s *MemoryStore) update(ctx context.Context, keys []Key, distinct bool, fn func(i int, s *State), read func([]*State)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var done map[Key]bool
	if !distinct {
		done = make(map[Key]bool, len(keys))
	}
	live := make([]*State, len(keys))
	s.mu.Lock()
	defer s.mu.Unlock()
	lastType, lastTyp := vocab.KeyType(""), ^uint32(0)
	for i, k := range keys {
		if done != nil {
			if done[k] {
				continue
			}
			done[k] = true
		}
		var x int32
		e := s.m[k]
		if e == nil {
			if lastTyp == ^uint32(0) || k.Type != lastType {
				lastType, lastTyp = k.Type, s.typeIndex(k.Type)
			}
			x = s.alloc()
			e = s.at(x)
			e.packed, e.vlen, e.typ, e.state = k.Value, uint32(len(k.Value)), lastTyp, &State{}
			s.m[k] = e
		} else {
			x = s.indexOf(e)
			s.unlink(x)
			if e.state == nil {
				e.state = new(State)
				s.buf = append(s.buf[:0], e.packed[e.vlen:]...)
				if e.state.unmarshal(s.buf, &s.dict) != nil {
					*e.state = State{} // cannot happen: we encoded it
				}
				// The map's key shares packed: give both a copy of the value alone,
				// so that the encoding does not stay alive while the entry is hot.
				e.packed = strings.Clone(e.value())
				s.m[Key{k.Type, e.packed}] = e
			}
		}
		s.pushHot(x)
		fn(i, e.state)
		if e.state.Empty() {
			s.unlink(x)
			delete(s.m, k)
			s.release(x)
			live[i] = &State{}
			continue
		}
		s.watermark = max(s.watermark, e.state.cur.last())
		live[i] = e.state
	}
	read(live)
	s.cool()
	s.evict()
	return nil
}

// indexOf is the index of e, an entry of s: the next of its prev (or the prev of its
// next) while linked.
func (s *MemoryStore) indexOf(e *memEntry) int32 {
	return s.at(e.prev).next
}

// cool encodes the least recently updated hot states beyond hotMax.
func (s *MemoryStore) cool() {
	for s.nHot > s.hotMax {
		x := s.at(s.hot).prev
		e := s.at(x)
		b, err := e.state.appendBinary(append(s.buf[:0], e.value()...), &s.dict)
		if err != nil {
			return // cannot happen (states are bounded); keep it decoded
		}
		s.buf = b
		s.unlink(x)
		e.state, e.packed = nil, string(b)
		// Re-key with the value in packed (assigning to an existing key replaces the
		// map's copy of it), so that no other copy of the value stays alive.
		s.m[Key{s.types[e.typ], e.value()}] = e
		c := s.at(s.cold)
		e.prev, e.next = s.cold, c.next
		s.at(c.next).prev = x
		c.next = x
	}
}

// tail is the index of the least recently updated entry, or -1.
func (s *MemoryStore) tail() int32 {
	if p := s.at(s.cold).prev; p != s.cold {
		return p
	}
	if p := s.at(s.hot).prev; p != s.hot {
		return p
	}
	return -1
}

// evict drops idle keys from the least recently updated end (stopping at the first
// that is not idle: update order is close to event-time order), then the least
// recently updated keys while over the bound.
func (s *MemoryStore) evict() {
	if s.idleAfter > 0 {
		for x := s.tail(); x >= 0 && s.at(x).last() < s.watermark-s.idleAfter; x = s.tail() {
			s.drop(x)
		}
	}
	for len(s.m) > s.maxKeys {
		s.drop(s.tail())
	}
}

func (s *MemoryStore) drop(x int32) {
	s.unlink(x)
	e := s.at(x)
	delete(s.m, Key{s.types[e.typ], e.value()})
	s.release(x)
	s.evicted++
}

func (s *MemoryStore) pushHot(x int32) {
	e, h := s.at(x), s.at(s.hot)
	e.prev, e.next = s.hot, h.next
	s.at(h.next).prev = x
	h.next = x
	s.nHot++
}

func (s *MemoryStore) unlink(x int32) {
	e := s.at(x)
	if e.prev < 0 {
		return
	}
	if e.state != nil {
		s.nHot--
	}
	s.at(e.prev).next, s.at(e.next).prev = e.next, e.prev
	e.prev, e.next = -1, -1
}

// Len is the number of states held.
func (s *MemoryStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// Evicted is the number of states evicted so far.
func (s *MemoryStore) Evicted() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.evicted
}

// Get returns a copy of the state of k, or nil.
func (s *MemoryStore) Get(k Key) *State {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.m[k]
	switch {
	case e == nil:
		return nil
	case e.state != nil:
		return e.state.Clone()
	}
	st := new(State)
	if st.unmarshal([]byte(e.packed[e.vlen:]), &s.dict) != nil {
		return nil
	}
	return st
}
