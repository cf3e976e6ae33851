package detect

import (
	"context"
	"strconv"
	"testing"
)

// A cold entry keeps no event time of its own: it is read from the encoding, and must
// be the decoded state's, whatever the state holds (baselines, a previous window, a
// full batch ring, samples, extras).
func TestMemoryStoreColdEntriesKnowTheirLastEventTime(t *testing.T) {
	s := newMemoryStore(1_000_000, 0, 1)
	e := testEngine(t, nil, s)
	for i, b := range mixedTraffic(7, 60, 1000, t0) {
		if _, err := e.Process(context.Background(), strconv.Itoa(i), b); err != nil {
			t.Fatal(err)
		}
	}
	cold := 0
	for k, en := range s.m {
		if en.state != nil {
			continue
		}
		cold++
		if en.value() != k.Value || s.types[en.typ] != k.Type {
			t.Fatalf("entry of %v holds %s:%s", k, s.types[en.typ], en.value())
		}
		st := new(State)
		if err := st.unmarshal([]byte(en.packed[en.vlen:]), &s.dict); err != nil {
			t.Fatalf("%v: %v", k, err)
		}
		if st.cur.last() != en.last() {
			t.Fatalf("%v: last %d, decoded %d", k, en.last(), st.cur.last())
		}
	}
	if cold == 0 {
		t.Fatal("no cold entry")
	}
}
