package detect

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/shared/fault"
	"github.com/apiguard/apiguard/shared/traffic"
	"github.com/apiguard/apiguard/shared/vocab"
)

// Engine runs the detectors over batches of traffic with state in a Store. It keeps no
// state of its own and is safe for concurrent use; several engines (function
// instances) may share one store.
type Engine struct {
	cfg   *Config
	store Store
	log   zerolog.Logger
	comp  *compiled // cfg for Aggregate
	prep  *prepared // cfg for evaluation
	aggs  sync.Pool // of *aggregator, reset
}

// maxPooledRecords bounds the batches whose aggregator is kept for the next one, so a
// huge batch does not pin its maps.
const maxPooledRecords = 1 << 16

// NewEngine validates cfg (nil: the defaults) and returns an engine over store.
func NewEngine(cfg *Config, store Store, log zerolog.Logger) (*Engine, error) {
	if cfg == nil {
		d := DefaultConfig()
		cfg = &d
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if store == nil {
		return nil, errors.New("detect: no state store")
	}
	c := *cfg
	return &Engine{cfg: &c, store: store, log: log.With().Str("component", "detect").Logger(),
		comp: compile(&c), prep: prepare(&c)}, nil
}

// Process aggregates the batch, applies it to the keys' states in one Store.Update,
// evaluates every key the batch touched (with the states of the operations it used)
// and returns the findings of the windows the batch added to (the previous window
// only while it still takes late records), one per ID, sorted.
//
// batchID must identify the batch across redeliveries (the queue's message or
// sequence id): a batch applied again changes no count, and returns the same
// findings. Errors from the store keep their disposition (fault.Of); an empty batch id
// is rejected. Process reads no clock: windows are the records' event time.
func (e *Engine) Process(ctx context.Context, batchID string, recs []traffic.Record) ([]Finding, error) {
	if batchID == "" {
		return nil, fault.Rejected(0, errors.New("detect: a batch needs an id: idempotence rests on it"))
	}
	if len(recs) == 0 {
		return nil, nil
	}
	a, _ := e.aggs.Get().(*aggregator)
	if a == nil {
		a = newAggregatorC(e.comp, len(recs))
	}
	for i := range recs {
		a.add(&recs[i])
	}
	kds := a.sorted()
	bh := batchHash(batchID)
	apply := func(i int, s *State) {
		for _, d := range kds[i].ds {
			s.apply(bh, d)
		}
	}
	var out []Finding
	late := 0
	var err error
	if ip, ok := e.store.(inPlaceStore); ok {
		err = ip.updateInPlace(ctx, keysOf(kds), apply, func(states []*State) {
			out, late = e.evaluateBatch(kds, states)
		})
	} else {
		keys := keysOf(kds)
		index := make(map[Key]int, len(keys))
		for i, k := range keys {
			index[k] = i
		}
		var m map[Key]*State
		if m, err = e.store.Update(ctx, keys, func(k Key, s *State) { apply(index[k], s) }); err == nil {
			states := make([]*State, len(keys))
			for i, k := range keys {
				states[i] = m[k]
			}
			out, late = e.evaluateBatch(kds, states)
		}
	}
	// Nothing kept refers to the aggregator's memory any more: states copy what they
	// keep, findings are made of the states.
	if len(recs) <= maxPooledRecords {
		a.reset()
		e.aggs.Put(a)
	}
	if err != nil {
		return nil, fmt.Errorf("detector state: %w", err)
	}
	if ev := e.log.Debug(); ev.Enabled() {
		ev.Str("batch", batchID).Int("records", len(recs)).Int("keys", len(kds)).
			Int("findings", len(out)).Int("late_deltas_on_keys", late).Msg("detect batch")
	}
	return out, nil
}

func keysOf(kds []keyDeltas) []Key {
	keys := make([]Key, len(kds))
	for i := range kds {
		keys[i] = kds[i].k
	}
	return keys
}

// evaluateBatch judges every key of the batch in the windows the batch added to (the
// previous window only while it is open), one finding per id, sorted. states[i] is the
// state of kds[i].k after the batch (nil when the store returned none).
func (e *Engine) evaluateBatch(kds []keyDeltas, states []*State) (out []Finding, late int) {
	ev := evaluation{cfg: e.cfg, p: e.prep, ops: map[string]*State{}}
	for i := range kds {
		if kds[i].k.Type == vocab.KeyOp && states[i] != nil {
			ev.ops[kds[i].k.Value] = states[i]
		}
	}
	var seen map[string]bool
	for i := range kds {
		k := kds[i].k
		s := states[i]
		if s == nil || s.Empty() {
			continue
		}
		late += s.Late()
		if k.Type == vocab.KeyOp {
			continue
		}
		which := 0
		for _, d := range kds[i].ds {
			switch {
			case d.start == s.cur.start:
				which |= evalCur
			case s.prev != nil && d.start == s.prev.start && s.prev.open(s.cur.last()):
				which |= evalPrev
			}
		}
		for _, f := range ev.run(k, s, which) {
			if seen == nil {
				seen = map[string]bool{}
			}
			if !seen[f.ID] {
				seen[f.ID] = true
				out = append(out, f)
			}
		}
	}
	sortFindings(out)
	return out, late
}
