//go:build !goexperiment.jsonv2

package alert

// syntaxOffsetIsAfter says how encoding/json reports a syntax error's position. The
// classic implementation counts the bytes read, the offending one included; the
// implementation built on encoding/json/v2 (GOEXPERIMENT=jsonv2) gives the offset of
// the offending byte itself.
const syntaxOffsetIsAfter = true
