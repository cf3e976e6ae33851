package main

// The client's commands: each registers its flags and returns what runs it
// (cli.go has the plumbing).

import (
	"errors"
	"flag"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/apiguard/apiguard/shared/flow"
	"github.com/apiguard/apiguard/shared/vocab"
)

// ---- blocks ----

var blocksList = subcommand{
	synopsis: "[--action A] [--target T] [--source S] [--mode M] [--all]",
	flags: func(fl *flag.FlagSet) func(*client, []string) error {
		action := fl.String("action", "", fmt.Sprintf("only this action: %v", vocab.EnforcingActions()))
		target := fl.String("target", "", "only this address, CIDR or identity")
		source := fl.String("source", "", `only blocks of this incident id, or "operator" for operators' blocks`)
		mode := fl.String("mode", "", fmt.Sprintf("only blocks in this mode: %v", vocab.Modes()))
		lf := addListFlags(fl)
		return func(c *client, _ []string) error {
			if err := errors.Join(oneOf("action", *action, vocab.EnforcingActions()), oneOf("mode", *mode, vocab.Modes())); err != nil {
				return err
			}
			q := url.Values{}
			setIf(q, "action", *action)
			setIf(q, "target", *target)
			setIf(q, "source", *source)
			setIf(q, "mode", *mode)
			return listed(c, lf, "/blocks", q, "blocks",
				[]string{"ID", "KIND", "MODE", "EXPIRES", "OFFENCES", "SOURCE", "REASON"},
				func(b flow.Block) []string {
					return []string{b.ID, string(b.Kind), string(b.Mode), c.until(b.Expires), strconv.Itoa(b.Offences), b.Source, cut(b.Reason, 60)}
				})
		}
	},
}

// blockLine says where a block stands after a change.
func (c *client) blockLine(verb string, b flow.Block) string {
	return fmt.Sprintf("%s %s: expires %s, mode %s", verb, b.ID, c.until(b.Expires), b.Mode)
}

var blocksAdd = subcommand{
	synopsis: "TARGET --action A --duration D --reason R [--kind subscription|user]",
	args:     1,
	flags: func(fl *flag.FlagSet) func(*client, []string) error {
		action := fl.String("action", "", fmt.Sprintf("what to do: %v", vocab.EnforcingActions()))
		duration := fl.String("duration", "", "how long, e.g. 30m, 4h, 7d (at most APIGUARD_MAX_DURATION)")
		reason := fl.String("reason", "", "why: kept with the block and in the audit")
		kind := fl.String("kind", "", "subscription or user for an identity (throttle only); an address or CIDR needs none")
		return func(c *client, args []string) error {
			if *action == "" || *duration == "" || strings.TrimSpace(*reason) == "" {
				return usagef("--action, --duration and --reason are required")
			}
			kinds := []vocab.KeyType{vocab.KeySubscription, vocab.KeyUser, vocab.KeyIP, "cidr"}
			if err := errors.Join(oneOf("action", *action, vocab.EnforcingActions()), oneOf("kind", *kind, kinds)); err != nil {
				return err
			}
			req := flow.BlockRequest{Target: args[0], Kind: vocab.KeyType(*kind), Action: vocab.Action(*action), Duration: *duration, Reason: *reason}
			var b flow.Block
			raw, err := c.call(http.MethodPost, "/blocks", nil, req, &b)
			if err != nil {
				return err
			}
			return c.done(raw, c.blockLine("added", b))
		}
	},
}

// blockID reads a block's id: <action>:<target>, or the target with --action.
func blockID(arg, action string) (string, error) {
	if action != "" {
		if err := oneOf("action", action, vocab.EnforcingActions()); err != nil {
			return "", err
		}
		return flow.BlockID(vocab.Action(action), arg), nil
	}
	a, target, ok := strings.Cut(arg, ":")
	if !ok || target == "" || !slices.Contains(vocab.EnforcingActions(), vocab.Action(a)) {
		return "", usagef("%q is not a block id: give <action>:<target> (action one of %v), or --action A TARGET", arg, vocab.EnforcingActions())
	}
	return arg, nil
}

