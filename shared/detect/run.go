package detect

import (
	"math"
	"slices"
)

// A run is a key's large responses on one operation across windows: exfiltration
// spread over an hour never fills one window, but leaves a run of responses far larger
// than the operation's usual one (Defender's per-response deviation, not a volume per
// window). States follow runs cheaply: only responses of runFloor bytes or more on
// average are tracked (a key with none keeps no run), at most maxRunOps operations,
// and what is older weighs less, halved every runHalfLife of event time.
const (
	runFloor    = 32 << 10
	maxRunOps   = 2
	runHalfLife = 30 * 60 // seconds
	runForget   = 0.05    // a run op weighing less than this many responses is dropped
)

// runTally is a key's runs, as of the window starting at at.
type runTally struct {
	at  int64 // start of the newest window folded in, Unix seconds
	ops []runOp
}

// runOp is one operation's run: decayed sums of the large responses, their bytes and
// the windows they came in, and the key's own baseline (bytes per window, and windows
// learnt) as it stood when the run began: the run is judged against the key's past,
// never against a baseline that has learnt the run itself.
type runOp struct {
	key                 string
	req, bytes, windows float32
	own                 float32
	ownN                uint32
}

// bigOps calls fn with each of w's operations whose mean response is runFloor or more.
func bigOps(w *Delta, fn func(o *opTally)) {
	for i := range w.ops {
		o := &w.ops[i]
		if o.req > 0 && o.bytes/uint64(o.req) >= runFloor {
			fn(o)
		}
	}
}

// decay is the weight of what was seen at from, as of to.
func decay(from, to int64) float32 {
	if to <= from {
		return 1
	}
	return float32(math.Exp2(-float64(to-from) / runHalfLife))
}

// foldRun adds window w's large responses to the state's runs, decayed to w's start.
func (s *State) foldRun(w *Delta) {
	if w.pop {
		return
	}
	r := s.run
	if r != nil {
		f := decay(r.at, w.start)
		r.ops = slices.DeleteFunc(r.ops, func(o runOp) bool {
			o.req *= f
			return o.req < runForget
		})
		for i := range r.ops {
			r.ops[i].req *= f
			r.ops[i].bytes *= f
			r.ops[i].windows *= f
		}
		r.at = w.start
	}
	bigOps(w, func(o *opTally) {
		if r == nil {
			r = &runTally{at: w.start}
			s.run = r
		}
		for i := range r.ops {
			if r.ops[i].key == o.key {
				r.ops[i].req += float32(o.req)
				r.ops[i].bytes += float32(o.bytes)
				r.ops[i].windows++
				return
			}
		}
		n := runOp{key: o.key, req: float32(o.req), bytes: float32(o.bytes), windows: 1, own: s.base.bmean, ownN: s.base.n}
		if len(r.ops) < maxRunOps {
			r.ops = append(r.ops, n)
			return
		}
		least := 0
		for i := 1; i < len(r.ops); i++ {
			if r.ops[i].bytes < r.ops[least].bytes {
				least = i
			}
		}
		if r.ops[least].bytes < n.bytes {
			r.ops[least] = n
		}
	})
	if r != nil && len(r.ops) == 0 {
		s.run = nil
	}
}

// runView is a run as of one window.
type runView struct {
	req, bytes, windows float64
	own                 float64 // the key's bytes per window when the run began
	ownN                uint32  // and the windows that baseline had learnt
}

// runOf is the run on op as of window w (w's own large responses included): zero when
// there is none.
func (s *State) runOf(w *Delta, op string) runView {
	v := runView{own: float64(s.base.bmean), ownN: s.base.n}
	if r := s.run; r != nil {
		f := float64(decay(r.at, w.start))
		for _, o := range r.ops {
			if o.key == op {
				v = runView{req: float64(o.req) * f, bytes: float64(o.bytes) * f, windows: float64(o.windows) * f,
					own: float64(o.own), ownN: o.ownN}
			}
		}
	}
	bigOps(w, func(o *opTally) {
		if o.key == op {
			v.req += float64(o.req)
			v.bytes += float64(o.bytes)
			v.windows++
		}
	})
	return v
}

func (r *runTally) clone() *runTally {
	if r == nil {
		return nil
	}
	return &runTally{at: r.at, ops: slices.Clone(r.ops)}
}
