package alert

import (
	"strings"
	"time"
)

// parseTime reads the timestamps Defender writes in its various shapes: RFC 3339 with
// or without a fraction (ARM writes 7 digits), .NET DateTimes without a zone, Log
// Analytics' "2006-01-02 15:04:05" and the US "01/02/2006 15:04:05" Logic Apps can
// produce. Zone-less times are UTC (Defender's clocks are); results are always UTC so
// they compare with == and print alike. An unreadable time is zero, not an error: a
// bad timestamp must not cost the alert.
func parseTime(s string) time.Time {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}
	}
	// time.Parse accepts a fraction after the seconds even when the layout has none.
	layouts := [...]string{
		time.RFC3339Nano,
		"2006-01-02T15:04:05",
		"2006-01-02 15:04:05Z07:00",
		"2006-01-02 15:04:05",
		"1/2/2006 15:04:05",
		"1/2/2006 3:04:05 PM",
	}
	for _, layout := range layouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}
