package fragment

import (
	"encoding/hex"
	"strings"

	"github.com/apiguard/apiguard/shared/cidr"
)

// hexKey is a block's first address as the forwarded check computes it in C#: "4" or
// "6" for the family, then the address bytes in upper-case hex (BitConverter's digits).
func hexKey(b *cidr.Block) string {
	family := "4"
	if b.Is6() {
		family = "6"
	}
	return family + strings.ToUpper(hex.EncodeToString(b.First().AsSlice()))
}

// nibbleKeys are the prefixes of hexKey that together match exactly this block in the
// forwarded check, which tests whole hex digits: a block whose length is a multiple of
// four is one key; otherwise it is cut into the 2, 4 or 8 blocks of the next multiple.
func nibbleKeys(b *cidr.Block) []string {
	l := (b.Bits() + 3) / 4 // hex digits that decide membership
	extra := 4*l - b.Bits()
	full := hexKey(b)
	base := full[:1+l]
	if extra == 0 {
		return []string{base}
	}
	const digits = "0123456789ABCDEF"
	last := base[len(base)-1]
	v := int(last - '0')
	if last >= 'A' {
		v = int(last-'A') + 10
	}
	keys := make([]string, 0, 1<<extra)
	for j := range 1 << extra {
		keys = append(keys, base[:len(base)-1]+string(digits[v+j]))
	}
	return keys
}
