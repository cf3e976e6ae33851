package alert

import (
	"fmt"
	"net/netip"
	"strings"
)

// maxRefHops bounds a chain of references to references ({"$ref"} resolving to an
// object that is itself a {"$ref"}), which JSON.NET never writes but input may.
const maxRefHops = 64

// entityWalk reads Defender's entity graph. Entities use JSON.NET references: any
// object may carry "$id", and any entity or field may be {"$ref": "<id>"} standing for
// the object with that id, which may be declared anywhere, nested inside another
// entity included. IP entities are found wherever they are declared or referenced.
type entityWalk struct {
	ids       map[string]*node
	seen      map[*node]bool
	addrs     *addressSet
	resources *resourceSet
	found     bool // an IP entity with a readable address was seen
}

// readEntities adds the addresses of every IP entity, and the ARM ids entities name,
// and reports whether any IP entity gave an address.
func readEntities(entities *node, addrs *addressSet, res *resourceSet) bool {
	if entities == nil {
		return false
	}
	w := entityWalk{ids: map[string]*node{}, seen: map[*node]bool{}, addrs: addrs, resources: res}
	w.index(entities, 0)
	w.walk(entities)
	return w.found
}

// index maps every "$id" in the tree to its object; the first declaration wins. The
// tree is at most maxDepth deep: parseDocument saw to that.
func (w *entityWalk) index(n *node, depth int) {
	if n == nil || depth > maxDepth {
		return
	}
	if n.kind == kindObject {
		if id := n.text("$id"); id != "" {
			if _, dup := w.ids[id]; !dup {
				w.ids[id] = n
			}
		}
	}
	for _, c := range n.elems {
		w.index(c, depth+1)
	}
}

// resolve follows {"$ref": id} to its target, through chains of references. A
// reference to an unknown id, or a chain that loops, resolves to nil.
func (w *entityWalk) resolve(n *node) *node {
	for hops := 0; n != nil && n.kind == kindObject; hops++ {
		ref := n.text("$ref")
		if ref == "" {
			return n
		}
		if hops >= maxRefHops {
			return nil
		}
		n = w.ids[ref]
	}
	return n
}

// walk visits the entity graph breadth first, resolving references where they stand
// and visiting each object once: the alert's own list of entities in its order first,
// then what they nest, level by level. So the order of addresses is the order in which
// the alert lists its entities, cycles end, and no depth of nesting or chain of
// references costs more than one visit per object.
func (w *entityWalk) walk(root *node) {
	queue := []*node{root}
	for len(queue) > 0 {
		n := w.resolve(queue[0])
		queue = queue[1:]
		if n == nil || w.seen[n] {
			continue
		}
		w.seen[n] = true
		if n.kind == kindObject {
			w.entity(n)
		}
		for _, c := range n.elems {
			if c.kind == kindObject || c.kind == kindArray {
				queue = append(queue, c)
			}
		}
	}
}

// entity reads one object: an address if it is an IP entity, and any ARM id it names
// (azure-resource entities carry resourceId, hosts azureID).
func (w *entityWalk) entity(n *node) {
	if strings.EqualFold(n.text("type"), "ip") {
		// An IP entity that gives a value, refused or not, names the alert's attacker:
		// a refused one must not send the decoder guessing in free text instead.
		if readStrictAddress(n.field("address"), SourceEntity, w.addrs) {
			w.found = true
		}
	}
	w.resources.addARM(n.text("resourceId"))
	w.resources.addARM(n.text("azureID"))
	w.resources.addARM(n.text("azureResourceId"))
}

// readStrictAddress adds the address a structured field holds, or records why it is
// refused. It reports whether the field gave a value at all (absent and null do not).
func readStrictAddress(v *node, source string, addrs *addressSet) bool {
	if v == nil || v.kind == kindNull {
		return false
	}
	if v.kind != kindString {
		addrs.refuse(string(v.raw), source, fmt.Sprintf("a JSON %s, want an address in a string", v.kind))
		return true
	}
	a, reason := parseStrictAddress(v.str)
	if reason != "" {
		addrs.refuse(v.str, source, reason)
		return true
	}
	addrs.add(a, source)
	return true
}

// readEvidence adds the addresses of Graph ipEvidence items and the ids of
// azureResourceEvidence items. Graph evidence has no references to resolve.
func readEvidence(n *node, addrs *addressSet, res *resourceSet, depth int) {
	if n == nil || depth > maxDepth {
		return
	}
	if n.kind == kindObject {
		typ := strings.ToLower(n.text("@odata.type"))
		switch {
		case strings.HasSuffix(typ, "ipevidence"):
			readStrictAddress(n.field("ipAddress"), SourceEvidence, addrs)
		case strings.HasSuffix(typ, "azureresourceevidence"):
			res.addARM(n.text("resourceId"))
		}
	}
	for _, c := range n.elems {
		readEvidence(c, addrs, res, depth+1)
	}
}

// scanExtendedProperties looks for address literals in the values of
// extendedProperties, in document order: the fallback when no IP entity names the
// attacker (Defender for APIs puts it in "client IP address"). Values under keys
// that name a version are skipped: "1.0.0.0" there is no host.
func scanExtendedProperties(n *node, addrs *addressSet, depth int) {
	if n == nil || depth > maxDepth {
		return
	}
	switch n.kind {
	case kindString:
		scanAddresses(n.str, func(a netip.Addr) bool { return addrs.add(a, SourceExtendedProperties) })
	case kindArray:
		for _, c := range n.elems {
			scanExtendedProperties(c, addrs, depth+1)
		}
	case kindObject:
		for i, c := range n.elems {
			if strings.Contains(strings.ToLower(n.keys[i]), "version") {
				continue
			}
			scanExtendedProperties(c, addrs, depth+1)
		}
	}
}
