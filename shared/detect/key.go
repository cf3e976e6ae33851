package detect

import (
	"cmp"

	"github.com/apiguard/apiguard/shared/vocab"
)

// Key names one state.
type Key struct {
	Type  vocab.KeyType
	Value string
}

func (k Key) String() string { return string(k.Type) + ":" + k.Value }

func compareKeys(a, b Key) int {
	return cmp.Or(cmp.Compare(a.Type, b.Type), cmp.Compare(a.Value, b.Value))
}
