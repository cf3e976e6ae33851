package probe

import "fmt"

// automaton is an Aho–Corasick automaton compiled to a full DFA: one table lookup per
// input byte, whatever the number of patterns. Bytes are first mapped to classes (the
// distinct bytes of the patterns, upper case folded to lower, everything else class
// 0), which keeps a state's row at the next power of two above the alphabet (64 for
// the default data) instead of 256.
//
// States are numbered so that the ones where some pattern ends come last: the scan
// loop tests st >= firstOut and does nothing else on a byte that ends no pattern.
type automaton struct {
	cls      [256]uint8
	shift    uint
	delta    []uint16 // delta[st<<shift | cls[b]]: the next state
	firstOut uint16
	outStart []uint32 // outputs of state st are outIDs[outStart[st-firstOut]:outStart[st-firstOut+1]]
	outIDs   []uint16
}

// maxStates is what a uint16 state number can address.
const maxStates = 1 << 16

// build compiles patterns (lower case, distinct, non-empty) into an automaton; the
// output ids are the patterns' indexes.
func build(pats []string) (automaton, error) {
	var a automaton
	total := 1
	for _, p := range pats {
		total += len(p)
	}
	if total > maxStates {
		return a, fmt.Errorf("the patterns hold %d bytes; the automaton can address at most %d (fewer or shorter patterns)", total-1, maxStates-1)
	}

	// Alphabet.
	var used [256]bool
	for _, p := range pats {
		for i := 0; i < len(p); i++ {
			used[p[i]] = true
		}
	}
	k := 1
	for c := range 256 {
		if used[c] {
			a.cls[c] = uint8(k)
			k++
		}
	}
	for c := 'A'; c <= 'Z'; c++ {
		a.cls[c] = a.cls[c+'a'-'A']
	}
	for 1<<a.shift < k {
		a.shift++
	}
	stride := 1 << a.shift

	// Trie.
	child := make([]int32, stride, total*stride)
	for i := range child {
		child[i] = -1
	}
	own := make([]int32, 1, total) // pattern ending at each node, -1 for none
	own[0] = -1
	for id, p := range pats {
		u := 0
		for i := 0; i < len(p); i++ {
			c := int(a.cls[p[i]])
			v := child[u*stride+c]
			if v < 0 {
				v = int32(len(own))
				child[u*stride+c] = v
				own = append(own, -1)
				for range stride {
					child = append(child, -1)
				}
			}
			u = int(v)
		}
		own[u] = int32(id)
	}
	n := len(own)

	// Breadth-first: failure links, full transitions, output sets.
	delta := make([]int32, n*stride)
	fail := make([]int32, n)
	outs := make([][]uint16, n)
	order := make([]int32, 0, n)
	order = append(order, 0)
	for c := range stride {
		v := child[c]
		if v < 0 {
			delta[c] = 0
			continue
		}
		delta[c] = v
		fail[v] = 0
		order = append(order, v)
	}
	for q := 1; q < len(order); q++ {
		u := int(order[q])
		f := int(fail[u])
		if own[u] >= 0 {
			outs[u] = append(outs[u], uint16(own[u]))
		}
		outs[u] = append(outs[u], outs[f]...)
		for c := range stride {
			v := child[u*stride+c]
			if v < 0 {
				delta[u*stride+c] = delta[f*stride+c]
				continue
			}
			delta[u*stride+c] = v
			fail[v] = delta[f*stride+c]
			order = append(order, v)
		}
	}

	// Renumber: states without outputs first (breadth-first, so the shallow states
	// that ordinary text stays in share cache lines), then the ones with outputs.
	newID := make([]uint16, n)
	next := 0
	for _, u := range order {
		if len(outs[u]) == 0 {
			newID[u] = uint16(next)
			next++
		}
	}
	a.firstOut = uint16(next)
	a.outStart = make([]uint32, 0, n-next+1)
	for _, u := range order {
		if len(outs[u]) > 0 {
			newID[u] = uint16(next)
			next++
			a.outStart = append(a.outStart, uint32(len(a.outIDs)))
			a.outIDs = append(a.outIDs, outs[u]...)
		}
	}
	a.outStart = append(a.outStart, uint32(len(a.outIDs)))
	a.delta = make([]uint16, n*stride)
	for u := range n {
		row := int(newID[u]) * stride
		for c := range stride {
			a.delta[row+c] = newID[delta[u*stride+c]]
		}
	}
	return a, nil
}
