package waf

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// Wire shapes of an owned rule, fields in the order they are written. Application
// Gateway spells the negation flag "negationConditon" (sic).
type (
	appgwRule struct {
		Name            string       `json:"name"`
		Priority        int          `json:"priority"`
		RuleType        string       `json:"ruleType"`
		State           string       `json:"state"`
		Action          string       `json:"action"`
		MatchConditions []appgwMatch `json:"matchConditions"`
	}
	appgwMatch struct {
		MatchVariables   []appgwVariable `json:"matchVariables"`
		Operator         string          `json:"operator"`
		NegationConditon bool            `json:"negationConditon"`
		MatchValues      []string        `json:"matchValues"`
		Transforms       []string        `json:"transforms"`
	}
	appgwVariable struct {
		VariableName string  `json:"variableName"`
		Selector     *string `json:"selector,omitempty"`
	}

	frontDoorRule struct {
		Name            string           `json:"name"`
		Priority        int              `json:"priority"`
		EnabledState    string           `json:"enabledState"`
		RuleType        string           `json:"ruleType"`
		Action          string           `json:"action"`
		MatchConditions []frontDoorMatch `json:"matchConditions"`
	}
	frontDoorMatch struct {
		MatchVariable   string   `json:"matchVariable"`
		Selector        *string  `json:"selector,omitempty"`
		Operator        string   `json:"operator"`
		NegateCondition bool     `json:"negateCondition"`
		MatchValue      []string `json:"matchValue"`
		Transforms      []string `json:"transforms,omitempty"`
	}
)

// encodeRule writes an owned rule in the document's wire shape.
func (d *Document) encodeRule(r Rule) ([]byte, error) {
	values := r.Values
	if values == nil {
		values = []string{}
	}
	var v any
	if d.kind == AppGW {
		v = appgwRule{
			Name: r.Name, Priority: r.Priority, RuleType: "MatchRule", State: "Enabled", Action: r.Action,
			MatchConditions: []appgwMatch{{
				MatchVariables: []appgwVariable{{VariableName: r.MatchVariable}},
				Operator:       "IPMatch", MatchValues: values, Transforms: []string{},
			}},
		}
	} else {
		v = frontDoorRule{
			Name: r.Name, Priority: r.Priority, EnabledState: "Enabled", RuleType: "MatchRule", Action: r.Action,
			MatchConditions: []frontDoorMatch{{MatchVariable: r.MatchVariable, Operator: "IPMatch", MatchValue: values}},
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// readRule reads an owned rule into canonical form, noting everything apiguard would
// not have written. Fields it does not know (a read-only etag, say) are ignored: they
// do not change what the rule blocks.
func (d *Document) readRule(e *element) Rule {
	r := Rule{Name: e.name, Priority: e.priority}
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if !e.hasPriority {
		bad("priority is not an integer")
	}
	var values []string
	if d.kind == AppGW {
		var w appgwRule
		if err := json.Unmarshal(e.raw, &w); err != nil {
			bad("unreadable: %v", err)
		}
		r.Action = w.Action
		if w.RuleType != "MatchRule" {
			bad("ruleType %q", w.RuleType)
		}
		if w.State != "" && w.State != "Enabled" {
			bad("state %q", w.State)
		}
		if len(w.MatchConditions) != 1 {
			bad("%d match conditions", len(w.MatchConditions))
		}
		if len(w.MatchConditions) > 0 {
			c := w.MatchConditions[0]
			if len(c.MatchVariables) != 1 {
				bad("%d match variables", len(c.MatchVariables))
			}
			if len(c.MatchVariables) > 0 {
				r.MatchVariable = c.MatchVariables[0].VariableName
				if s := c.MatchVariables[0].Selector; s != nil && *s != "" {
					bad("selector %q", *s)
				}
			}
			checkMatch(bad, c.Operator, c.NegationConditon, c.Transforms)
			values = c.MatchValues
		}
	} else {
		var w frontDoorRule
		if err := json.Unmarshal(e.raw, &w); err != nil {
			bad("unreadable: %v", err)
		}
		r.Action = w.Action
		if w.RuleType != "MatchRule" {
			bad("ruleType %q", w.RuleType)
		}
		if w.EnabledState != "" && w.EnabledState != "Enabled" {
			bad("enabledState %q", w.EnabledState)
		}
		if len(w.MatchConditions) != 1 {
			bad("%d match conditions", len(w.MatchConditions))
		}
		if len(w.MatchConditions) > 0 {
			c := w.MatchConditions[0]
			r.MatchVariable = c.MatchVariable
			if c.Selector != nil && *c.Selector != "" {
				bad("selector %q", *c.Selector)
			}
			checkMatch(bad, c.Operator, c.NegateCondition, c.Transforms)
			values = c.MatchValue
		}
	}
	var notAddr []string
	r.Values, notAddr = canonicalValues(values)
	if len(notAddr) > 0 {
		bad("values that are not addresses: %s", strings.Join(notAddr, ", "))
	}
	if len(values) == 0 {
		bad("no values")
	}
	r.Malformed = strings.Join(problems, "; ")
	return r
}

func checkMatch(bad func(string, ...any), operator string, negate bool, transforms []string) {
	if operator != "IPMatch" {
		bad("operator %q", operator)
	}
	if negate {
		bad("negated condition")
	}
	if len(transforms) > 0 {
		bad("transforms %v", transforms)
	}
}
