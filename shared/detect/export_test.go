package detect

import "time"

// NewMemoryStoreHot lets the external conformance test run a store whose hot set is
// tiny, so that states go through their encoded (cold) form between updates.
func NewMemoryStoreHot(maxKeys int, idleAfter time.Duration, hot int) *MemoryStore {
	return newMemoryStore(maxKeys, idleAfter, hot)
}
