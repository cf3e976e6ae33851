package envelope

import (
	"encoding/json"
	"time"
)

// Timer is a timerTrigger binding. Last, Next and LastUpdated are zero when the host sent
// no ScheduleStatus (useMonitor off, or the first run).
type Timer struct {
	IsPastDue               bool
	Last, Next, LastUpdated time.Time
}

type wireTimer struct {
	ScheduleStatus json.RawMessage
	IsPastDue      json.RawMessage
}

type wireScheduleStatus struct {
	Last, Next, LastUpdated json.RawMessage
}

// Timer decodes the timerTrigger binding named binding. ScheduleStatus may be null.
func (r *Request) Timer(binding string) (*Timer, error) {
	var w wireTimer
	if err := r.bindingInto(binding, "timer", &w); err != nil {
		return nil, err
	}
	t := &Timer{}
	var err error
	if t.IsPastDue, err = valueBool(w.IsPastDue); err != nil {
		return nil, reject("envelope: binding %q: IsPastDue: %v", binding, err)
	}
	var s wireScheduleStatus
	present, err := valueInto(w.ScheduleStatus, &s)
	if err != nil {
		return nil, reject("envelope: binding %q: ScheduleStatus: %v", binding, err)
	}
	if !present {
		return t, nil
	}
	for _, f := range []struct {
		key string
		raw json.RawMessage
		dst *time.Time
	}{
		{"Last", s.Last, &t.Last},
		{"Next", s.Next, &t.Next},
		{"LastUpdated", s.LastUpdated, &t.LastUpdated},
	} {
		if *f.dst, err = valueTime(f.raw); err != nil {
			return nil, reject("envelope: binding %q: ScheduleStatus.%s: %v", binding, f.key, err)
		}
	}
	return t, nil
}
