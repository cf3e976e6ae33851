package detect

import "cmp"

// KeyType is what a state is kept for.
type KeyType string

const (
	KeyIP           KeyType = "ip"           // a client address
	KeySubscription KeyType = "subscription" // an APIM subscription id
	KeyUser         KeyType = "user"         // an APIM user id or token subject
	KeyOp           KeyType = "op"           // an operation: API + " " + Method + " " + Template (population baselines)
)

// Key names one state.
type Key struct {
	Type  KeyType
	Value string
}

func (k Key) String() string { return string(k.Type) + ":" + k.Value }

func compareKeys(a, b Key) int {
	return cmp.Or(cmp.Compare(a.Type, b.Type), cmp.Compare(a.Value, b.Value))
}
