package detect

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/shared/fault"
	"github.com/apiguard/apiguard/shared/traffic"
)

// Engine runs the detectors over batches of traffic with state in a Store. It keeps no
// state of its own and is safe for concurrent use; several engines (function
// instances) may share one store.
type Engine struct {
	cfg   *Config
	store Store
	log   zerolog.Logger
}

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
	return &Engine{cfg: &c, store: store, log: log.With().Str("component", "detect").Logger()}, nil
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
	deltas := Aggregate(e.cfg, recs)
	keys := make([]Key, 0, len(deltas))
	for k := range deltas {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareKeys)
	apply := func(k Key, s *State) {
		for _, d := range deltas[k] {
			s.Apply(batchID, d)
		}
	}
	var out []Finding
	late := 0
	var err error
	if ip, ok := e.store.(inPlaceStore); ok {
		err = ip.updateInPlace(ctx, keys, apply, func(states map[Key]*State) {
			out, late = e.evaluateBatch(keys, deltas, states)
		})
	} else {
		var states map[Key]*State
		if states, err = e.store.Update(ctx, keys, apply); err == nil {
			out, late = e.evaluateBatch(keys, deltas, states)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("detector state: %w", err)
	}
	if ev := e.log.Debug(); ev.Enabled() {
		ev.Str("batch", batchID).Int("records", len(recs)).Int("keys", len(keys)).
			Int("findings", len(out)).Int("late_deltas_on_keys", late).Msg("detect batch")
	}
	return out, nil
}

// evaluateBatch judges every key of the batch in the windows the batch added to (the
// previous window only while it is open), one finding per id, sorted.
func (e *Engine) evaluateBatch(keys []Key, deltas map[Key][]*Delta, states map[Key]*State) (out []Finding, late int) {
	var seen map[string]bool
	for _, k := range keys {
		s := states[k]
		if s == nil || s.Empty() {
			continue
		}
		late += s.Late()
		if k.Type == KeyOp {
			continue
		}
		which := 0
		for _, d := range deltas[k] {
			switch {
			case d.start == s.cur.start:
				which |= evalCur
			case s.prev != nil && d.start == s.prev.start && s.prev.open(s.cur.last()):
				which |= evalPrev
			}
		}
		for _, f := range evaluate(e.cfg, k, s, states, which) {
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
