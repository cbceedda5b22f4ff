package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/citusgen/citusgen/internal/english"
	"github.com/citusgen/citusgen/live"
	"github.com/citusgen/citusgen/livediff"
)

type planCmd struct {
	specFlag
	connFlags
	JSON    bool          `name:"json" help:"Print the plan as JSON."`
	Timeout time.Duration `default:"30s" env:"CITUSGEN_TIMEOUT" help:"Bound on the whole run."`
}

// Run lists what bootstrap (with --rebalance and --prune) would change;
// read-only. Exit 0 in sync, 1 with changes pending, 3 when part of the
// cluster could not be read.
func (c *planCmd) Run(e *env) error {
	t, o, err := liveSpec(e, c.specFlag, c.connFlags)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.Timeout)
	defer cancel()
	cl, err := live.Read(ctx, t, live.Options{Cluster: o, Reshape: true, Health: true})
	if err != nil {
		return badInput{err}
	}
	changes := livediff.Diff(cl)
	unread := cl.Unread()
	// Unknown balance is incomplete only when nothing else explains it.
	if p := cl.ReshapeProblem(); p != nil {
		if len(changes) == 0 {
			unread = append(unread, *p)
		} else {
			fmt.Fprintf(e.stderr, "citusgen: note: %s\n", oneLine(o.Redact(t, p.Detail)))
		}
	}
	redact := func(s string) string { return o.Redact(t, s) }
	if c.JSON {
		type problem struct {
			Node   string `json:"node"`
			Detail string `json:"detail"`
			Hint   string `json:"hint,omitempty"`
		}
		var probs []problem
		for _, p := range unread {
			probs = append(probs, problem{p.Node, redact(p.Detail), redact(p.Hint)})
		}
		if changes == nil {
			changes = []livediff.Change{}
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(map[string]any{"in_sync": len(changes) == 0 && len(unread) == 0, "complete": len(unread) == 0, "unread": probs, "changes": changes}); err != nil {
			return err
		}
	} else {
		if len(changes) > 0 {
			tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ACTION\tNODE\tDETAIL")
			for _, a := range changes {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", a.Kind, a.Node, oneLine(redact(a.Detail)))
			}
			tw.Flush()
		}
		switch {
		case len(unread) > 0:
		case len(changes) == 0:
			fmt.Fprintln(e.stdout, "in sync: the cluster matches the topology")
		default:
			fmt.Fprintln(e.stdout, pendingLine(changes))
		}
	}
	if len(unread) > 0 {
		return couldNotRead{problems: unread, redact: redact, what: "plan is incomplete"}
	}
	if len(changes) > 0 {
		return errShown
	}
	return nil
}

// pendingLine sums up a plan: how many changes, and what applies them.
func pendingLine(changes []livediff.Change) string {
	all := int64(len(changes))
	counts := map[string]int64{}
	for _, ch := range changes {
		counts[ch.Needs]++
	}
	// who names a share of the changes as the subject of "need(s)".
	who := func(n int64) string {
		switch {
		case n == all && n == 1:
			return "it needs"
		case n == all:
			return "they need"
		case n == 1:
			return "1 needs"
		}
		return strconv.FormatInt(n, 10) + " need"
	}
	var parts []string
	if n := counts[livediff.ByBootstrap]; n > 0 {
		them := strconv.FormatInt(n, 10)
		if n == all {
			them = map[bool]string{true: "it", false: "them"}[n == 1]
		}
		parts = append(parts, "citusgen bootstrap applies "+them)
	}
	for _, f := range []string{livediff.ByPrune, livediff.ByRebalance} {
		if n := counts[f]; n > 0 {
			parts = append(parts, who(n)+" bootstrap "+f)
		}
	}
	if n := counts[livediff.ByHand]; n > 0 {
		parts = append(parts, who(n)+" a person (the detail says what to do)")
	}
	return english.Plural(all, "change") + " pending: " + strings.Join(parts, "; ")
}
