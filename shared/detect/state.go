package detect

import (
	"math"
	"time"
)

// baselineAlpha is the smoothing of the long-run baselines once they are warm: each
// window weighs 5%, so the baseline follows a change of level within about 40 active
// windows. The first 1/baselineAlpha windows are averaged plainly (alpha = 1/n), so a
// young baseline is the mean of what was seen, not dominated by its first window.
const baselineAlpha = 0.05

// baseline is an EWMA of mean and variance of two series per closed window. For
// address and identity keys: requests per window, and response bytes per window. For
// operation keys (the population): requests per client per window, and response bytes
// per request. Only windows with traffic are folded in: a client that calls once an
// hour is judged against its active windows, not against a long run of zeros.
type baseline struct {
	n     uint32  // windows folded in
	mean  float32 // requests per window (op: per client)
	vr    float32
	bmean float32 // response bytes per window (op: per request)
	bvr   float32
}

func (b *baseline) fold(w *Delta) {
	if w.n.req == 0 {
		return
	}
	a, v := float64(w.n.req), float64(w.n.bytes)
	if w.pop {
		clients := 1.0
		if w.x != nil {
			clients = max(float64(w.x.clients.count()), 1)
		}
		a, v = a/clients, v/float64(w.n.req)
	}
	if w.pop && b.n >= popClipAfter && b.bmean >= popClipFloor && v > popClip*float64(b.bmean) {
		// A few clients' outliers (one client's exports during a run) must not become
		// the operation's typical response: a window moves it by at most popClip.
		v = popClip * float64(b.bmean)
	}
	if b.n < math.MaxUint32 {
		b.n++
	}
	alpha := max(1/float64(b.n), baselineAlpha)
	b.mean, b.vr = ewma(b.mean, b.vr, a, alpha)
	b.bmean, b.bvr = ewma(b.bmean, b.bvr, v, alpha)
}

// popClip bounds an operation window's bytes per request, as a multiple of the learnt
// typical one, once popClipAfter windows are learnt and the typical response is at
// least popClipFloor. On the generated scenarios one account's exports moved a report
// operation's typical response from 38 KiB to 145 KiB in half an hour, hiding the run
// they belonged to; a real change of the operation's payload still comes through,
// doubling every few windows. Below the floor (an operation answered mostly 304 or
// empty, then a file download) nothing is clipped: the typical must be able to learn
// that the operation serves a 39 MiB file (the background log's jar).
const (
	popClip      = 2
	popClipAfter = 2
	popClipFloor = 4 << 10
)

func ewma(m, v float32, x, alpha float64) (float32, float32) {
	mean, vr := float64(m), float64(v)
	d := x - mean
	inc := alpha * d
	mean += inc
	vr = (1 - alpha) * (vr + d*inc)
	return float32(mean), float32(vr)
}

func (b *baseline) std() float64  { return math.Sqrt(max(float64(b.vr), 0)) }
func (b *baseline) bstd() float64 { return math.Sqrt(max(float64(b.bvr), 0)) }

func (b *baseline) equal(o *baseline) bool {
	return b.n == o.n && b.mean == o.mean && b.vr == o.vr && b.bmean == o.bmean && b.bvr == o.bvr
}

// State is everything remembered about one key: the current window's totals, the
// previous window (which still takes late records within the allowed lateness), the
// long-run baselines, and the last 32 (batch, window) pairs applied (idempotence).
//
// The zero State is empty and ready to use. A State is not safe for concurrent use;
// a Store serializes updates of one key.
type State struct {
	cur   Delta
	prev  *Delta // the window just before cur, when it had traffic
	base  baseline
	ring  []uint64  // hashes of (batch id, window start) applied, at most ringSize
	rhead uint8     // next slot to overwrite once ring is full
	late  uint32    // deltas dropped as too late
	run   *runTally // large responses across windows (run.go), nil for most keys
}

