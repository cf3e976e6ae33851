package alert

import "strings"

// maxResources caps the resource ids kept from one alert, for the same reason as
// MaxAddresses.
const maxResources = 100

// resourceSet collects Azure resource ids in first-seen order. ARM ids are
// case-insensitive, so duplicates are found by lower case and the first spelling kept.
type resourceSet struct {
	list []string
	seen map[string]struct{}
}

// addARM records s if it is an ARM resource id.
func (r *resourceSet) addARM(s string) {
	s = strings.TrimRight(strings.TrimSpace(s), "/")
	if !isARMID(s) || len(r.list) >= maxResources {
		return
	}
	key := strings.ToLower(s)
	if r.seen == nil {
		r.seen = make(map[string]struct{})
	}
	if _, dup := r.seen[key]; dup {
		return
	}
	r.seen[key] = struct{}{}
	r.list = append(r.list, s)
}

// apim returns the ids under Microsoft.ApiManagement: the services, APIs and
// operations an endpoint-level response (throttling an API) can act on.
func (r *resourceSet) apim() []string {
	var out []string
	for _, id := range r.list {
		if strings.Contains(strings.ToLower(id), "/providers/microsoft.apimanagement/") {
			out = append(out, id)
		}
	}
	return out
}

// isARMID reports whether s looks like an Azure Resource Manager id: it starts with
// /subscriptions/<id> and holds nothing that cannot be in a resource path.
func isARMID(s string) bool {
	const prefix = "/subscriptions/"
	if len(s) <= len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return false
	}
	if s[len(prefix)] == '/' {
		return false
	}
	return !strings.ContainsAny(s, " \t\r\n\"<>")
}

// scanExtendedResources adds extendedProperties values that are ARM ids, in document
// order (Defender for APIs names the API or operation there).
func scanExtendedResources(n *node, r *resourceSet, depth int) {
	if n == nil || depth > maxDepth {
		return
	}
	switch n.kind {
	case kindString:
		r.addARM(n.str)
	case kindArray, kindObject:
		for _, c := range n.elems {
			scanExtendedResources(c, r, depth+1)
		}
	}
}