var blocksRemove = subcommand{
	synopsis: "ID | --action A TARGET",
	args:     1,
	flags: func(fl *flag.FlagSet) func(*client, []string) error {
		action := fl.String("action", "", "the block's action, when the argument is its target rather than its id")
		return func(c *client, args []string) error {
			id, err := blockID(args[0], *action)
			if err != nil {
				return err
			}
			var b flow.Block
			raw, err := c.call(http.MethodDelete, "/blocks/"+seg(id), nil, nil, &b)
			if err != nil {
				return err
			}
			return c.done(raw, "removed "+b.ID)
		}
	},
}

var blocksExtend = subcommand{
	synopsis: "ID --duration D",
	args:     1,
	flags: func(fl *flag.FlagSet) func(*client, []string) error {
		duration := fl.String("duration", "", "added to the expiry, e.g. 4h (the result at most APIGUARD_MAX_DURATION from now)")
		action := fl.String("action", "", "the block's action, when the argument is its target rather than its id")
		return func(c *client, args []string) error {
			if *duration == "" {
				return usagef("--duration is required")
			}
			id, err := blockID(args[0], *action)
			if err != nil {
				return err
			}
			var b flow.Block
			raw, err := c.call(http.MethodPost, "/blocks/"+seg(id)+"/extend", nil, flow.ExtendRequest{Duration: *duration}, &b)
			if err != nil {
				return err
			}
			return c.done(raw, c.blockLine("extended", b))
		}
	},
}

// ---- decisions ----

var decisionsList = subcommand{
	synopsis: "[--status S] [--since T] [--until T] [--all]",
	flags: func(fl *flag.FlagSet) func(*client, []string) error {
		status := fl.String("status", "", fmt.Sprintf("only decisions in this status: %v", vocab.Statuses()))
		rf := addRangeFlags(fl, "7d")
		lf := addListFlags(fl)
		return func(c *client, _ []string) error {
			q := url.Values{}
			if err := errors.Join(oneOf("status", *status, vocab.Statuses()), rf.query(c, q)); err != nil {
				return err
			}
			setIf(q, "status", *status)
			return listed(c, lf, "/decisions", q, "decisions",
				[]string{"ID", "STATUS", "ACTION", "TARGET", "DURATION", "SEVERITY", "ALERT", "UPDATED", "REASON"},
				func(d flow.Decision) []string {
					target := d.Address
					if target == "" && d.Target != nil {
						target = d.Target.Value
					}
					return []string{d.ID, string(d.Status), string(d.Action), target, d.Duration, string(d.Severity), d.AlertType, c.ago(d.Updated), cut(d.Reason, 60)}
				})
		}
	},
}

// decisionAnswer is approve, reject or revert: a POST to /decisions/{id}/<verb>.
func decisionAnswer(verb string) subcommand {
	sc := subcommand{synopsis: "ID", args: 1}
	switch verb {
	case "reject":
		sc.synopsis = "ID [--reason R]"
	case "revert":
		sc.synopsis = "ID [--allow 24h] [--reason R]"
	}
	sc.flags = func(fl *flag.FlagSet) func(*client, []string) error {
		var reason, allow *string
		if verb != "approve" {
			reason = fl.String("reason", "", "why, kept in the audit")
		}
		if verb == "revert" {
			allow = fl.String("allow", "", "also allow-list the target for this long (e.g. 24h), so the same false positive does not come straight back")
		}
		return func(c *client, args []string) error {
			var body any
			switch verb {
			case "reject":
				body = flow.RejectRequest{Reason: *reason}
			case "revert":
				body = flow.RevertRequest{Allow: *allow, Reason: *reason}
			}
			var d flow.Decision
			raw, err := c.call(http.MethodPost, "/decisions/"+seg(args[0])+"/"+verb, nil, body, &d)
			if err != nil {
				return err
			}
			return c.done(raw, fmt.Sprintf("decision %s is %s", d.ID, d.Status))
		}
	}
	return sc
}

// ---- allow-list ----

var allowList = subcommand{
	synopsis: "[--all]",
	flags: func(fl *flag.FlagSet) func(*client, []string) error {
		lf := addListFlags(fl)
		return func(c *client, _ []string) error {
			return listed(c, lf, "/allowlist", url.Values{}, "allow-list entries",
				[]string{"PREFIX", "EXPIRES", "ACTOR", "CREATED", "REASON"},
				func(e flow.AllowEntry) []string {
					return []string{e.Prefix, c.until(e.Expires), e.Actor, stamp(e.Created), cut(e.Reason, 60)}
				})
		}
	},
}