// Apply merges d into the state and reports whether it was applied.
//
//   - Idempotent per (batchID, window of d): a delta of a batch already applied to this
//     key in that window is ignored, so a redelivered or retried batch is never counted
//     twice (the last 32 pairs are remembered).
//   - A delta for a window newer than the current one first folds the current window
//     into the baselines; the current window becomes the previous one when adjacent.
//   - A delta for the previous window is merged into it while that window is open: its
//     end plus the allowed lateness is after the newest event time the key has seen.
//   - Anything older is counted as late (Late) and dropped.
//   - A delta with another window size than the state's (the configuration changed)
//     starts the key afresh: counts in different windows cannot be compared.
//
// Apply never keeps a reference to d: the same delta may be applied again to a fresh
// copy of the state (an optimistic-concurrency retry).
func (s *State) Apply(batchID string, d *Delta) (applied bool) {
	if d == nil || d.size == 0 || d.n.req == 0 {
		return false
	}
	return s.apply(batchHash(batchID), d)
}

// batchHash is the hash of a batch id that State.apply takes.
func batchHash(batchID string) uint64 { return hashString(seedBatch, batchID) }

// apply is Apply with the batch id hashed (batchHash) once per batch by the caller.
func (s *State) apply(batch uint64, d *Delta) (applied bool) {
	if d == nil || d.size == 0 || d.n.req == 0 {
		return false
	}
	if !s.Empty() && s.cur.size != d.size {
		*s = State{}
	}
	id := batch ^ mix64(uint64(d.start))
	for _, x := range s.ring {
		if x == id {
			return false
		}
	}
	size := int64(d.size)
	switch {
	case s.Empty():
		s.cur = d.cloneTidy()
	case d.start == s.cur.start:
		s.cur.mergeTidy(d)
	case d.start > s.cur.start:
		s.foldRun(&s.cur) // first: a run keeps the baseline as it stood before it
		s.base.fold(&s.cur)
		if d.start-size == s.cur.start {
			p := s.cur
			s.prev = &p
		} else {
			s.prev = nil
		}
		s.cur = d.cloneTidy()
	case d.start == s.cur.start-size && d.open(s.cur.last()):
		if s.prev == nil {
			p := d.cloneTidy()
			s.prev = &p
		} else {
			s.prev.mergeTidy(d)
		}
	default:
		if s.late < math.MaxUint32 {
			s.late++
		}
		return false
	}
	if len(s.ring) < ringSize {
		s.ring = append(s.ring, id)
	} else {
		s.ring[s.rhead] = id
		s.rhead = (s.rhead + 1) % ringSize
	}
	return true
}

// open reports whether window w still takes records when the key's newest event
// time is last: its end plus the allowed lateness is after last.
func (w *Delta) open(last int64) bool {
	return w.start+int64(w.size)+int64(w.lateness) > last
}

// Empty reports whether nothing was ever applied.
func (s *State) Empty() bool { return s.cur.n.req == 0 }

// Last is the newest event time applied (zero for an empty state). A store may expire
// a state idle for long past it: the detectors would start that key afresh anyway.
func (s *State) Last() time.Time {
	if s.Empty() {
		return time.Time{}
	}
	return time.Unix(s.cur.last(), 0).UTC()
}

// Window is the current window (zero times for an empty state).
func (s *State) Window() (start, end time.Time) {
	if s.Empty() {
		return time.Time{}, time.Time{}
	}
	return s.cur.Window()
}

// Requests is the number of requests counted in the current window.
func (s *State) Requests() int { return int(s.cur.n.req) }

// Late is the number of deltas dropped because their window had closed.
func (s *State) Late() int { return int(s.late) }

// Clone returns a deep copy.
func (s *State) Clone() *State {
	c := &State{cur: s.cur.clone(), base: s.base, rhead: s.rhead, late: s.late, run: s.run.clone()}
	if s.prev != nil {
		p := s.prev.clone()
		c.prev = &p
	}
	if len(s.ring) > 0 {
		c.ring = append(make([]uint64, 0, len(s.ring)), s.ring...)
	}
	return c
}
