package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/citusgen/citusgen/diagnosis"
	"github.com/citusgen/citusgen/live"
	"github.com/citusgen/citusgen/plan"
)

type planCmd struct {
	specFlag
	connFlags
	JSON    bool          `name:"json" help:"Print the plan as JSON."`
	Timeout time.Duration `default:"30s" env:"CITUSGEN_TIMEOUT" help:"Bound on the whole run; must be more than 0."`
}

// Run lists what bootstrap (with --rebalance and --prune) would change;
// read-only. Exit 0 in sync, 1 with changes pending, 3 when part of the
// cluster could not be read.
func (c *planCmd) Run(e *env) error {
	if err := checkTimeout(e, c.Timeout, "--timeout", "CITUSGEN_TIMEOUT"); err != nil {
		return err
	}
	t, o, err := liveSpec(e, c.specFlag, c.connFlags)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(e.ctx, c.Timeout)
	defer cancel()
	cl, err := live.Read(ctx, t, live.Options{Cluster: o, Reshape: true, Health: true})
	if e.ctx.Err() != nil {
		return errors.New("plan stopped before its reading was complete; it changes nothing, so nothing is left running")
	}
	if err != nil {
		return badInput{err}
	}
	p := plan.Make(cl)
	redact := func(s string) string { return o.Redact(t, s) }
	for _, n := range p.Notes {
		fmt.Fprintf(e.stderr, "citusgen: note: %s\n", oneLine(redact(n)))
	}
	if c.JSON {
		type problem struct {
			Node   string `json:"node"`
			Detail string `json:"detail"`
			Hint   string `json:"hint,omitempty"`
		}
		var probs []problem
		for _, u := range p.Unread {
			probs = append(probs, problem{u.Node, redact(u.Detail), redact(u.Hint)})
		}
		changes := p.Changes
		if changes == nil {
			changes = []diagnosis.Change{}
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(map[string]any{"in_sync": p.InSync(), "complete": p.Complete(), "unread": probs, "changes": changes, "summary": p.Summary()}); err != nil {
			return err
		}
	} else {
		if len(p.Changes) > 0 {
			tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ACTION\tNODE\tDETAIL")
			for _, a := range p.Changes {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", a.Kind, a.Node, oneLine(redact(a.Detail)))
			}
			tw.Flush()
		}
		if p.Complete() {
			fmt.Fprintln(e.stdout, p.Summary())
		}
	}
	switch p.ExitStatus() {
	case plan.Incomplete:
		return couldNotRead{problems: p.Unread, redact: redact, what: "plan is incomplete"}
	case plan.Pending:
		return errShown
	}
	return nil
}
