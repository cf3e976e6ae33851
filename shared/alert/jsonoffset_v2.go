//go:build goexperiment.jsonv2

package alert

// syntaxOffsetIsAfter: see jsonoffset.go.
const syntaxOffsetIsAfter = false