var allowAdd = subcommand{
	synopsis: "TARGET --reason R [--duration D]",
	args:     1,
	flags: func(fl *flag.FlagSet) func(*client, []string) error {
		reason := fl.String("reason", "", "why: kept with the entry and in the audit")
		duration := fl.String("duration", "", "how long, e.g. 24h (default: until removed)")
		return func(c *client, args []string) error {
			if strings.TrimSpace(*reason) == "" {
				return usagef("--reason is required")
			}
			var e flow.AllowEntry
			raw, err := c.call(http.MethodPost, "/allowlist", nil, flow.AllowRequest{Target: args[0], Duration: *duration, Reason: *reason}, &e)
			if err != nil {
				return err
			}
			return c.done(raw, fmt.Sprintf("allow-listed %s: expires %s (blocks it covers are reverted)", e.Prefix, c.until(e.Expires)))
		}
	},
}

var allowRemove = subcommand{
	synopsis: "PREFIX",
	args:     1,
	flags: func(fl *flag.FlagSet) func(*client, []string) error {
		return func(c *client, args []string) error {
			raw, err := c.call(http.MethodDelete, "/allowlist/"+seg(args[0]), nil, nil, nil)
			if err != nil {
				return err
			}
			return c.done(raw, "removed "+args[0]+" from the allow-list")
		}
	},
}

// ---- audit and health ----

var auditList = subcommand{
	synopsis: "[--since T] [--until T] [--target T] [--all]",
	flags: func(fl *flag.FlagSet) func(*client, []string) error {
		rf := addRangeFlags(fl, "24h")
		target := fl.String("target", "", "only entries about this address, identity, incident or target")
		lf := addListFlags(fl)
		return func(c *client, _ []string) error {
			q := url.Values{}
			if err := rf.query(c, q); err != nil {
				return err
			}
			setIf(q, "target", *target)
			return listed(c, lf, "/audit", q, "audit entries",
				[]string{"TIME", "KIND", "SUBJECT", "ACTOR"},
				func(e flow.AuditEntry) []string { return []string{stamp(e.Time), e.Kind, e.Subject, e.Actor} })
		}
	},
}

var healthCheck = subcommand{
	flags: func(fl *flag.FlagSet) func(*client, []string) error {
		return func(c *client, _ []string) error {
			var h flow.Health
			raw, err := c.call(http.MethodGet, "/health", nil, nil, &h)
			if err != nil {
				return err
			}
			if c.json {
				err = c.printJSON(raw)
			} else {
				c.healthTable(h)
			}
			if err == nil && h.Status != "healthy" {
				return errUnhealthy
			}
			return err
		}
	},
}

func (c *client) healthTable(h flow.Health) {
	fmt.Fprintf(c.stdout, "%s (checked %s)\n", clean(h.Status), stamp(h.Checked))
	for _, cause := range h.Causes {
		fmt.Fprintf(c.stdout, "  cause: %s\n", clean(cause))
	}
	fmt.Fprintf(c.stdout, "pending approvals %d, set aside in 24h %d, notifications failed in 24h %d\n",
		h.PendingApprovals, h.SetAside24h, h.NotificationsFailed24h)
	for _, q := range slices.Sorted(maps.Keys(h.DeadLetters)) {
		fmt.Fprintf(c.stdout, "dead letters in %s: %d\n", clean(q), h.DeadLetters[q])
	}
	if len(h.Functions) > 0 {
		fmt.Fprintln(c.stdout)
		rows := make([][]string, 0, len(h.Functions))
		for _, f := range h.Functions {
			rows = append(rows, []string{f.Name, c.ago(f.LastSuccess), c.ago(f.LastFailure), strconv.FormatInt(f.Invocations, 10), cut(f.LastError, 80)})
		}
		c.table([]string{"FUNCTION", "LAST SUCCESS", "LAST FAILURE", "INVOCATIONS", "LAST ERROR"}, rows)
	}
	if len(h.Targets) > 0 {
		fmt.Fprintln(c.stdout)
		rows := make([][]string, 0, len(h.Targets))
		for _, t := range h.Targets {
			rows = append(rows, []string{t.Target, strconv.FormatBool(t.InSync), c.ago(t.LastReconcile), c.ago(t.DiffersSince), c.ago(t.LastFailure), cut(t.LastError, 80)})
		}
		c.table([]string{"TARGET", "IN SYNC", "LAST RECONCILE", "DIFFERS SINCE", "LAST FAILURE", "LAST ERROR"}, rows)
	}
}
