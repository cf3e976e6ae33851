package record

import (
	"encoding/json"
	"math"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

// Edm.DateTime keeps 100 ns ticks; times are stored and returned at that precision.
const edmTick = 100 * time.Nanosecond

// maxStringUnits is the longest string property both Azure (64 KiB of UTF-16) and
// Azurite (32 Ki JavaScript characters) accept.
const maxStringUnits = 32 * 1024

// entity is one Table Storage row as a typed property bag, so that times go out
// as Edm.DateTime (filterable with datetime'...') and large counts as Edm.Int64.
type entity struct {
	pk, rk string
	props  map[string]any
	etag   string
}

func newEntity(pk, rk string) *entity {
	return &entity{pk: pk, rk: rk, props: map[string]any{}}
}

// setString stores s, cut to the string limit at a character boundary: a
// free-text field must never be why a write fails. Empty strings are omitted.
func (e *entity) setString(name, s string) {
	if s == "" {
		return
	}
	if !utf8.ValidString(s) {
		s = string([]rune(s)) // JSON cannot carry invalid UTF-8; make the loss explicit here
	}
	if len(s) > maxStringUnits && utf16Len(s) > maxStringUnits {
		units := 0
		for i, r := range s {
			units += utf16.RuneLen(r)
			if units > maxStringUnits {
				s = s[:i]
				break
			}
		}
	}
	e.props[name] = s
}

// setTime stores t in UTC as Edm.DateTime. The zero time is omitted: Azure rejects
// dates before 1601, and an absent property never matches a $filter comparison,
// which is what "no expiry" should do.
func (e *entity) setTime(name string, t time.Time) {
	if t.IsZero() {
		return
	}
	e.props[name] = aztables.EDMDateTime(edmTime(t))
}

// setInt stores v as Edm.Int32 when it fits, Edm.Int64 otherwise.
func (e *entity) setInt(name string, v int64) {
	if v >= math.MinInt32 && v <= math.MaxInt32 {
		e.props[name] = int32(v)
		return
	}
	e.props[name] = aztables.EDMInt64(v)
}

func (e *entity) setBool(name string, v bool) {
	if v {
		e.props[name] = true
	}
}

func (e *entity) str(name string) string {
	s, _ := e.props[name].(string)
	return s
}

func (e *entity) time(name string) time.Time {
	if t, ok := e.props[name].(aztables.EDMDateTime); ok {
		return time.Time(t).UTC()
	}
	return time.Time{}
}

func (e *entity) int(name string) int64 {
	switch v := e.props[name].(type) {
	case int32:
		return int64(v)
	case aztables.EDMInt64:
		return int64(v)
	case float64:
		return int64(v)
	}
	return 0
}

func (e *entity) boolean(name string) bool {
	b, _ := e.props[name].(bool)
	return b
}

func (e *entity) marshal() ([]byte, error) {
	return json.Marshal(aztables.EDMEntity{
		Entity:     aztables.Entity{PartitionKey: e.pk, RowKey: e.rk},
		Properties: e.props,
	})
}

func parseEntity(data []byte) (*entity, error) {
	var m aztables.EDMEntity
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	if m.Properties == nil {
		m.Properties = map[string]any{}
	}
	return &entity{pk: m.PartitionKey, rk: m.RowKey, props: m.Properties, etag: m.ETag}, nil
}

// edmTime is t as Table Storage will give it back: UTC, 100 ns ticks. Values
// returned from writes are normalised with it so they equal a later read.
func edmTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(edmTick)
}
