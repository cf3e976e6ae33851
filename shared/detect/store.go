package detect

import (
	"context"
	"sync"
	"time"
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
// decoded; older ones are kept encoded (MarshalBinary, about 100 bytes for an idle
// client instead of about 300) and decoded again when next updated.
const hotStates = 1 << 16

// MemoryStore keeps states in process, for serve and replay. It is bounded: at most
// maxKeys states; a key not updated for idleAfter of event time (measured against the
// newest event time any key has seen, never the wall clock) is evicted, and when full
// the least recently updated key goes. Safe for concurrent use.
type MemoryStore struct {
	mu        sync.Mutex
	maxKeys   int
	hotMax    int
	idleAfter int64 // seconds
	m         map[Key]*memEntry
	// LRU order is hot (most recent first) then cold: every cold entry was updated
	// before every hot one.
	hot, cold memEntry // list sentinels
	nHot      int
	watermark int64 // newest event time seen, Unix seconds
	evicted   uint64
}

type memEntry struct {
	key        Key
	last       int64  // the state's newest event time, Unix seconds
	state      *State // decoded (hot), nil while cold
	packed     string // the encoded state while cold
	prev, next *memEntry
}

// NewMemoryStore returns a store of at most maxKeys states (at least 1) that evicts
// keys idle for idleAfter of event time (0: only when full).
func NewMemoryStore(maxKeys int, idleAfter time.Duration) *MemoryStore {
	return newMemoryStore(maxKeys, idleAfter, hotStates)
}

func newMemoryStore(maxKeys int, idleAfter time.Duration, hot int) *MemoryStore {
	s := &MemoryStore{maxKeys: max(maxKeys, 1), hotMax: max(hot, 1), idleAfter: int64(idleAfter / time.Second), m: map[Key]*memEntry{}}
	s.hot.next, s.hot.prev = &s.hot, &s.hot
	s.cold.next, s.cold.prev = &s.cold, &s.cold
	return s
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
	for i, k := range keys {
		if done != nil {
			if done[k] {
				continue
			}
			done[k] = true
		}
		e := s.m[k]
		if e == nil {
			e = &memEntry{key: k, state: &State{}}
			s.m[k] = e
		} else {
			s.unlink(e)
			if e.state == nil {
				e.state = new(State)
				if e.state.UnmarshalBinary([]byte(e.packed)) != nil {
					*e.state = State{} // cannot happen: we encoded it
				}
				e.packed = ""
			}
		}
		s.pushHot(e)
		fn(i, e.state)
		if e.state.Empty() {
			s.unlink(e)
			delete(s.m, k)
			live[i] = &State{}
			continue
		}
		e.last = e.state.cur.last()
		s.watermark = max(s.watermark, e.last)
		live[i] = e.state
	}
	read(live)
	s.cool()
	s.evict()
	return nil
}

// cool encodes the least recently updated hot states beyond hotMax.
func (s *MemoryStore) cool() {
	for s.nHot > s.hotMax {
		e := s.hot.prev
		b, err := e.state.MarshalBinary()
		if err != nil {
			return // cannot happen (states are bounded); keep it decoded
		}
		s.unlink(e)
		e.state, e.packed = nil, string(b)
		e.prev, e.next = &s.cold, s.cold.next
		s.cold.next.prev = e
		s.cold.next = e
	}
}

// tail is the least recently updated entry, or nil.
func (s *MemoryStore) tail() *memEntry {
	if s.cold.prev != &s.cold {
		return s.cold.prev
	}
	if s.hot.prev != &s.hot {
		return s.hot.prev
	}
	return nil
}

// evict drops idle keys from the least recently updated end (stopping at the first
// that is not idle: update order is close to event-time order), then the least
// recently updated keys while over the bound.
func (s *MemoryStore) evict() {
	if s.idleAfter > 0 {
		for e := s.tail(); e != nil && e.last < s.watermark-s.idleAfter; e = s.tail() {
			s.drop(e)
		}
	}
	for len(s.m) > s.maxKeys {
		s.drop(s.tail())
	}
}

func (s *MemoryStore) drop(e *memEntry) {
	s.unlink(e)
	delete(s.m, e.key)
	s.evicted++
}

func (s *MemoryStore) pushHot(e *memEntry) {
	e.prev, e.next = &s.hot, s.hot.next
	s.hot.next.prev = e
	s.hot.next = e
	s.nHot++
}

func (s *MemoryStore) unlink(e *memEntry) {
	if e.prev == nil {
		return
	}
	if e.state != nil {
		s.nHot--
	}
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
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
	if st.UnmarshalBinary([]byte(e.packed)) != nil {
		return nil
	}
	return st
}
