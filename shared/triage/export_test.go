package triage

// Synthetic is the benchmark's inventory for the external tests (the whole path,
// classification and rendering, in pipeline_bench_test.go).
func Synthetic(apis, ops int, seed uint64) Inventory { return synthetic(apis, ops, seed) }

// PII is the options the synthetic inventory is classified with.
var PII = pii
