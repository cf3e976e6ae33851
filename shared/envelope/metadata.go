package envelope

import "encoding/json"

// property maps one Metadata key (and its older alias, if any) to a field of T: the
// trigger metadata the host copies next to a message or event. A batch carries the same
// keys with an "Array" suffix, each a JSON array with one entry per item.
type property[T any] struct {
	key, alias string
	set        func(v *T, raw json.RawMessage) error
}

// lookup returns the first of key, alias (each with suffix) present in Metadata, with
// the key found.
func (r *Request) lookup(suffix, key, alias string) (string, json.RawMessage, bool) {
	for _, k := range []string{key, alias} {
		if k == "" {
			continue
		}
		if raw, ok := r.Metadata[k+suffix]; ok {
			return k + suffix, raw, true
		}
	}
	return "", nil, false
}

// hasArrays reports whether Metadata has any of props as a batch *Array key: that,
// not the body's shape, tells a batch from a single item.
func hasArrays[T any](r *Request, props []property[T]) bool {
	for _, p := range props {
		if _, _, ok := r.lookup("Array", p.key, p.alias); ok {
			return true
		}
	}
	return false
}

// setSingle fills v from the plain (single-item) keys of props.
func setSingle[T any](r *Request, binding string, v *T, props []property[T]) error {
	for _, p := range props {
		key, raw, ok := r.lookup("", p.key, p.alias)
		if !ok {
			continue
		}
		if err := p.set(v, raw); err != nil {
			return reject("envelope: binding %q: metadata %s: %v", binding, key, err)
		}
	}
	return nil
}

// setBatch fills items from the *Array keys of props. Each array must have one entry per
// item (items names them in the error); a null array is "the host had nothing". A
// mismatch rejects the whole batch, as the host delivers and settles it as one.
func setBatch[T any](r *Request, binding, items string, vs []T, props []property[T]) error {
	for _, p := range props {
		key, raw, ok := r.lookup("Array", p.key, p.alias)
		if !ok {
			continue
		}
		values, err := valueArray(raw)
		if err != nil {
			return reject("envelope: binding %q: metadata %s: %v", binding, key, err)
		}
		if values == nil {
			continue
		}
		if len(values) != len(vs) {
			return reject("envelope: binding %q: metadata %s has %d entries, the batch has %d %s",
				binding, key, len(values), len(vs), items)
		}
		for i, e := range values {
			if err := p.set(&vs[i], e); err != nil {
				return reject("envelope: binding %q: metadata %s[%d]: %v", binding, key, i, err)
			}
		}
	}
	return nil
}
