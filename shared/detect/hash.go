package detect

// Hashes are persisted inside sketches and batch rings, so they must be the same in
// every process and every version: FNV-1a, finished with MurmurHash3's 64-bit mixer so
// that every bit is uniform (the KMV estimate reads the hash as a number in [0, 1)).
// Never hash/maphash: its seeds are random per process.

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// Seeds keep the hash spaces of different kinds of value apart.
const (
	seedPath   uint64 = 0x70617468 // error paths
	seedIdent  uint64 = 0x6964656e // identities (user or subscription)
	seedID     uint64 = 0x6f626a69 // object ids
	seedClient uint64 = 0x636c6965 // clients of an operation
	seedBatch  uint64 = 0x62617463 // batch ids
	seedFind   uint64 = 0x66696e64 // finding ids
)

func hashString(seed uint64, s string) uint64 {
	h := uint64(fnvOffset) ^ seed
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return mix64(h)
}

func hashBytes(seed uint64, b []byte) uint64 {
	h := uint64(fnvOffset) ^ seed
	for _, c := range b {
		h ^= uint64(c)
		h *= fnvPrime
	}
	return mix64(h)
}

// mix64 is MurmurHash3's fmix64.
func mix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}
